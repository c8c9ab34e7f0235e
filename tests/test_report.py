"""``bilancio report``: a self-contained, offline page that reads a replicated grid; its
figures checked as objects against the stored cells, and the page in a real browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import statistics
from pathlib import Path

import pytest
from scipy import stats

from bilancio.analysis import report
from bilancio.analysis.results import pairs_frame
from bilancio.storage.sqlite import SQLiteStore

from .sweep_helpers import bilancio, rows

GRID = [
    "-m",
    "kappa=0.5,1,2",
    "mu=0,1",
    "concentration=0.5,2",
    "seed=1,2,3,4",
    "n_agents=20",
    "default_handling=expel-agent",
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "needs Chromium: apt install chromium (.ci/run installs it when missing)"


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("report")
    for job, rho in (("grid", "1"), ("cheap", "0.5")):
        proc = bilancio(*GRID, f"outside_mid_ratio={rho}", f"job.id={job}", cwd=where)
        assert proc.returncode == 0, proc.stderr
    return where


def _read(where: Path, job: str):
    store = SQLiteStore(where / "bilancio.db", read_only=True)
    try:
        return store.job_cells(job), pairs_frame(store.job_runs(job))
    finally:
        store.close()


def test_the_figures_read_the_stored_cells(grid) -> None:
    cells, pairs = _read(grid, "grid")
    built = dict((m.NAME, f) for m, f in report.build(cells, pairs))
    assert list(built) == ["effect", "heatmap", "deltas", "distributions", "mechanism"]
    for fig in built.values():  # seed is never an axis
        titles = [fig.layout[a].title.text or "" for a in fig.layout if a.startswith(("xa", "ya"))]
        assert not any("seed" in t for t in titles)
    # effect: κ on x (3 values, the most swept), a panel per (μ, c), the stored CIs as bars
    effect = built["effect"]
    assert len(effect.data) == 4 and {t.x.count(None) for t in effect.data} == {0}
    for trace in effect.data:
        for x, y, up in zip(trace.x, trace.y, trace.error_y.array, strict=True):
            (cell,) = [
                c for c in cells if c["kappa"] == x and c["mean_effect"] == y and y is not None
            ][:1] or [None]
            if cell is not None and cell["ci95_high"] is not None:
                assert up == pytest.approx(cell["ci95_high"] - y)
    titles = {a.text for a in effect.layout.annotations}
    assert titles == {f"c = {c}, μ = {m}" for m in ("0", "1") for c in ("0.5", "2")}
    # heatmap: the two most-swept are κ (3 values) and c (2, before μ in the field order)
    heat = built["heatmap"]
    assert len(heat.data) == 2  # one panel per μ, never averaged over it
    top = max(abs(c["mean_effect"]) for c in cells)
    axis = heat.layout.coloraxis
    assert (axis.cmin, axis.cmax, axis.cmid) == (pytest.approx(-top), pytest.approx(top), 0)
    written = sorted(t for panel in heat.data for line in panel.text for t in line)
    assert written == sorted(f"{c['mean_effect']:.3f}" for c in cells)
    # δ passive against δ active: cell means, coloured by κ with a legend, t-intervals
    deltas = built["deltas"]
    named = [t for t in deltas.data if t.name.startswith("κ")]
    assert [t.name for t in named] == ["κ = 0.5", "κ = 1", "κ = 2"]
    assert sum(len(t.x) for t in named) == len(cells) == 12
    cell = next(c for c in cells if c["kappa"] == 2 and c["mu"] == 1 and c["concentration"] == 2)
    mine = pairs[pairs.cell_key == cell["cell_key"]].delta_passive
    low, high = stats.t.interval(0.95, len(mine) - 1, loc=mine.mean(), scale=stats.sem(mine))
    trace = named[2]
    i = next(k for k, x in enumerate(trace.x) if x == pytest.approx(cell["mean_delta_passive"]))
    assert trace.error_x.array[i] == pytest.approx(high - mine.mean())
    assert trace.error_x.arrayminus[i] == pytest.approx(mine.mean() - low)
    # distributions: one box per cell holding its seeds' effects
    boxes = built["distributions"].data
    assert len(boxes) == 12 and all(len(b.y) == 4 for b in boxes)
    # mechanism: the stored means
    sells = next(t for t in built["mechanism"].data if t.name == "sells")
    assert list(sells.y) == [c["mean_n_sells"] for c in cells]


def test_the_page_is_self_contained_and_says_what_was_swept(grid) -> None:
    out = grid / "report.html"
    proc = bilancio("report", "grid", "-o", str(out), cwd=grid)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "bilancio job grid" in page
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=", page) and "<link" not in page
    assert page.count("data-figure=") == 5
    assert "12 cells (κ × c × μ), 4 seeds each" in page
    config = json.loads(html.unescape(page.split("<h2>Config</h2><pre>")[1].split("</pre>")[0]))
    assert config["swept"] == {"κ": ["0.5", "1", "2"], "c": ["0.5", "2"], "μ": ["0", "1"]}
    assert config["seeds"] == "1–4 (4 seeds, pooled in every cell)"
    assert config["fixed, not the default"] == {
        "n_agents": "20 (default 100)",
        "default_handling": "expel-agent (default fail-fast)",
    }
    assert "42" not in config["seeds"]  # not the defaults
    stored = rows(grid / "bilancio.db", "SELECT mean_effect FROM cell_metrics WHERE job_id='grid'")
    for cell in stored:
        assert f"<td>{cell['mean_effect']:.4f}</td>" in page
    assert bilancio("report", "nope", "-o", str(out), cwd=grid).returncode == 2
    refused = bilancio("report", "grid", cwd=grid)
    assert refused.returncode == 2 and "nothing to write" in refused.stderr


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_the_page_in_headless_chromium(grid, tmp_path) -> None:
    """Loaded offline with no console error, every figure drawn (SVG with marks); the
    screenshot is kept next to the page for a person to look at."""
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    assert bilancio("report", "grid", "-o", str(out), cwd=grid).returncode == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(out.as_uri())
        page.wait_for_function("document.querySelectorAll('.figure svg.main-svg').length >= 5")
        drawn = page.evaluate(
            "Array.from(document.querySelectorAll('.figure')).map(f => [f.dataset.figure,"
            " f.querySelectorAll('svg.main-svg').length,"
            " f.querySelectorAll('.point, .hm, .box, .bars path, .scatterlayer path').length])"
        )
        target = page.locator("#figure-heatmap .nsewdrag").first
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        page.mouse.move(box["x"] + 5, box["y"] + 5)
        page.mouse.move(box["x"] + box["width"] / 6, box["y"] + box["height"] * 0.8, steps=5)
        page.wait_for_selector("#figure-heatmap .hoverlayer .hovertext")
        tip = page.locator("#figure-heatmap .hoverlayer").text_content()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert "κ = 0.5" in tip and "n = 4" in tip and "mean effect" in tip and "95% CI" in tip
    assert all(u.startswith("file:") or u.startswith("data:") for u in requests), requests
    assert [d[0] for d in drawn] == ["effect", "heatmap", "deltas", "distributions", "mechanism"]
    assert all(svgs > 0 and marks > 0 for _, svgs, marks in drawn), drawn
    assert (tmp_path / "report.png").stat().st_size > 50_000


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_figures_for_a_paper(grid, tmp_path) -> None:
    folder = tmp_path / "figures"
    proc = bilancio("report", "grid", "--figures", str(folder), cwd=grid)
    assert proc.returncode == 0, proc.stderr
    names = ["effect", "heatmap", "deltas", "distributions", "mechanism"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{n}.{s}" for n in names for s in ("png", "pdf")
    )
    for name in names:
        assert (folder / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (folder / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"


def test_two_jobs_compared_cell_by_cell(grid, tmp_path) -> None:
    """ρ = 1 against ρ = 0.5 on the same seeds: each matched cell's difference is the mean of
    the seed-by-seed differences, its CI the paired t-interval (computed here with SQL and
    scipy)."""
    out = tmp_path / "compare.html"
    proc = bilancio("report", "grid", "cheap", "-o", str(out), cwd=grid)
    assert proc.returncode == 0, proc.stderr
    assert "A = grid: ρ = 1; B = cheap: ρ = 0.5; 12 cells matched" in proc.stdout
    effects = rows(
        grid / "bilancio.db",
        "SELECT r.job_id, r.kappa, r.mu, r.concentration AS c, r.seed, m.trading_effect AS e "
        "FROM runs r JOIN metrics m USING (run_id) WHERE r.regime = 'active'",
    )
    by = {(e["job_id"], e["kappa"], e["mu"], e["c"], e["seed"]): e["e"] for e in effects}
    table = [line.split() for line in proc.stdout.splitlines()[2:] if line.strip()[:1].isdigit()]
    assert len(table) == 12
    checked = 0
    for line in table:
        kappa, c, mu = (float(v) for v in line[:3])
        d = [by[("grid", kappa, mu, c, s)] - by[("cheap", kappa, mu, c, s)] for s in range(1, 5)]
        assert line[3] == "4" and line[6] == f"{statistics.fmean(d):.4f}"
        if statistics.pstdev(d) > 0:
            low, high = stats.t.interval(
                0.95, 3, loc=statistics.fmean(d), scale=statistics.stdev(d) / 2
            )
            assert " ".join(line[7:9]) == f"[{low:.4f}, {high:.4f}]"
            checked += 1
    assert checked > 0
    page = out.read_text()
    assert "data-figure='difference'" in page and "<link" not in page
