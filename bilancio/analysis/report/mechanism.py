"""The mechanism per cell: mean sells and buys, trades with the dealer and through to the VBT,
and the dealers' and VBTs' P&L (means over each cell's active runs)."""

from __future__ import annotations

from typing import Any

from bilancio.analysis.report.common import Grid, assignment, base_layout

NAME = "mechanism"
TITLE = "The mechanism: who traded, where, and at what cost"
ROWS = (
    ("trades per run", (("mean_n_sells", "sells"), ("mean_n_buys", "buys"))),
    (
        "trades per run",
        (("mean_n_interior", "with the dealer"), ("mean_n_passthrough", "through to the VBT")),
    ),
    ("P&L per run", (("mean_dealer_pnl", "dealers"), ("mean_vbt_pnl", "VBTs"))),
)


def caption(grid: Grid) -> str:
    return (
        "Means over each cell's active runs: sells and buys by traders; trades the dealer "
        "took itself and those it passed through to the VBT; the P&L of the dealers and of the "
        "VBTs (cash plus ρ × face held, end minus start)."
    )


def figure(grid: Grid) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = [assignment(c, grid.swept) or "all pairs" for c in grid.cells]
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=["sells and buys", "dealer and VBT trades", "dealer and VBT P&L"],
    )
    colours = ("#1f77b4", "#ff7f0e")
    for row, (axis, series) in enumerate(ROWS, start=1):
        for k, (column, name) in enumerate(series):
            fig.add_trace(
                go.Bar(
                    x=names,
                    y=[c.get(column) for c in grid.cells],
                    name=name,
                    marker={"color": colours[k]},
                    legendgroup=f"row{row}",
                    legendgrouptitle={"text": ["traders", "venue", "P&L"][row - 1]},
                    hovertemplate=f"%{{x}}<br>{name}: %{{y:.3f}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text=axis, row=row, col=1)
    fig.update_layout(**base_layout(TITLE, height=760), barmode="group")
    fig.update_xaxes(tickangle=-40 if len(names) > 6 else 0, row=3)
    return fig
