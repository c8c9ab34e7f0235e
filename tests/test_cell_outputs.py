"""Where results are shown, cells come first: a sweep's final printout, ``jobs show`` and
``jobs export --cells`` (CSV, Markdown, LaTeX); the pair export's mechanism columns."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from .sweep_helpers import bilancio, rows

SWEEP = [
    "-m",
    "kappa=0.5,2",
    "mu=0,1",
    "seed=range(1,6)",
    "n_agents=20",
    "default_handling=expel-agent",
    "job.id=grid",
]


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, str]:
    where = tmp_path_factory.mktemp("cells")
    proc = bilancio(*SWEEP, cwd=where)
    assert proc.returncode == 0, proc.stderr
    return where, proc.stdout


def _stored(where: Path) -> list[dict]:
    return rows(where / "bilancio.db", "SELECT * FROM cell_metrics ORDER BY id")


def _table(text: str) -> list[list[str]]:
    """The rows of the cell table printed in ``text`` (after its header line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:3] == ["κ", "μ", "n"])
    out = []
    for line in lines[start + 1 :]:
        if not line.strip() or not line.strip()[0].isdigit():
            break
        out.append(line.split())
    return out


def _expected(cell: dict) -> list[str]:
    return [
        format(float(cell["kappa"]), "g"),
        format(float(cell["mu"]), "g"),
        str(cell["n"]),
        f"{cell['mean_effect']:.4f}",
    ]


def test_the_sweep_ends_with_the_cell_table(grid) -> None:
    where, out = grid
    cells = _stored(where)
    assert len(cells) == 4
    table = _table(out)
    assert [r[:4] for r in table] == [_expected(c) for c in cells]
    assert "4 cells (κ × μ), 5 seeds each" in out
    assert "seed" not in out.split("cells:")[1].splitlines()[1]  # a cell table, not pairs
    assert "bilancio jobs show grid --pairs" in out
    effect = next(c for c in cells if c["mu"] == 1 and c["kappa"] == 0.5)
    printed = next(r for r in table if r[:2] == ["0.5", "1"])
    assert printed[4:6] == [f"[{effect['ci95_low']:.4f},", f"{effect['ci95_high']:.4f}]"]


def test_show_leads_with_cells_and_lists_pairs_on_request(grid) -> None:
    where, _ = grid
    shown = bilancio("jobs", "show", "grid", cwd=where)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.index("cells:") < text.index("job_metrics:")
    assert [r[:4] for r in _table(text)] == [_expected(c) for c in _stored(where)]
    assert "computed from the runs now" not in text  # the stored rows
    assert "seed " not in text.split("pairs:")[0].split("κ")[1]  # no pair (seed) column
    pairs = bilancio("jobs", "show", "grid", "--pairs", cwd=where).stdout
    listed = [line.split() for line in pairs.split("job_metrics:")[1].splitlines()[1:]]
    assert [r[0] for r in listed if r and r[0].isdigit()] == [str(n) for n in range(20)]
    data = json.loads(bilancio("jobs", "show", "grid", "--json", cwd=where).stdout)
    assert len(data["cells"]) == 4 and data["cells"][0]["seeds"] == [1, 2, 3, 4, 5]


