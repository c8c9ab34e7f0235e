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


# -- run rows store what differs from the job's config --------------------------------------


def test_a_difference_restores_the_public_config() -> None:
    from bilancio.rows import DIFF_MARK, full_config
    from bilancio.sweep.records import JobBase, config_difference

    stored = {
        "kappa": 1.0,
        "seed": 42,
        "market": {"horizon": 10, "risk": {"enabled": True}},
        "job": {"id": None, "num": None},
        "storage": {"backend": "postgres"},
        "gone": {"a": 1},
        "scalar_then_dict": 3,
    }
    config = {
        "kappa": 2.0,
        "seed": 42,
        "market": {"horizon": 10, "risk": {"enabled": False}},
        "job": {"id": "j", "num": 7},
        "storage": {"backend": "postgres", "url": "postgresql://u:pw12345678@h/db"},
        "scalar_then_dict": {"x": 1},
        "new": [1, 2],
    }
    base = JobBase.of(stored)
    diff = config_difference(base, config)
    assert diff["set"] == {
        "kappa": 2.0,
        "market.risk.enabled": False,
        "job.id": "j",
        "job.num": 7,
        "scalar_then_dict.x": 1,
        "new": [1, 2],
    }
    assert diff["unset"] == ["gone.a"]
    assert DIFF_MARK in diff and "pw12345678" not in str(diff)
    assert full_config(diff, stored) == {
        "kappa": 2.0,
        "seed": 42,
        "market": {"horizon": 10, "risk": {"enabled": False}},
        "job": {"id": "j", "num": 7},
        "storage": {"backend": "postgres"},  # the URL is never stored
        "gone": {},
        "scalar_then_dict": {"x": 1},
        "new": [1, 2],
    }
    # the job's config itself is left as it was (the runs' configs share its untouched parts)
    assert stored["gone"] == {"a": 1} and stored["market"]["risk"] == {"enabled": True}
    assert stored["job"] == {"id": None, "num": None} and stored["scalar_then_dict"] == 3


def test_int_float_and_bool_are_different_values() -> None:
    from bilancio.sweep.records import JobBase, config_difference

    base = JobBase.of({"a": 1, "b": 1.0, "c": True})
    diff = config_difference(base, {"a": 1.0, "b": True, "c": 1})
    assert diff["set"] == {"a": 1.0, "b": True, "c": 1}
    assert [type(v) for v in diff["set"].values()] == [float, bool, int]


def test_a_section_is_compared_again_when_it_changes_in_place_or_a_secret_appears(
    monkeypatch,
) -> None:
    """Each section's difference is remembered by the section object (the jobs of a sweep
    share them); a section edited in place, even from 1 to 1.0, and a secret that became known
    since (a new environment variable) give a new difference."""
    from bilancio.sweep.records import JobBase, config_difference

    base = JobBase.of({"market": {"horizon": 10, "note": "x"}, "kappa": 1.0})
    market = {"horizon": 10, "note": "x"}
    config = {"market": market, "kappa": 1.0}
    assert config_difference(base, config)["set"] == {}
    market["horizon"] = 10.0
    assert config_difference(base, config)["set"] == {"market.horizon": 10.0}
    market["horizon"] = 10
    market["note"] = "postgresql://u:pw-not-yet-known@h/db"
    assert config_difference(base, config)["set"] == {"market.note": "postgresql://u:***@h/db"}
    market["note"] = "token pw-not-yet-known"
    assert "pw-not-yet-known" in str(config_difference(base, config))
    monkeypatch.setenv("BILANCIO_DATABASE_URL", "postgresql://u:pw-not-yet-known@h/db")
    assert "pw-not-yet-known" not in str(config_difference(base, config))
    market["t"] = (1,)
    assert [type(x) for x in config_difference(base, config)["set"]["market.t"]] == [int]
    market["t"] = (1.0,)
    assert [type(x) for x in config_difference(base, config)["set"]["market.t"]] == [float]


def test_a_full_config_is_read_as_it_is_and_a_changed_base_is_refused() -> None:
    from bilancio.rows import ConfigBaseChanged, full_config
    from bilancio.sweep.records import JobBase, config_difference

    whole = {"kappa": 0.5, "job": {"id": "old"}}
    assert full_config(whole, {"kappa": 9.0}) is whole  # a row written before issue 15
    diff = config_difference(JobBase.of({"kappa": 1.0}), {"kappa": 0.5})
    with pytest.raises(ConfigBaseChanged):
        full_config(diff, {"kappa": 2.0})


SMALL = ["-m", "kappa=0.5,2", "mu=0,1", "n_agents=12"]


def _runs(db: Path) -> list[dict]:
    import json

    with sqlite3.connect(db) as con:
        con.row_factory = sqlite3.Row
        got = con.execute("SELECT run_id, job_num, kappa, config FROM runs ORDER BY run_id")
        return [{**dict(r), "config": json.loads(r["config"])} for r in got]


