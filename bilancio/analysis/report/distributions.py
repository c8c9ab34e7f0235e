"""The distribution of the trading effect within each cell: one box per cell, every pair a
point."""

from __future__ import annotations

from typing import Any

from bilancio.analysis.report.common import EFFECT_LABEL, Grid, assignment, base_layout

NAME = "distributions"
TITLE = "Distribution of the trading effect within each cell"


def caption(grid: Grid) -> str:
    return (
        "One box per cell (median, quartiles, whiskers to 1.5 IQR), each of its pairs a point: "
        "how the effect varies across seeds."
    )


def figure(grid: Grid) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for cell in grid.cells:
        effects = grid.effects(cell)
        if not effects:
            continue
        name = assignment(cell, grid.swept) or "all pairs"
        fig.add_trace(
            go.Box(
                y=effects,
                name=name,
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"size": 4, "color": "#1f77b4"},
                line={"color": "#1f77b4"},
                showlegend=False,
                hovertemplate=f"{name}<br>effect %{{y:.4f}}<extra></extra>",
            )
        )
    fig.add_hline(y=0, line={"color": "#888", "width": 1, "dash": "dot"})
    fig.update_layout(**base_layout(TITLE, height=460))
    fig.update_yaxes(title_text=EFFECT_LABEL)
    fig.update_xaxes(tickangle=-40 if len(grid.cells) > 6 else 0)
    return fig