def test_a_database_without_cell_metrics_is_shown_from_its_runs(grid, tmp_path) -> None:
    """A file written before cell_metrics existed: read-only commands compute the cells."""
    where, _ = grid
    old = tmp_path / "old.db"
    with sqlite3.connect(where / "bilancio.db") as src, sqlite3.connect(old) as dst:
        src.backup(dst)
    with sqlite3.connect(old) as con:
        con.execute("DROP TABLE cell_metrics")
    shown = bilancio("jobs", "show", "grid", "--db", str(old), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert [r[:4] for r in _table(shown.stdout)] == [_expected(c) for c in _stored(where)]
    assert "computed from the runs now" in shown.stdout
    with sqlite3.connect(old) as con:  # read-only: nothing was added to the file
        assert not con.execute("SELECT 1 FROM sqlite_master WHERE name='cell_metrics'").fetchone()


def test_export_cells_csv_has_every_digit(grid, tmp_path) -> None:
    where, _ = grid
    target = tmp_path / "cells.csv"
    proc = bilancio("jobs", "export", "grid", "--cells", "-o", str(target), cwd=where)
    assert proc.returncode == 0 and "4 cells →" in proc.stderr
    exported = list(csv.DictReader(io.StringIO(target.read_text())))
    header = next(csv.reader(io.StringIO(target.read_text())))
    assert header[:2] == ["kappa", "mu"]  # the swept parameters first
    assert {"market.risk.enabled", "n_agents", "p_wilcoxon", "mean_dealer_pnl"} <= set(header)
    for row, cell in zip(exported, _stored(where), strict=True):
        assert float(row["kappa"]) == cell["kappa"] and row["n"] == str(cell["n"])
        for column in ("mean_effect", "ci95_low", "p_ttest", "mean_delta_ring_active"):
            if cell[column] is None:
                assert row[column] == ""
            else:
                assert float(row[column]) == cell[column], column  # exactly
        assert json.loads(row["seeds"]) == [1, 2, 3, 4, 5]
        assert row["default_handling"] == "expel-agent" and row["market.risk.enabled"] == "true"


def test_export_cells_as_tables_to_paste(grid) -> None:
    where, _ = grid
    cells = _stored(where)
    md = bilancio("jobs", "export", "grid", "--cells", "--format", "markdown", "-o", "-", cwd=where)
    assert md.returncode == 0, md.stderr
    lines = md.stdout.splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")][:4] == ["κ", "μ", "n", "effect"]
    assert set(lines[1]) <= {"|", "-", ":"}
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [b[3] for b in body] == [f"{c['mean_effect']:.4f}" for c in cells]
    tex = bilancio("jobs", "export", "grid", "--cells", "--format", "latex", "-o", "-", cwd=where)
    assert tex.returncode == 0, tex.stderr
    assert tex.stdout.startswith("\\begin{tabular}") and "\\end{tabular}" in tex.stdout
    assert r"$\kappa$ & $\mu$ & $n$ & effect & 95\% CI" in tex.stdout
    assert tex.stdout.count("\\\\") == 1 + len(cells)  # a header row and one row per cell
    assert "_" not in tex.stdout.replace(r"\_", "").replace("_{", "")  # no bare underscore
    refused = bilancio("jobs", "export", "grid", "--format", "xlsx", "-o", "-", cwd=where)
    assert refused.returncode == 2 and "invalid choice: 'xlsx'" in refused.stderr
    assert "'csv', 'markdown', 'latex'" in refused.stderr


def test_pair_export_has_the_mechanism(grid) -> None:
    where, _ = grid
    proc = bilancio("jobs", "export", "grid", "-o", "-", cwd=where)
    exported = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(exported) == 20
    metrics = {
        r["run_id"]: json.loads(r["raw_metrics"])
        for r in rows(where / "bilancio.db", "SELECT run_id, raw_metrics FROM metrics")
    }
    for row in exported:
        active, passive = metrics[row["active_run_id"]], metrics[row["passive_run_id"]]
        for column in ("n_sells", "n_buys", "n_interior", "n_passthrough", "n_rejected_sells"):
            assert int(row[column]) == active[column], column
        for column in ("trade_volume_cash", "dealer_pnl", "vbt_pnl"):
            assert float(row[column]) == active[column], column
        assert float(row["delta_ring_passive"]) == passive["delta_ring"]
        assert float(row["delta_ring_active"]) == active["delta_ring"]
    md = bilancio("jobs", "export", "grid", "--format", "markdown", "-o", "-", cwd=where)
    assert md.returncode == 0 and md.stdout.count("\n") == 22  # header, rule, 20 pairs
