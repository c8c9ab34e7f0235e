"""A frontier job's answers: κ* of each regime (the smallest value where the metric is at most
the target) and the liquidity saved κ*_passive − κ*_active, with 95% t-intervals across seeds,
against the most-swept other parameter (one colour per value of the next)."""

from __future__ import annotations

from typing import Any

from bilancio.analysis.report.common import Grid, base_layout, label, value_text

NAME = "frontier"
TITLE = "Liquidity frontier and liquidity saved"
COLOURS = {"passive": "#d62728", "active": "#1f77b4"}


def _found(grid: Grid) -> dict[str, Any] | None:
    found = (grid.summary or {}).get("frontier")
    return found if found and found.get("groups") else None


def caption(grid: Grid) -> str:
    found = _found(grid) or {"settings": {}, "resolution": 0}
    s = found["settings"]
    p = label(s.get("param", "kappa"))
    return (
        f"Left: {p}*, the smallest {p} in [{s.get('low')}, {s.get('high')}] where "
        f"{s.get('metric')} ≤ {s.get('target')}, passive (red) and active (blue), mean over the "
        f"seeds with 95% t-intervals (bisection to ±{found['resolution']:.3g}). Right: the "
        f"liquidity saved {p}*_passive − {p}*_active, over the seeds where both reached the "
        "target. Each point is labelled with how many of its seeds reached the target inside "
        "the range (the others: not reached, or already at low); none: no point."
    )


def _interval(found: dict[str, Any]) -> tuple[list[float], list[float]]:
    if found["ci95_low"] is None:
        return [0.0], [0.0]
    return [found["ci95_high"] - found["mean"]], [found["mean"] - found["ci95_low"]]


def figure(grid: Grid) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    found = _found(grid)
    if found is None:
        return None
    groups = found["groups"]
    keys = list(dict.fromkeys(k for g in groups for k in g["values"]))
    counts = {k: len({repr(g["values"].get(k)) for g in groups}) for k in keys}
    keys.sort(key=lambda k: -counts[k])
    x_key = keys[0] if keys else None
    colour_key = keys[1] if len(keys) > 1 else None
    param = label(found["settings"]["param"])
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=[f"{param}* by regime", f"{param} saved by the market"],
        horizontal_spacing=0.1,
    )  # fmt: skip

    def series() -> list[tuple[Any, list[dict[str, Any]]]]:
        if colour_key is None:
            return [(None, groups)]
        values = sorted({g["values"].get(colour_key) for g in groups}, key=repr)
        return [(v, [g for g in groups if g["values"].get(colour_key) == v]) for v in values]

    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    for k, (value, members) in enumerate(series()):
        members = sorted(members, key=lambda g: g["values"].get(x_key) if x_key else 0)
        xs = [g["values"].get(x_key) if x_key else "all" for g in members]
        suffix = f", {label(colour_key)} = {value_text(value)}" if colour_key else ""
        for regime in ("passive", "active"):
            shown = [(x, g[regime], g) for x, g in zip(xs, members, strict=True)]
            shown = [(x, r, g) for x, r, g in shown if r["mean"] is not None]
            upper = [_interval(r)[0][0] for _, r, _ in shown]
            lower = [_interval(r)[1][0] for _, r, _ in shown]
            fig.add_trace(
                go.Scatter(
                    x=[x for x, _, _ in shown],
                    y=[r["mean"] for _, r, _ in shown],
                    mode="lines+markers+text",
                    text=[f"{r['n']}/{g['seeds']}" for _, r, g in shown],  # seeds reached
                    textposition="top center",
                    name=f"{param}* {regime}{suffix}",
                    line={"color": COLOURS[regime], "dash": dashes[k % len(dashes)]},
                    error_y={"type": "data", "array": upper, "arrayminus": lower, "width": 4},
                    hovertext=[_hover(r, g, regime) for _, r, g in shown],
                    hoverinfo="text",
                ),
                row=1,
                col=1,
            )
        saved = [(x, g) for x, g in zip(xs, members, strict=True) if g["saved"]["mean"] is not None]
        fig.add_trace(
            go.Scatter(
                x=[x for x, _ in saved],
                y=[g["saved"]["mean"] for _, g in saved],
                mode="lines+markers",
                name=f"saved{suffix}",
                line={"color": "#2ca02c", "dash": dashes[k % len(dashes)]},
                error_y={
                    "type": "data",
                    "array": [_interval(g["saved"])[0][0] for _, g in saved],
                    "arrayminus": [_interval(g["saved"])[1][0] for _, g in saved],
                    "width": 4,
                },
                hovertext=[
                    f"saved = {g['saved']['mean']:.3f} over {g['saved']['n']} of {g['seeds']} seeds"
                    for _, g in saved
                ],
                hoverinfo="text",
            ),
            row=1,
            col=2,
        )
    fig.add_hline(y=0, line={"color": "#888", "width": 1, "dash": "dot"}, row=1, col=2)
    fig.update_layout(**base_layout(TITLE, height=440))
    fig.update_xaxes(title_text=label(x_key) if x_key else "")
    fig.update_yaxes(title_text=f"{param}*", col=1)
    fig.update_yaxes(title_text=f"{param}*_passive − {param}*_active", col=2)
    return fig


def _hover(regime: dict[str, Any], group: dict[str, Any], name: str) -> str:
    lines = [f"{name}: {regime['mean']:.3f} over {regime['n']} of {group['seeds']} seeds"]
    if regime["not_reached"]:
        lines.append(f"not reached: {regime['not_reached']}")
    if regime["at_low"]:
        lines.append(f"at low: {regime['at_low']}")
    return "<br>".join(lines)
