"""``from bilancio import results``: a job's pairs and cells as pandas DataFrames."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bilancio import results
from bilancio.storage import JobNotFound, StoreError

from .sweep_helpers import bilancio, rows

SWEEP = [
    "-m",
    "kappa=0.5,2",
    "mu=0,1",
    "seed=1,2,3",
    "n_agents=20",
    "default_handling=expel-agent",
    "job.id=api",
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    where = tmp_path_factory.mktemp("api")
    assert bilancio(*SWEEP, cwd=where).returncode == 0
    return where / "bilancio.db"


def test_cells_frame_is_the_stored_cells(db) -> None:
    cells = results.cells("api", storage=db)
    assert isinstance(cells, pd.DataFrame) and len(cells) == 4
    assert cells.attrs["swept"] == ["kappa", "mu"]
    assert list(cells.columns[:2]) == ["kappa", "mu"]
    stored = rows(db, "SELECT * FROM cell_metrics ORDER BY id")
    assert list(cells.cell_id) == [c["cell_id"] for c in stored]
    assert list(cells.mean_effect) == [c["mean_effect"] for c in stored]
    assert list(cells.n) == [3, 3, 3, 3]
    assert (cells["market.risk.enabled"] == True).all()  # noqa: E712 (a column of bools)
    assert cells.seeds.iloc[0] == [1, 2, 3]


def test_pairs_frame_matches_the_metrics_rows(db) -> None:
    pairs = results.pairs("api", storage=str(db))
    assert len(pairs) == 12 and list(pairs.columns[:4]) == ["job_num", "kappa", "mu", "seed"]
    assert (pairs.status == "completed").all()
    metrics = {
        r["run_id"]: json.loads(r["raw_metrics"])
        for r in rows(db, "SELECT run_id, raw_metrics FROM metrics")
    }
    for pair in pairs.itertuples():
        p, a = metrics[pair.passive_run_id], metrics[pair.active_run_id]
        assert pair.delta_passive == p["delta_total"] and pair.delta_active == a["delta_total"]
        assert pair.trading_effect == p["delta_total"] - a["delta_total"]
        assert pair.delta_ring_active == a["delta_ring"] and pair.n_sells == a["n_sells"]
    # a cell's mean effect is the mean of its pairs' effects
    cells = results.cells("api", storage=db)
    by_cell = pairs.groupby("cell_key").trading_effect.mean()
    for cell in cells.itertuples():
        assert by_cell[cell.cell_key] == pytest.approx(cell.mean_effect, abs=1e-15)


def test_storage_as_settings_and_jobs(db) -> None:
    same = results.cells("api", storage={"backend": "sqlite", "path": str(db)})
    assert same.equals(results.cells("api", storage=db))
    assert list(results.jobs(storage=db).job_id) == ["api"]


def test_errors_name_what_is_wrong(db, tmp_path) -> None:
    with pytest.raises(JobNotFound, match="no job 'nope'"):
        results.pairs("nope", storage=db)
    with pytest.raises(StoreError, match="no database at"):
        results.cells("api", storage=tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(StoreError, match="invalid storage='mysql://x'"):
        results.cells("api", storage="mysql://x")
