"""The trading effect against the most-swept parameter, with 95% CI error bars, one panel per
combination of the other swept parameters (or coloured by the second when that makes too many
panels)."""

from __future__ import annotations

from typing import Any

from bilancio.analysis.report.common import (
    EFFECT_LABEL,
    MAX_PANELS,
    Grid,
    base_layout,
    hover,
    label,
    layout_grid,
    panels,
    value_text,
)

NAME = "effect"
TITLE = "Trading effect by cell, with 95% confidence intervals"


def caption(grid: Grid) -> str:
    x = label(grid.swept[0]) if grid.swept else "the cell"
    return (
        f"Mean trading effect over each cell's seeds against {x}; bars are 95% t-intervals "
        "(none where a cell has one pair). Above 0: the market reduced defaults."
    )


def figure(grid: Grid) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    x_param = grid.swept[0] if grid.swept else None
    rest = grid.swept[1:]
    colour: str | None = None
    if len(panels(grid, rest)) > MAX_PANELS and rest:
        colour, rest = rest[0], rest[1:]
    groups = panels(grid, rest)
    rows, cols = layout_grid(len(groups))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[t for t, _ in groups] if rest else None,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        vertical_spacing=0.12 if rows > 1 else 0.1,
    )
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
    shown: set[str] = set()
    for i, (_, cells) in enumerate(groups):
        row, col = i // cols + 1, i % cols + 1
        series = [(None, cells)]
        if colour:
            series = [
                (v, [c for c in cells if c["flat"][colour] == v]) for v in grid.values(colour)
            ]
        for k, (value, mine) in enumerate(series):
            mine = [c for c in mine if c.get("mean_effect") is not None]
            if not mine:
                continue
            mine.sort(key=lambda c: c["flat"][x_param] if x_param else 0)
            means = [float(c["mean_effect"]) for c in mine]
            upper = [
                float(c["ci95_high"]) - m if c.get("ci95_high") is not None else 0
                for c, m in zip(mine, means, strict=True)
            ]
            lower = [
                m - float(c["ci95_low"]) if c.get("ci95_low") is not None else 0
                for c, m in zip(mine, means, strict=True)
            ]
            name = f"{label(colour)} = {value_text(value)}" if colour else "mean effect"
            fig.add_trace(
                go.Scatter(
                    x=[c["flat"][x_param] if x_param else "all" for c in mine],
                    y=means,
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=bool(colour) and name not in shown,
                    line={"color": palette[k % len(palette)]},
                    error_y={"type": "data", "array": upper, "arrayminus": lower, "width": 4},
                    hovertext=[hover(c, grid.swept) for c in mine],
                    hoverinfo="text",
                ),
                row=row,
                col=col,
            )
            shown.add(name)
        fig.add_hline(y=0, line={"color": "#888", "width": 1, "dash": "dot"}, row=row, col=col)
    fig.update_layout(**base_layout(TITLE, height=max(380, 300 * rows)))
    fig.update_xaxes(title_text=label(x_param) if x_param else "", row=rows)
    fig.update_yaxes(title_text=EFFECT_LABEL, col=1)
    if x_param and all(isinstance(v, int | float) for v in grid.values(x_param)):
        values = [v for v in grid.values(x_param) if v]
        if values and min(values) > 0 and max(values) / min(values) >= 8:
            # κ from 0.25 to 4: equal steps on a log scale, ticks at the swept values only
            fig.update_xaxes(type="log", tickvals=values, ticktext=[value_text(v) for v in values])
    return fig
