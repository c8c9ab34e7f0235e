"""A Saltelli job's Sobol' indices: first-order and total index of each parameter, with their
bootstrap intervals, one panel per output (trading effect, δ passive, δ active) and one row of
panels per combination of the other swept parameters."""

from __future__ import annotations

from typing import Any

from bilancio.analysis.report.common import Grid, base_layout

NAME = "sensitivity"
TITLE = "Global sensitivity: Sobol' indices"
MAX_GROUPS = 8  # rows of panels drawn; jobs sensitivity lists every group


def _found(grid: Grid) -> dict[str, Any] | None:
    found = (grid.summary or {}).get("sensitivity")
    return found if found and found.get("groups") else None


def caption(grid: Grid) -> str:
    found = _found(grid) or {}
    return (
        "First-order (S1: the share of the output's variance a parameter explains alone) and "
        "total (ST: with all its interactions) Sobol' indices from SALib, with "
        f"{found.get('conf_level', 0.95):.0%} bootstrap intervals, over a Saltelli sample of "
        f"N = {found.get('samples')} ({found.get('points')} points). Outputs are averaged over "
        "each point's seeds. A parameter with both near 0 does not matter over its range. The "
        "axis shows −0.25 to 1.25: an interval running off it is an index the sample does not "
        "resolve (a larger hydra.sweeper.samples narrows it)."
    )


def figure(grid: Grid) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from bilancio.analysis.sensitivity import METRICS

    found = _found(grid)
    if found is None:
        return None
    groups = [g for g in found["groups"] if g.get("metrics")][:MAX_GROUPS]
    if not groups:
        return None
    names = [p["name"] for p in found["parameters"]]
    titles = []
    for g in groups:
        where = ", ".join(f"{k}={v}" for k, v in g["values"].items())
        titles += [f"{label}{' · ' + where if where else ''}" for label in METRICS.values()]
    fig = make_subplots(
        rows=len(groups), cols=len(METRICS), subplot_titles=titles, shared_yaxes=True,
        horizontal_spacing=0.05, vertical_spacing=0.12 if len(groups) > 1 else 0.1,
    )  # fmt: skip
    colours = {"S1": "#1f77b4", "ST": "#d62728"}
    for r, g in enumerate(groups, start=1):
        for c, metric in enumerate(METRICS, start=1):
            got = (g["metrics"].get(metric) or {}).get("indices")
            if not got:
                note = (g["metrics"].get(metric) or {}).get("note", "not computed")
                fig.add_annotation(
                    text=note[:60], showarrow=False, row=r, col=c, x=0.5, y=0.5,
                    xref="x domain", yref="y domain",
                )  # fmt: skip
                continue
            for kind in ("S1", "ST"):
                values = [got[n][kind] for n in names]
                conf = [got[n][f"{kind}_conf"] or 0 for n in names]
                fig.add_trace(
                    go.Bar(
                        x=names,
                        y=values,
                        name="S1 (first order)" if kind == "S1" else "ST (total)",
                        legendgroup=kind,
                        showlegend=r == 1 and c == 1,
                        marker={"color": colours[kind]},
                        error_y={"type": "data", "array": conf, "width": 4},
                        customdata=conf,
                        hovertemplate=f"%{{x}}<br>{kind} = %{{y:.3f}} ± %{{customdata:.3f}}"
                        "<extra></extra>",
                    ),
                    row=r,
                    col=c,
                )
    fig.update_layout(**base_layout(TITLE, height=max(380, 300 * len(groups))), barmode="group")
    fig.update_yaxes(range=[-0.25, 1.25])  # indices are shares of variance: 0 to 1
    fig.update_yaxes(title_text="Sobol' index", col=1)
    return fig
