"""``bilancio report JOB_ID -o report.html``: one self-contained HTML page for a job.

The page holds the job's config and job_metrics and three plots (PNG, embedded): the trading
effect as a heatmap over the two most-swept parameters (one panel per value of a third), δ_passive
against δ_active, and δ against κ by μ. Plots need matplotlib (`pip install bilancio[report]`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import statistics
from collections import defaultdict
from typing import Any

from bilancio.extras import MissingExtra
from bilancio.report import export_rows, format_aggregate

PARAMETERS = ("kappa", "concentration", "mu", "outside_mid_ratio", "seed")
LABELS = {"kappa": "κ", "concentration": "c", "mu": "μ", "outside_mid_ratio": "ρ", "seed": "seed"}


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def swept(pairs: list[dict[str, Any]]) -> list[str]:
    """Parameters by how many distinct values they take (most first), at least two values."""
    counts = {p: len({row[p] for row in pairs}) for p in PARAMETERS}
    return [p for p in sorted(PARAMETERS, key=lambda p: -counts[p]) if counts[p] > 1]


def heatmap(pairs: list[dict[str, Any]], plt: Any) -> Any:
    """Mean trading effect over the two most-swept parameters, a panel per value of a third."""
    axes_params = swept(pairs)
    if len(axes_params) < 2:
        return None
    x, y = axes_params[0], axes_params[1]
    facet = axes_params[2] if len(axes_params) > 2 else None
    facets = sorted({row[facet] for row in pairs}) if facet else [None]
    xs, ys = sorted({row[x] for row in pairs}), sorted({row[y] for row in pairs})
    figure, panels = plt.subplots(
        1, len(facets), figsize=(3.2 * len(facets) + 1, 3.2), squeeze=False
    )
    limit = (
        max((abs(r["trading_effect"]) for r in pairs if r["trading_effect"] is not None), default=0)
        or 1e-9
    )
    for panel, value in zip(panels[0], facets, strict=True):
        cells: dict[tuple[Any, Any], list[float]] = defaultdict(list)
        for row in pairs:
            if (facet is None or row[facet] == value) and row["trading_effect"] is not None:
                cells[row[x], row[y]].append(row["trading_effect"])
        grid = [
            [statistics.fmean(cells[a, b]) if cells.get((a, b)) else float("nan") for a in xs]
            for b in ys
        ]
        image = panel.imshow(
            grid, origin="lower", cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto"
        )
        panel.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        panel.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        panel.set_xlabel(LABELS[x])
        panel.set_ylabel(LABELS[y])
        if facet:
            panel.set_title(f"{LABELS[facet]} = {value:g}")
    figure.colorbar(image, ax=panels[0].tolist(), label="trading effect δp − δa")
    return figure


def scatter(pairs: list[dict[str, Any]], plt: Any) -> Any:
    figure, panel = plt.subplots(figsize=(4, 4))
    done = [r for r in pairs if r["delta_passive"] is not None and r["delta_active"] is not None]
    panel.scatter(
        [r["delta_passive"] for r in done], [r["delta_active"] for r in done], s=12, alpha=0.7
    )
    panel.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    panel.set_xlim(-0.02, 1.02)
    panel.set_ylim(-0.02, 1.02)
    panel.set_xlabel("δ passive")
    panel.set_ylabel("δ active (below the line: trading helped)")
    return figure


def delta_by_kappa(pairs: list[dict[str, Any]], plt: Any) -> Any:
    figure, panel = plt.subplots(figsize=(5, 3.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, mu in enumerate(sorted({r["mu"] for r in pairs})):
        for regime, style in (("passive", "-"), ("active", "--")):
            by_kappa: dict[float, list[float]] = defaultdict(list)
            for row in pairs:
                if row["mu"] == mu and row[f"delta_{regime}"] is not None:
                    by_kappa[row["kappa"]].append(row[f"delta_{regime}"])
            kappas = sorted(by_kappa)
            panel.plot(
                kappas,
                [statistics.fmean(by_kappa[k]) for k in kappas],
                style,
                color=colours[n % len(colours)],
                marker="o",
                markersize=3,
                label=f"μ={mu:g} {regime}",
            )
    all_kappas = sorted({r["kappa"] for r in pairs})
    if len(all_kappas) > 2:
        panel.set_xscale("log")
    panel.set_xticks(all_kappas, [f"{k:g}" for k in all_kappas])
    panel.minorticks_off()
    panel.set_xlabel("κ (liquidity)")
    panel.set_ylabel("mean δ")
    panel.legend(fontsize=7, ncol=2)
    return figure


def require_pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # not installed, or unimportable
        raise MissingExtra(
            "bilancio report needs matplotlib, which is not installed: "
            "pip install 'bilancio[report]' (or, from a clone, uv run --extra report ...)"
        ) from None
    return plt


def render(job: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """The HTML page (plots embedded as PNG data, no external file or script)."""
    plt = require_pyplot()
    pairs = [
        {**r, **{p: float(r[p]) for p in PARAMETERS if r[p] is not None}} for r in export_rows(runs)
    ]
    plots = []
    for title, make in (
        ("Trading effect", heatmap),
        ("δ passive against δ active", scatter),
        ("δ against κ, by μ", delta_by_kappa),
    ):
        figure = make(pairs, plt)
        if figure is not None:
            plots.append(
                f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" '
                f'src="data:image/png;base64,{_png(figure)}">'
            )
            plt.close(figure)
    config = {
        k: job.get(k)
        for k in (
            "overrides",
            "config",
            "code_version",
            "kappas",
            "concentrations",
            "mus",
            "outside_mid_ratios",
            "seeds",
        )
    }
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>bilancio job {html.escape(job['job_id'])}</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "pre{background:#f4f4f4;padding:1em;overflow:auto}</style></head><body>"
        f"<h1>Job {html.escape(job['job_id'])}</h1>"
        f"<p>{html.escape(job['status'])}: {job['completed_runs']} runs completed, "
        f"{job['failed_runs']} failed, {job['total_runs']} in all. "
        f"{html.escape(job.get('description') or '')}</p>"
        f"<p>{html.escape(format_aggregate(job.get('job_metrics') or {}))}</p>"
        f"<h2>job_metrics</h2><pre>{html.escape(json.dumps(job.get('job_metrics'), indent=1))}"
        f"</pre>{''.join(plots)}"
        f"<h2>Config</h2><pre>{html.escape(json.dumps(config, indent=1, default=str))}</pre>"
        "</body></html>"
    )
