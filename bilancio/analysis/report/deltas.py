"""δ passive against δ active: each cell's means with their 95% CIs, coloured by a swept
parameter (with a legend); below the diagonal, trading lowered δ."""

from __future__ import annotations

import statistics
from typing import Any

from bilancio.analysis.report.common import (
    Grid,
    base_layout,
    hover,
    label,
    t_interval,
    value_text,
)

NAME = "deltas"
TITLE = "δ passive against δ active, by cell"


def caption(grid: Grid) -> str:
    by = label(grid.swept[0]) if grid.swept else "cell"
    return (
        f"Each point is a cell's mean δ in the two regimes, coloured by {by}; the bars are the "
        "95% t-intervals of each mean. Points below the diagonal: the market lowered the "
        "default rate."
    )


def figure(grid: Grid) -> Any:
    import plotly.graph_objects as go

    colour = grid.swept[0] if grid.swept else None
    fig = go.Figure()
    values = grid.values(colour) if colour else [None]
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
    for k, value in enumerate(values):
        mine = [c for c in grid.cells if colour is None or c["flat"][colour] == value]
        xs, ys, ex, exm, ey, eym, tips = [], [], [], [], [], [], []
        for cell in mine:
            passive = grid.regime_deltas(cell, "passive")
            active = grid.regime_deltas(cell, "active")
            if not passive or not active:
                continue
            mp, ma = statistics.fmean(passive), statistics.fmean(active)
            (lp, hp), (la, ha) = t_interval(passive), t_interval(active)
            xs.append(mp)
            ys.append(ma)
            ex.append(0 if hp is None else hp - mp)
            exm.append(0 if lp is None else mp - lp)
            ey.append(0 if ha is None else ha - ma)
            eym.append(0 if la is None else ma - la)
            tips.append(hover(cell, grid.swept) + f"<br>δ passive {mp:.4f}, active {ma:.4f}")
        if not xs:
            continue
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=f"{label(colour)} = {value_text(value)}" if colour else "cells",
                marker={"size": 9, "color": palette[k % len(palette)]},
                error_x={"type": "data", "array": ex, "arrayminus": exm, "width": 0},
                error_y={"type": "data", "array": ey, "arrayminus": eym, "width": 0},
                hovertext=tips,
                hoverinfo="text",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"color": "#888", "dash": "dot", "width": 1},
            name="δ active = δ passive",
            hoverinfo="skip",
        )
    )
    fig.update_layout(**base_layout(TITLE, height=520), legend={"title": {"text": ""}})
    fig.update_xaxes(title_text="mean δ passive", range=[0, 1.02], constrain="domain")
    fig.update_yaxes(
        title_text="mean δ active", range=[0, 1.02], scaleanchor="x", constrain="domain"
    )
    return fig
