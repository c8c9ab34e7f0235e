"""A failing job never sinks the sweep; resume; two sweeps into one database.

A job that raises is simulated at one seam: ``bilancio.sweep.job._run_pair`` is wrapped so that
the pair with κ = 0.5 raises, as a bug in the model would. Everything else is real (Hydra, the
bilancio sweeper, the launcher's worker processes, which inherit the patch by fork, SQLite).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bilancio.sweep import job as job_module
from bilancio.sweep.orchestrate import LAST_SWEEP

from .sweep_helpers import SCRIPT, bilancio, rows

SWEEP = ["-m", "kappa=0.25,0.5,1.0", "n_agents=20", "maturity_days=5"]


@pytest.fixture
def kappa_half_raises(monkeypatch):
    real = job_module._run_pair

    def flaky(params):
        if params.kappa == 0.5:
            raise RuntimeError("model exploded at kappa=0.5")
        return real(params)

    monkeypatch.setattr(job_module, "_run_pair", flaky)


@pytest.mark.parametrize("launcher", ["basic", "pool"])
def test_failing_job_becomes_a_failed_run_and_the_sweep_goes_on(
    in_process, kappa_half_raises, capsys, tmp_path: Path, launcher: str
) -> None:
    code = in_process(*SWEEP, f"hydra/launcher={launcher}")
    out = capsys.readouterr()
    assert code == 1
    db = tmp_path / "bilancio.db"
    runs = rows(db, "SELECT job_num, regime, status, error FROM runs ORDER BY job_num, regime")
    assert [(r["job_num"], r["status"]) for r in runs] == [
        (0, "completed"),
        (0, "completed"),
        (1, "failed"),
        (1, "failed"),
        (2, "completed"),
        (2, "completed"),
    ]
    assert all(
        "RuntimeError: model exploded at kappa=0.5" in r["error"]
        for r in runs
        if r["status"] == "failed"
    )
    assert rows(db, "SELECT COUNT(*) AS n FROM metrics")[0]["n"] == 4
    job = rows(db, "SELECT * FROM jobs")[0]
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("failed", 4, 2)
    assert "1 of 3 jobs failed" in job["error"]
    # the callback ran after the failure: job_metrics over the 2 completed pairs
    assert rows(db, "SELECT n_pairs FROM job_metrics")[0]["n_pairs"] == 2
    assert "FAILED: 1 job(s)" in out.out and "kappa=0.5" in out.out
    assert "model exploded" in out.out
    events = [e["event_type"] for e in rows(db, "SELECT event_type FROM job_events ORDER BY id")]
    assert events == ["created", "started", "failed"]
    assert LAST_SWEEP[-1].failures[0][0] == 1


def test_resume_runs_only_what_is_missing(
    in_process, kappa_half_raises, monkeypatch, capsys, tmp_path: Path
) -> None:
    assert in_process(*SWEEP, "job.id=resume-me") == 1
    db = tmp_path / "bilancio.db"
    before = {r["run_id"]: r for r in rows(db, "SELECT * FROM runs")}
    monkeypatch.undo()  # the bug is fixed
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert in_process(*SWEEP, "job.id=resume-me") == 0
    err = capsys.readouterr().err
    assert "3 pairs (2 already done)" in err
    after = {r["run_id"]: r for r in rows(db, "SELECT * FROM runs")}
    assert len(after) == 6 and all(r["status"] == "completed" for r in after.values())
    for run_id, row in before.items():
        if row["status"] == "completed":  # untouched: same completion time
            assert after[run_id]["completed_at"] == row["completed_at"]
    assert rows(db, "SELECT COUNT(*) AS n FROM metrics")[0]["n"] == 6
    job = rows(db, "SELECT * FROM jobs")[0]
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 6, 0)
    assert rows(db, "SELECT n_pairs FROM job_metrics")[0]["n_pairs"] == 3
    events = [e["event_type"] for e in rows(db, "SELECT event_type FROM job_events ORDER BY id")]
    assert events == ["created", "started", "failed", "resumed", "started", "completed"]


def test_same_sweep_twice_into_one_database_never_duplicates(tmp_path: Path) -> None:
    for _ in range(2):
        proc = bilancio(*SWEEP, "job.id=twice", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    db = tmp_path / "bilancio.db"
    assert rows(db, "SELECT COUNT(*) AS n FROM runs")[0]["n"] == 6
    assert rows(db, "SELECT COUNT(*) AS n FROM metrics")[0]["n"] == 6
    assert rows(db, "SELECT COUNT(*) AS n FROM job_metrics")[0]["n"] == 1
    assert rows(db, "SELECT COUNT(*) AS n FROM jobs")[0]["n"] == 1


def test_resume_with_different_parameters_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    assert bilancio(*SWEEP, "job.id=fixed", cwd=tmp_path).returncode == 0
    db = tmp_path / "bilancio.db"
    before = {t: rows(db, f"SELECT * FROM {t}") for t in ("jobs", "runs", "metrics", "job_events")}
    proc = bilancio(
        "-m", "kappa=4,0.5,1.0", "n_agents=20", "maturity_days=5", "job.id=fixed", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "already holds a completed pair #0 with other parameters" in proc.stderr
    assert "kappa=4" in proc.stderr and "Nothing was run or written." in proc.stderr
    assert "Traceback" not in proc.stderr
    # the completed job, its overrides, its runs and its events are exactly as they were
    after = {t: rows(db, f"SELECT * FROM {t}") for t in ("jobs", "runs", "metrics", "job_events")}
    assert after == before
    assert after["jobs"][0]["status"] == "completed"


def test_two_sweeps_into_one_database_at_once(tmp_path: Path) -> None:
    args = ["-m", "kappa=0.25,0.5,1,2", "mu=0,0.5,1", "n_agents=30"]
    procs = [
        subprocess.Popen(
            [str(SCRIPT), *args, f"job.id=concurrent-{i}", f"seed={i}", "hydra/launcher=pool"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    db = tmp_path / "bilancio.db"
    for i in range(2):
        job = rows(db, "SELECT * FROM jobs WHERE job_id = ?", f"concurrent-{i}")[0]
        assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 24, 0)
        n = rows(db, "SELECT COUNT(*) AS n FROM metrics WHERE job_id = ?", f"concurrent-{i}")
        assert n[0]["n"] == 24
    assert rows(db, "SELECT COUNT(*) AS n FROM job_metrics")[0]["n"] == 2


def _wait_for_runs(db: Path, at_least: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        if db.exists():
            try:
                if rows(db, "SELECT COUNT(*) AS n FROM runs")[0]["n"] >= at_least:
                    return
            except Exception:  # the schema is still being created
                pass
        time.sleep(0.05)
    raise AssertionError("no runs appeared")


@pytest.mark.parametrize(("launcher", "sig"), [("basic", signal.SIGINT), ("pool", signal.SIGTERM)])
def test_interrupted_sweep_is_marked_and_resumable(
    tmp_path: Path, launcher: str, sig: signal.Signals
) -> None:
    args = [
        "-m",
        "kappa=0.25,0.5,1,2",
        "concentration=0.2,0.5,1,2,5",
        "mu=0,0.25,0.5,0.75,1",
        "seed=1,2,3",
        "n_agents=100",
        "job.id=stop-me",
        f"hydra/launcher={launcher}",
    ]
    proc = subprocess.Popen(
        [str(SCRIPT), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = tmp_path / "bilancio.db"
    _wait_for_runs(db, 10, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig  # 130 for SIGINT, 143 for SIGTERM (README)
    assert "Traceback" not in err
    name = signal.Signals(sig).name
    stop = [line for line in err.splitlines() if line.startswith("bilancio: interrupted")]
    assert len(stop) == 1 and re.fullmatch(
        rf"bilancio: interrupted \({name}\) after \d+ of 300 pairs; resume with "
        rf"job.id=stop-me: bilancio -m .* job.id=stop-me",
        stop[0],
    ), stop
    stored = rows(db, "SELECT COUNT(*) AS n FROM runs WHERE status = 'completed'")[0]["n"] // 2
    assert f"after {stored} of 300 pairs" in stop[0]  # workers' pairs included
    job = rows(db, "SELECT * FROM jobs")[0]
    assert job["status"] == "failed"
    assert "interrupted" in job["error"] and "resume with job.id=stop-me" in job["error"]
    events = [e["event_type"] for e in rows(db, "SELECT event_type FROM job_events ORDER BY id")]
    assert events[-1] == "interrupted"
    done = rows(db, "SELECT COUNT(*) AS n FROM runs WHERE status = 'completed'")[0]["n"]
    assert 0 < done < 600
    resumed = bilancio(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr
    job = rows(db, "SELECT * FROM jobs")[0]
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 600, 0)
    assert rows(db, "SELECT COUNT(*) AS n FROM metrics")[0]["n"] == 600


def test_sweeps_that_share_a_folder_name_each_get_their_own(tmp_path: Path) -> None:
    """Hydra names the folder after the second a sweep started; two sweeps started in the same
    second (here: the same folder given) never write into each other's folder."""
    procs = [
        subprocess.Popen(
            [str(SCRIPT), *SWEEP, f"job.id=same-{i}", "hydra.sweep.dir=multirun/together"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    owners = {}
    for marker in (tmp_path / "multirun").glob("together*/bilancio_job.json"):
        owners[marker.parent.name] = json.loads(marker.read_text())["job_id"]
    assert sorted(owners.values()) == ["same-0", "same-1", "same-2"]
    assert "together" in owners and all(
        name == "together" or name == f"together-{job}" for name, job in owners.items()
    )


def test_a_refused_sweep_leaves_no_folder(tmp_path: Path) -> None:
    assert bilancio(*SWEEP, "job.id=kept", cwd=tmp_path).returncode == 0
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "multirun").rglob("*"))
    time.sleep(1.1)  # a new second: Hydra would name a new folder
    proc = bilancio(
        "-m", "kappa=3,4,5", "n_agents=20", "maturity_days=5", "job.id=kept", cwd=tmp_path
    )
    assert proc.returncode == 2
    after = sorted(p.relative_to(tmp_path) for p in (tmp_path / "multirun").rglob("*"))
    assert after == before
