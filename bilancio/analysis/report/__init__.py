"""One self-contained HTML page for a job (or two jobs compared), with interactive Plotly
figures that work offline (plotly.js is embedded once), and the same figures as PNG and PDF.

The figures read a replicated grid: seed is never an axis, the cell statistics of MODEL.md §6
carry the uncertainty, and every swept parameter a figure does not put on an axis becomes
panels (or colours), never a silent average. One module per figure kind.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from bilancio.analysis.report import (
    deltas,
    distributions,
    effect,
    frontier,
    heatmap,
    mechanism,
    sensitivity,
)
from bilancio.analysis.report.common import Grid, label, value_text
from bilancio.extras import MissingExtra

FIGURES = (effect, heatmap, deltas, distributions, mechanism, sensitivity)
FRONTIER_FIGURES = (frontier,)  # a frontier's cells are its evaluations: not drawn as a grid
STYLE = (
    "body{font-family:Helvetica,Arial,sans-serif;max-width:78em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;font-size:0.9em}td,th{padding:0.25em 0.7em;"
    "text-align:right;border-bottom:1px solid #ddd}th{background:#f4f4f4}"
    "pre{background:#f4f4f4;padding:1em;overflow:auto}.caption{color:#555;max-width:60em}"
    ".figure{margin:1.5em 0 2.5em}"
)


def require_plotly() -> Any:
    try:
        import plotly
    except ImportError:  # not installed, or unimportable
        raise MissingExtra(
            "bilancio report needs plotly, which is not installed: "
            "pip install 'bilancio[report]' (or, from a clone, uv run --extra report ...)"
        ) from None
    return plotly


def build(
    cells: list[dict[str, Any]], pairs: Any, job: dict[str, Any] | None = None
) -> list[tuple[Any, Any]]:
    """(figure module, plotly Figure) for every figure this job has data for (``job``: its
    row, for a design's own figures)."""
    grid = Grid.of(cells, pairs, job)
    out = []
    for module in FRONTIER_FIGURES if (grid.summary or {}).get("frontier") else FIGURES:
        fig = module.figure(grid)
        if fig is not None:
            out.append((module, fig))
    return out


def config_block(job: dict[str, Any], grid: Grid) -> dict[str, Any]:
    """What was swept (with its values) and the fixed parameters that differ from the
    defaults (with the default)."""
    from bilancio.analysis.cells import flatten
    from bilancio.model import ModelParams

    defaults = flatten({k: v for k, v in ModelParams().to_dict().items() if k != "seed"})
    swept = {label(p): [value_text(v) for v in grid.values(p)] for p in grid.swept}
    seeds = sorted({int(s) for s in grid.pairs.seed.dropna()}) if len(grid.pairs) else []
    fixed = {}
    if grid.cells:
        for key, value in grid.cells[0]["flat"].items():
            if key not in grid.swept and key in defaults and value != defaults[key]:
                fixed[key] = f"{value_text(value)} (default {value_text(defaults[key])})"
    return {
        "swept": swept,
        "seeds": _seed_text(seeds),
        "fixed, not the default": fixed,
        "overrides": " ".join(job.get("overrides") or []),
        "code version": job.get("code_version"),
    }


def _seed_text(seeds: list[int]) -> str:
    if not seeds:
        return "none"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}–{seeds[-1]} ({len(seeds)} seeds, pooled in every cell)"
    return ", ".join(map(str, seeds))


def _cell_table(grid: Grid) -> str:
    from bilancio.analysis.tables import _ci, _num, _p

    head = [label(p) for p in grid.swept] + [
        "n",
        "mean effect",
        "95% CI",
        "p (t)",
        "p (Wilcoxon)",
        "δ passive",
        "δ active",
    ]
    rows = []
    for c in grid.cells:
        values = [value_text(c["flat"][p]) for p in grid.swept] + [
            str(c.get("n") or 0),
            _num(c.get("mean_effect")),
            _ci(c),
            _p(c.get("p_ttest")),
            _p(c.get("p_wilcoxon")),
            _num(c.get("mean_delta_passive")),
            _num(c.get("mean_delta_active")),
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in values) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _page(title: str, body: str) -> str:
    from plotly.offline import get_plotlyjs

    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{body}</body></html>"
    )


def _figure_html(module: Any, fig: Any, grid: Grid) -> str:
    div = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"figure-{module.NAME}", validate=True
    )
    return (
        f"<div class='figure' data-figure='{module.NAME}'><h2>{html.escape(module.TITLE)}</h2>"
        f"<p class='caption'>{html.escape(module.caption(grid))}</p>{div}</div>"
    )


