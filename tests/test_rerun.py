"""``bilancio rerun``: re-execute a stored job from its configs alone and compare."""

from __future__ import annotations

import os
import sqlite3
import subprocess

from bilancio.sweep import job as job_module

from .sweep_helpers import SCRIPT, bilancio, rows

SWEEP = ["-m", "kappa=0.5,1", "mu=0,1", "n_agents=20"]


def test_rerun_reproduces_every_run(tmp_path) -> None:
    assert bilancio(*SWEEP, "job.id=orig", cwd=tmp_path).returncode == 0
    proc = bilancio("rerun", "orig", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "8/8 runs identical" in proc.stdout
    db = tmp_path / "bilancio.db"
    jobs = rows(db, "SELECT job_id, description, total_runs FROM jobs ORDER BY created_at")
    assert len(jobs) == 2 and jobs[1]["description"] == "rerun of orig"
    assert jobs[1]["total_runs"] == 8


def test_rerun_reports_differences(tmp_path) -> None:
    assert bilancio(*SWEEP, "job.id=orig", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "bilancio.db") as con:  # a stored result that is not right
        con.execute(
            "UPDATE metrics SET raw_metrics = json_set(raw_metrics, '$.n_clears', 999) "
            "WHERE run_id = 'orig-00001-active'"
        )
    proc = bilancio("rerun", "orig", cwd=tmp_path)
    assert proc.returncode == 1
    assert "7/8 runs identical" in proc.stdout
    assert "#1 active: n_clears 999 →" in proc.stdout


def test_rerun_of_a_job_stored_before_a_metric_existed(tmp_path) -> None:
    """A database written before delta_ring existed reruns as identical; a metric the
    stored run has and the rerun does not is still reported."""
    assert bilancio(*SWEEP, "job.id=orig", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "bilancio.db") as con:
        con.execute("UPDATE metrics SET raw_metrics = json_remove(raw_metrics, '$.delta_ring')")
        con.execute(
            "UPDATE metrics SET raw_metrics = json_set(raw_metrics, '$.gone', 1) "
            "WHERE run_id = 'orig-00002-passive'"
        )
    proc = bilancio("rerun", "orig", cwd=tmp_path)
    assert proc.returncode == 1
    assert "7/8 runs identical" in proc.stdout
    assert "#2 passive: gone 1 → None" in proc.stdout
    assert "delta_ring" not in proc.stdout


def test_rerun_failed_only_completes_the_same_job(in_process, monkeypatch, tmp_path) -> None:
    real = job_module._run_pair

    def flaky(params):
        if params.kappa == 0.5 and params.mu == 1:
            raise RuntimeError("transient trouble")
        return real(params)

    monkeypatch.setattr(job_module, "_run_pair", flaky)
    assert in_process(*SWEEP, "job.id=orig") == 1
    monkeypatch.setattr(job_module, "_run_pair", real)
    from bilancio.cli import rerun as rerun_cli

    assert rerun_cli.main(["orig", "--failed-only"]) == 0
    db = tmp_path / "bilancio.db"
    assert rows(db, "SELECT count(*) AS n FROM jobs")[0]["n"] == 1
    job = rows(db, "SELECT * FROM jobs")[0]
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 8, 0)


def test_rerun_from_postgres(migrated_url, tmp_path) -> None:
    env = {**os.environ, "BILANCIO_DATABASE_URL": migrated_url}
    first = subprocess.run(
        [str(SCRIPT), *SWEEP, "job.id=pg", "storage=postgres"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    again = subprocess.run(
        [str(SCRIPT), "rerun", "pg", "storage=postgres"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert "8/8 runs identical" in again.stdout


def test_unknown_job(tmp_path) -> None:
    assert bilancio(*SWEEP, "job.id=orig", cwd=tmp_path).returncode == 0
    proc = bilancio("rerun", "missing", cwd=tmp_path)
    assert proc.returncode == 2 and "no job 'missing'" in proc.stderr


def test_rerun_from_a_multirun_folder_and_code_version_warning(tmp_path) -> None:
    assert (
        bilancio(
            *SWEEP, "job.id=orig", f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path
        ).returncode
        == 0
    )
    with sqlite3.connect(tmp_path / "bilancio.db") as con:
        con.execute("UPDATE jobs SET code_version = '0.1.0' WHERE job_id = 'orig'")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = bilancio("rerun", str(tmp_path / "sweep"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert "8/8 runs identical" in proc.stdout
    assert "job orig was computed by 0.1.0" in proc.stderr


def test_config_hash_normalises_floats() -> None:
    from bilancio.model import ModelParams
    from bilancio.sweep.records import config_hash

    assert config_hash(ModelParams(kappa=0.1 + 0.2)) == config_hash(ModelParams(kappa=0.3))
    assert config_hash(ModelParams(kappa=0.3)) != config_hash(ModelParams(kappa=0.31))
    assert config_hash(ModelParams(seed=1)) != config_hash(ModelParams(seed=2))


def test_skip_completed_reuses_runs_from_earlier_jobs(tmp_path) -> None:
    assert bilancio("-m", "kappa=0.5,1", "n_agents=20", "job.id=a", cwd=tmp_path).returncode == 0
    proc = bilancio(
        "-m", "kappa=0.5,1,2", "n_agents=20", "job.id=b", "job.skip_completed=true", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 pairs (2 already done)" in proc.stderr
    db = tmp_path / "bilancio.db"
    job = rows(db, "SELECT * FROM jobs WHERE job_id = 'b'")[0]
    assert (job["reused_runs"], job["completed_runs"], job["status"]) == (4, 6, "completed")
    a = {
        r["run_id"][-12:]: r["delta_total"]
        for r in rows(db, "SELECT run_id, delta_total FROM metrics WHERE job_id = 'a'")
    }
    b = {
        r["run_id"][-12:]: r["delta_total"]
        for r in rows(db, "SELECT run_id, delta_total FROM metrics WHERE job_id = 'b'")
    }
    assert all(b[k] == v for k, v in a.items())  # the reused pairs carry the same results
    assert rows(db, "SELECT n_pairs FROM job_metrics WHERE job_id = 'b'")[0]["n_pairs"] == 3


def test_rerun_passes_hydra_overrides_through(tmp_path) -> None:
    assert bilancio(*SWEEP, "job.id=orig", cwd=tmp_path).returncode == 0
    proc = bilancio(
        "rerun",
        "orig",
        "+cloud=modal",
        "storage=sqlite",
        "hydra.launcher.executor=local",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "8/8 runs identical" in proc.stdout
