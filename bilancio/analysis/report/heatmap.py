"""Heatmaps of the mean trading effect over the two most-swept parameters, each cell's mean
written in it, one symmetric colour scale set from the cell means; every other swept parameter
becomes panels (never a silent average)."""

from __future__ import annotations

from typing import Any

from bilancio.analysis.report.common import (
    Grid,
    base_layout,
    hover,
    label,
    layout_grid,
    panels,
    value_text,
)

NAME = "heatmap"
TITLE = "Mean trading effect over the two most-swept parameters"


def caption(grid: Grid) -> str:
    x, y = (label(p) for p in grid.swept[:2])
    return (
        f"Each square is one cell ({x} across, {y} up): the mean effect over its seeds, written "
        "in it. The colour scale is symmetric about 0 and spans the largest |mean|; blue: the "
        "market reduced defaults, red: it increased them."
    )


def figure(grid: Grid) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if len(grid.swept) < 2:
        return None
    x_param, y_param = grid.swept[:2]
    rest = grid.swept[2:]
    groups = panels(grid, rest)
    rows, cols = layout_grid(len(groups))
    xs, ys = grid.values(x_param), grid.values(y_param)
    means = [abs(float(c["mean_effect"])) for c in grid.cells if c.get("mean_effect") is not None]
    top = max(means, default=0.0) or 1e-9
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[t for t, _ in groups] if rest else None,
        horizontal_spacing=0.08,
        vertical_spacing=0.14 if rows > 1 else 0.1,
    )
    for i, (_, cells) in enumerate(groups):
        at = {(c["flat"][x_param], c["flat"][y_param]): c for c in cells}
        z, text, tips = [], [], []
        for y in ys:
            row_z, row_text, row_tips = [], [], []
            for x in xs:
                cell = at.get((x, y))
                mean = None if cell is None else cell.get("mean_effect")
                row_z.append(None if mean is None else float(mean))
                row_text.append("" if mean is None else f"{float(mean):.3f}")
                row_tips.append("no pairs" if cell is None else hover(cell, grid.swept))
            z.append(row_z)
            text.append(row_text)
            tips.append(row_tips)
        fig.add_trace(
            go.Heatmap(
                x=[value_text(v) for v in xs],
                y=[value_text(v) for v in ys],
                z=z,
                text=text,
                texttemplate="%{text}",
                hovertext=tips,
                hoverinfo="text",
                coloraxis="coloraxis",
                xgap=2,
                ygap=2,
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_layout(
        **base_layout(TITLE, height=max(380, 320 * rows)),
        coloraxis={
            "colorscale": "RdBu",
            "cmin": -top,
            "cmax": top,
            "cmid": 0,
            "colorbar": {"title": {"text": "mean effect"}},
        },
    )
    fig.update_xaxes(title_text=label(x_param), type="category", row=rows)
    fig.update_yaxes(title_text=label(y_param), type="category", col=1)
    return fig