def render(job: dict[str, Any], cells: list[dict[str, Any]], pairs: Any) -> str:
    """The job's page: summary, the cell table, every figure, the config block."""
    from bilancio.analysis.tables import describe_cells
    from bilancio.report import format_aggregate

    require_plotly()
    grid = Grid.of(cells, pairs, job)
    figures = "".join(_figure_html(m, f, grid) for m, f in build(cells, pairs, job))
    if not grid.cells:
        figures = "<p>No completed pairs: nothing to draw.</p>"
    summary = (
        f"<p>{html.escape(job['status'])}: {job.get('completed_runs')} runs completed, "
        f"{job.get('failed_runs')} failed, {job.get('total_runs')} in all. "
        f"{html.escape(job.get('description') or '')}</p>"
        f"<p>{html.escape(format_aggregate(job.get('job_metrics') or {}))}</p>"
    )
    config = json.dumps(config_block(job, grid), indent=1, ensure_ascii=False, default=str)
    design = ""
    if (grid.summary or {}).get("frontier"):
        from bilancio.analysis.frontier import format_frontier

        design = (
            "<h2>Frontier</h2><pre data-table='frontier'>"
            f"{html.escape(format_frontier(grid.summary['frontier']))}</pre>"
            "<p class='caption'>Each value the search evaluated is a cell below.</p>"
        )
    elif ((grid.summary or {}).get("sensitivity") or {}).get("groups"):
        from bilancio.analysis.sensitivity import format_indices

        design = (
            "<h2>Sensitivity</h2><pre data-table='sensitivity'>"
            f"{html.escape(format_indices(grid.summary['sensitivity']))}</pre>"
        )
    body = (
        f"<h1>bilancio job {html.escape(job['job_id'])}</h1>{summary}{design}"
        f"<h2>Cells: {html.escape(describe_cells(grid.cells)) if grid.cells else 'none'}</h2>"
        "<p class='caption'>Trading effect = δ_passive − δ_active (above 0: the market reduced "
        "defaults), mean over each cell's seeds with its 95% t-interval; p-values of the "
        "paired t-test and the Wilcoxon signed-rank test of the effects against 0.</p>"
        f"{_cell_table(grid)}{figures}"
        f"<h2>Config</h2><pre>{html.escape(config)}</pre>"
    )
    return _page(f"bilancio job {job['job_id']}", body)


def render_comparison(job_a: dict[str, Any], job_b: dict[str, Any], result: dict[str, Any]) -> str:
    """Two jobs cell by cell: what differs, the table of differences and their figure."""
    import pandas as pd

    from bilancio.analysis.compare import as_cells, describe_difference, format_comparison

    require_plotly()
    a, b = job_a["job_id"], job_b["job_id"]
    grid = Grid.of(as_cells(result), pd.DataFrame({"cell_key": [], "seed": []}))
    figure = ""
    if grid.cells:
        fig = effect.figure(grid)
        fig.update_yaxes(title_text="effect A − effect B", col=1)
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id="figure-difference")
        figure = (
            "<div class='figure' data-figure='difference'><h2>Difference by cell</h2>"
            "<p class='caption'>The difference of the two jobs' mean effects per matched cell; "
            "bars are 95% t-intervals of the seed-by-seed differences (the seeds are common "
            f"random numbers, so the difference is paired).</p>{div}</div>"
        )
    body = (
        f"<h1>bilancio: job {html.escape(a)} against job {html.escape(b)}</h1>"
        f"<p>{html.escape(describe_difference(result, a, b))}</p>"
        f"<pre>{html.escape(format_comparison(result, a, b))}</pre>{figure}"
    )
    return _page(f"bilancio: {a} against {b}", body)


def write_figures(figures: list[tuple[Any, Any]], folder: str | Path) -> list[Path]:
    """Every figure as NAME.png and NAME.pdf in ``folder`` (kaleido, which drives a local
    Chrome or Chromium)."""
    import plotly.io as pio

    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise MissingExtra(
            "bilancio report --figures needs kaleido, which is not installed: "
            "pip install 'bilancio[report]'"
        ) from None
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    figs, paths = [], []
    for module, fig in figures:
        for suffix in ("png", "pdf"):
            figs.append(fig)
            paths.append(target / f"{module.NAME}.{suffix}")
    try:
        pio.write_images(figs, paths, width=1100, scale=2)
    except Exception as err:  # kaleido's own errors: no browser, a browser that would not start
        raise FiguresFailed(
            f"could not write the figures as PNG and PDF ({type(err).__name__}: {err}). Kaleido "
            "draws them in a local Chrome or Chromium: install one (Debian/Ubuntu: apt install "
            "chromium; or run plotly_get_chrome), or set BROWSER_PATH to its executable"
        ) from None
    return paths


class FiguresFailed(MissingExtra):
    """The figures could not be drawn as files (no browser for kaleido)."""
