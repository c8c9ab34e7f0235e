"""Issue 15: what a sweep does around the model — each job hashed once, batched writes, job
numbers sent to pool workers, run rows that store only what differs from the job's config, and
one file of Hydra records for a large sweep. Real SQLite files and real sweeps throughout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bilancio.storage.sqlite import SQLiteStore
from bilancio.sweep.job import JobOutcome, JobSpec, compute_job, saved_in_batches


@pytest.fixture
def small_config(hydra_restore_singletons, tmp_path: Path) -> dict:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from bilancio.config import register_configs

    register_configs()
    with initialize_config_module(version_base="1.3", config_module="bilancio.conf"):
        cfg = OmegaConf.to_container(compose(config_name="config"), resolve=True)
    cfg["n_agents"] = 12
    cfg["storage"] = {"backend": "sqlite", "path": str(tmp_path / "b.db")}
    return cfg


class CountingStore(SQLiteStore):
    """A real SQLite store that counts its write transactions of runs."""

    writes: list[int]

    def save_runs(self, runs, metrics, **kwargs):  # type: ignore[override]
        self.writes.append(len(runs))
        return super().save_runs(runs, metrics, **kwargs)


def _store(tmp_path: Path) -> CountingStore:
    from bilancio.rows import JobRecord

    store = CountingStore(tmp_path / "b.db")
    store.writes = []
    store.create_job(
        JobRecord(
            job_id="j",
            sweep_type="balanced",
            n_agents=12,
            maturity_days=10,
            kappas=[1.0],
            concentrations=[1.0],
            mus=[0.5],
            outside_mid_ratios=[1.0],
            seeds=[1],
            total_runs=0,
            overrides=[],
            config={},
            code_version="test",
        )
    )
    return store


def test_rows_are_written_in_batches(small_config: dict, tmp_path: Path) -> None:
    store = _store(tmp_path)
    specs = [JobSpec("j", n, {**small_config, "seed": n}, (f"seed={n}",)) for n in range(130)]
    computed = [compute_job(s) for s in specs]
    outcomes = list(saved_in_batches(computed, store, pairs=64, seconds=3600))
    # 130 pairs, 64 a transaction: 64, 64 and the last 2 at the end
    assert store.writes == [128, 128, 4]
    assert [o.job_num for o in outcomes] == list(range(130))
    assert all(o.saved and o.status == "completed" for o in outcomes)
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 260
        assert db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 260


def test_a_batch_is_written_early_once_its_oldest_pair_has_waited(
    small_config: dict, tmp_path: Path
) -> None:
    store = _store(tmp_path)
    specs = [JobSpec("j", n, {**small_config, "seed": n}, ()) for n in range(3)]
    computed = [compute_job(s) for s in specs]
    list(saved_in_batches(computed, store, pairs=64, seconds=0))
    assert store.writes == [2, 2, 2]  # every pair had waited long enough: written at once


def test_an_outcome_without_rows_passes_through_unsaved(small_config: dict, tmp_path: Path) -> None:
    store = _store(tmp_path)
    dead = JobOutcome(7, "failed", "its worker died twice", saved=False)
    done = compute_job(JobSpec("j", 1, small_config, ()))
    outcomes = list(saved_in_batches([done, dead], store, pairs=64, seconds=3600))
    assert [(o.job_num, o.saved) for o in outcomes] == [(7, False), (1, True)]
    assert store.writes == [2]


def test_the_plans_hash_is_used_not_recomputed(small_config: dict, monkeypatch) -> None:
    import bilancio.sweep.job as job
    from bilancio.config import params_from_config
    from bilancio.sweep.records import config_hash

    expected = config_hash(params_from_config(small_config))

    def no_hashing(params):
        raise AssertionError("hashed again")

    monkeypatch.setattr(job, "config_hash", no_hashing)
    done = compute_job(JobSpec("j", 0, small_config, (), expected))
    assert {r.config_hash for r in done.runs} == {expected}


def _metrics_by_run(db: Path) -> dict[tuple[int, str], tuple]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT r.job_num, r.regime, r.status, r.config_hash, m.delta_total, m.raw_metrics "
            "FROM runs r JOIN metrics m USING (run_id)"
        ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def test_pool_workers_are_sent_job_numbers_and_store_what_the_default_launcher_does(
    in_process, tmp_path: Path, monkeypatch
) -> None:
    from hydra_plugins.bilancio_pool_launcher import _pool

    sent: list = []
    send = _pool.WorkerPool._send

    def recording(self, worker, tasks):
        sent.extend(t.item for t in tasks)
        return send(self, worker, tasks)

    monkeypatch.setattr(_pool.WorkerPool, "_send", recording)
    sweep = ["-m", "kappa=0.5,1,2", "seed=1,2,3", "n_agents=12", "mu=1"]
    assert in_process(*sweep, "hydra/launcher=pool", "storage.path=pool.db") == 0
    assert sorted(sent) == list(range(9)) and all(type(n) is int for n in sent)
    assert in_process(*sweep, "storage.path=basic.db") == 0
    pooled, basic = _metrics_by_run(tmp_path / "pool.db"), _metrics_by_run(tmp_path / "basic.db")
    assert len(pooled) == 18
    assert pooled == basic


def test_a_large_sweep_writes_one_file_of_job_records_not_a_folder_per_job(
    in_process, tmp_path: Path, monkeypatch
) -> None:
    import json

    from bilancio.sweep import orchestrate

    monkeypatch.setattr(orchestrate, "LARGE_SWEEP", 5)  # 6 pairs count as a large sweep here
    args = ["-m", "kappa=0.5,1", "seed=1,2,3", "n_agents=12", "hydra.sweep.dir=sweep"]
    assert in_process(*args, "job.id=big") == 0
    sweep = tmp_path / "sweep"
    assert sorted(p.name for p in sweep.iterdir()) == [
        "bilancio_job.json",
        "jobs.jsonl",
        "multirun.yaml",
    ]
    lines = [json.loads(line) for line in (sweep / "jobs.jsonl").read_text().splitlines()]
    rest = ["n_agents=12", "job.id=big"]  # every task override of the command, as Hydra's
    assert lines == [
        {"num": 0, "subdir": "0", "overrides": [*("kappa=0.5", "seed=1"), *rest]},
        {"num": 1, "subdir": "1", "overrides": [*("kappa=0.5", "seed=2"), *rest]},
        {"num": 2, "subdir": "2", "overrides": [*("kappa=0.5", "seed=3"), *rest]},
        {"num": 3, "subdir": "3", "overrides": [*("kappa=1", "seed=1"), *rest]},
        {"num": 4, "subdir": "4", "overrides": [*("kappa=1", "seed=2"), *rest]},
        {"num": 5, "subdir": "5", "overrides": [*("kappa=1", "seed=3"), *rest]},
    ]
    assert (sweep / "jobs.jsonl").stat().st_size < 6 * 100


def test_a_small_sweep_keeps_hydras_folder_per_job(in_process, tmp_path: Path) -> None:
    args = ["-m", "kappa=0.5,1", "n_agents=12", "hydra.sweep.dir=sweep"]
    assert in_process(*args) == 0
    sweep = tmp_path / "sweep"
    assert not (sweep / "jobs.jsonl").exists()
    assert (sweep / "1" / ".hydra" / "overrides.yaml").read_text() == '["kappa=1", "n_agents=12"]\n'