def test_a_sweep_stores_each_runs_difference_and_every_reader_sees_the_whole(
    in_process, tmp_path: Path
) -> None:
    import json

    from bilancio import results
    from bilancio.storage import open_store

    assert in_process(*SMALL, "job.id=diff") == 0
    db = tmp_path / "bilancio.db"
    stored = _runs(db)
    assert len(stored) == 8
    for run in stored:  # the swept values and the job's number (the path: made absolute)
        assert set(run["config"]["set"]) == {"kappa", "mu", "job.num", "storage.path"}
        assert run["config"]["unset"] == []
        assert len(json.dumps(run["config"])) - len(str(db)) < 150
    store = open_store({"backend": "sqlite", "path": str(db)}, read_only=True)
    for run in store.job_runs("diff"):
        config = run["config"]
        assert config["kappa"] == float(run["kappa"]) and config["job"]["num"] == run["job_num"]
        assert config["job"]["id"] == "diff" and config["n_agents"] == 12
        assert config["market"]["horizon"] == 10 and config["storage"]["backend"] == "sqlite"
    pairs = results.pairs("diff", storage=str(db))
    assert sorted(zip(pairs.kappa, pairs.mu, strict=True)) == [(0.5, 0), (0.5, 1), (2, 0), (2, 1)]
    assert in_process("rerun", "diff") == 0  # from the stored configs alone


def test_a_job_of_whole_and_differing_run_configs_reads_the_same(
    in_process, tmp_path: Path
) -> None:
    import json

    from bilancio.rows import full_config
    from bilancio.storage import open_store

    assert in_process(*SMALL, "job.id=mixed") == 0
    db = tmp_path / "bilancio.db"
    with sqlite3.connect(db) as con:  # job 1's runs as the code before issue 15 wrote them
        job_config = json.loads(con.execute("SELECT config FROM jobs").fetchone()[0])
        for run in _runs(db):
            if run["job_num"] == 1:
                whole = full_config(run["config"], job_config)
                con.execute(
                    "UPDATE runs SET config = ? WHERE run_id = ?",
                    (json.dumps(whole, sort_keys=True), run["run_id"]),
                )
    read = open_store({"backend": "sqlite", "path": str(db)}, read_only=True).job_runs("mixed")
    one = [r["config"] for r in read if r["job_num"] == 1]
    assert one[0]["kappa"] == 0.5 and one[0]["mu"] == 1 and one[0]["job"]["num"] == 1
    assert in_process("rerun", "mixed") == 0


def test_a_resumed_job_keeps_the_config_its_runs_were_stored_against(
    in_process, tmp_path: Path
) -> None:
    import json

    import bilancio.sweep.job as job

    real = job._run_pair

    def flaky(params, record=False):
        if params.kappa == 2.0:
            raise RuntimeError("not now")
        return real(params)

    job._run_pair = flaky
    try:
        assert in_process(*SMALL, "job.id=res", "job.description=first") == 1
    finally:
        job._run_pair = real
    db = tmp_path / "bilancio.db"
    with sqlite3.connect(db) as con:
        before = con.execute("SELECT config FROM jobs").fetchone()[0]
    # resumed with another description: the job row's config stays the one the runs stored
    # against, and the new runs' differences hold the new description
    assert in_process(*SMALL, "job.id=res", "job.description=second") == 0
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT config FROM jobs").fetchone()[0] == before
    assert json.loads(before)["job"]["description"] == "first"
    from bilancio.storage import open_store

    read = open_store({"backend": "sqlite", "path": str(db)}, read_only=True).job_runs("res")
    said = {r["job_num"]: r["config"]["job"]["description"] for r in read}
    assert said == {0: "first", 1: "first", 2: "second", 3: "second"}


def test_postgres_stores_the_difference_and_reads_the_whole(
    in_process, migrated_url: str, tmp_path: Path, monkeypatch
) -> None:
    from bilancio.storage import open_store

    monkeypatch.setenv("BILANCIO_DATABASE_URL", migrated_url)
    assert in_process(*SMALL, "job.id=pg", "storage=postgres") == 0
    store = open_store({"backend": "postgres", "url": migrated_url})
    raw = store.table("runs")
    assert len(raw) == 8
    assert all(set(r["config"]["set"]) == {"kappa", "mu", "job.num"} for r in raw)
    for run in store.job_runs("pg"):
        assert run["config"]["kappa"] == float(run["kappa"]) and run["config"]["n_agents"] == 12
        assert run["config"]["storage"]["backend"] == "postgres"
        assert "url" not in run["config"]["storage"]
    assert in_process("rerun", "pg", "storage=postgres") == 0


def test_the_config_hash_is_sha256_of_the_canonical_json_of_the_parameters() -> None:
    import dataclasses
    import hashlib
    import json

    from bilancio.model import MODEL_VERSION, ModelParams
    from bilancio.sweep.records import config_hash, normalise

    for params in (
        ModelParams(),
        ModelParams(kappa=0.1 + 0.2, seed=7, n_agents=50, max_days=40),
        dataclasses.replace(ModelParams(), mu=1.0, concentration=0.3),
    ):
        body = {"model_version": MODEL_VERSION, "params": normalise(dataclasses.asdict(params))}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        assert config_hash(params) == hashlib.sha256(canonical.encode()).hexdigest()
    assert config_hash(ModelParams(kappa=0.1 + 0.2)) == config_hash(ModelParams(kappa=0.3))
