"""Ctrl-C and SIGTERM always leave the job marked, print one line and no traceback, and exit 130
or 143 — whatever instant they land.

Two ways of choosing the instant, both with real signals sent to a real process:

* every write instant: in this process, a SIGINT is sent while each SQL statement of a write
  transaction runs (BEGIN, every INSERT/UPDATE, COMMIT), one sweep per statement — exactly the
  windows in which a signal used to leave a transaction open and the job ``running``. The only
  seam is a trace callback on the SQLite connections bilancio opens; the signal, the handler and
  the database are real.
* random moments: the installed command in a subprocess, SIGINT or SIGTERM after a random
  delay, from start-up to the end of the sweep.
After every signal the database is checked: never a job left ``running``, never half a pair,
``PRAGMA integrity_check`` ok, and resuming completes the job with every pair once.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bilancio import interrupts
from bilancio.storage import sqlite_db

from .sweep_helpers import SCRIPT, hold_write_lock, rows, start_sweep, wait_for_runs

SMALL = ["-m", "kappa=0.5,1", "n_agents=20", "maturity_days=5", "job.id=instant"]


def _check_database(db: Path, pairs: int) -> list[dict]:
    """The invariants that must hold after any interrupt; returns the job rows."""
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
    jobs = rows(db, "SELECT * FROM jobs")
    assert len(jobs) <= 1
    for job in jobs:
        assert job["status"] in ("completed", "failed"), job
        if job["status"] == "failed":
            assert "interrupted" in job["error"] and "job.id=" in job["error"], job["error"]
    per_pair = rows(db, "SELECT job_num, COUNT(*) AS n FROM runs GROUP BY job_num")
    assert all(r["n"] == 2 for r in per_pair), per_pair  # a pair is stored whole or not at all
    assert len(per_pair) <= pairs
    done = {r["run_id"] for r in rows(db, "SELECT run_id FROM runs WHERE status = 'completed'")}
    assert done == {r["run_id"] for r in rows(db, "SELECT run_id FROM metrics")}
    return jobs


class _SignalAtStatement:
    """Counts the statements run inside write transactions; sends SIGINT during number k."""

    def __init__(self, k: int | None):
        self.k, self.count, self.sent_during = k, 0, None

    def __call__(self, statement: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if interrupts._depth == 0:  # not inside a transaction: not an instant this test owns
            return
        if statement.startswith(("CREATE", "PRAGMA")):  # the schema: its BEGIN/COMMIT suffice
            return
        self.count += 1
        if self.count == self.k:
            self.sent_during = statement
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def traced(monkeypatch):
    real = sqlite_db.connect
    hook = _SignalAtStatement(None)

    def connect(path, *, read_only):
        db = real(path, read_only=read_only)
        db.set_trace_callback(hook)
        return db

    monkeypatch.setattr(sqlite_db, "connect", connect)
    return hook


def test_a_signal_during_any_write_leaves_the_job_marked(
    in_process, traced, capsys, tmp_path: Path
) -> None:
    assert in_process(*SMALL) == 0
    total = traced.count
    assert total > 25  # schema, job row, events, two pairs, the finish, job_metrics
    capsys.readouterr()
    seen = set()
    for k in range(1, total + 1):
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        os.chdir(folder)
        traced.k, traced.count = k, 0
        code = in_process(*SMALL)
        err = capsys.readouterr().err
        seen.add(traced.sent_during.split()[0].upper())
        assert code == 130, (k, traced.sent_during, err)
        assert "Traceback" not in err
        assert err.count("interrupted") == 1, err
        jobs = _check_database(folder / "bilancio.db", 2)
        if jobs and jobs[0]["status"] == "failed":
            assert "resume with job.id=instant" in err
        traced.k = None
        if k % 5 and k != total:  # resuming is the same for neighbouring instants
            continue
        assert in_process(*SMALL) == 0, capsys.readouterr().err  # resuming completes it
        capsys.readouterr()
        job = rows(folder / "bilancio.db", "SELECT * FROM jobs")[0]
        assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 4, 0)
        assert rows(folder / "bilancio.db", "SELECT n_pairs FROM job_metrics")[0]["n_pairs"] == 2
    assert {"BEGIN", "INSERT", "UPDATE", "COMMIT"} <= seen


def _sweep(tmp_path: Path, launcher: str) -> subprocess.Popen:
    args = [
        "-m",
        "kappa=0.25,0.5,1,2",
        "concentration=0.5,1,2",
        "mu=0,0.5,1",
        "seed=1,2",
        "n_agents=50",
        "job.id=random-moment",
        f"hydra/launcher={launcher}",
    ]
    return subprocess.Popen(
        [str(SCRIPT), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ), args


@pytest.mark.slow
def test_real_signals_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    outcomes = []
    for i in range(8):
        sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
        launcher = ("basic", "pool")[(i // 2) % 2]
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        proc, args = _sweep(folder, launcher)
        time.sleep(rng.uniform(0.15, 2.5))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        outcomes.append(proc.returncode)
        assert "Traceback" not in err, err
        if proc.returncode in (0, -sig):
            # it had finished (or was tearing the interpreter down, where Python has already
            # restored the default handlers) before the signal arrived — or had not yet
            # started: then nothing was written
            jobs = _check_database(folder / "bilancio.db", 72)
            assert [j["status"] for j in jobs] in ([], ["completed"]), (proc.returncode, err)
            continue
        assert proc.returncode == 128 + sig, (proc.returncode, err)
        assert err.count("bilancio: interrupted") == 1 or "\nbilancio: interrupted" in err
        jobs = _check_database(folder / "bilancio.db", 72)
        resumed = subprocess.run(
            [str(SCRIPT), *args], cwd=folder, capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
        job = rows(folder / "bilancio.db", "SELECT * FROM jobs")[0]
        assert (job["status"], job["completed_runs"]) == ("completed", 144)
        if jobs:
            assert "already done" in resumed.stderr
    assert sum(code in (130, 143) for code in outcomes) >= 4  # most signals landed mid-sweep


def test_a_deferred_section_holds_a_signal_until_it_ends() -> None:
    previous = {s: signal.getsignal(s) for s in interrupts.HANDLED}
    interrupts.install()
    try:
        reached = []
        with pytest.raises(interrupts.Interrupted) as caught, interrupts.deferred():
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.01)
                reached.append("inner end")
            reached.append("outer end")  # still held: the outer section is open
        assert reached == ["inner end", "outer end"]
        assert caught.value.signum == signal.SIGTERM and caught.value.exit_code == 143
        with pytest.raises(interrupts.Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        assert caught.value.exit_code == 130
        assert interrupts.pending() is None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@pytest.mark.parametrize("stream", ["stderr", "stdout"])
def test_a_reader_that_goes_away_does_not_stop_the_sweep(tmp_path: Path, stream: str) -> None:
    """`bilancio -m … 2>&1 | head -1`: the pipe closes after one line; the sweep goes on."""
    args = [str(SCRIPT), "-m", "kappa=0.25,0.5,1,2", "mu=0,0.5,1", "seed=1,2,3", "n_agents=100"]
    pipe = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    if stream == "stderr":
        pipe = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    proc = subprocess.Popen([*args, "job.id=pipe"], cwd=tmp_path, **pipe)
    reader = proc.stdout if stream == "stdout" else proc.stderr
    reader.readline()
    reader.close()  # as `head -1` does
    assert proc.wait(timeout=120) == 0
    job = rows(tmp_path / "bilancio.db", "SELECT * FROM jobs")[0]
    assert (job["status"], job["completed_runs"]) == ("completed", 72)
    assert rows(tmp_path / "bilancio.db", "SELECT n_pairs FROM job_metrics")[0]["n_pairs"] == 36


def test_a_second_signal_while_the_database_is_locked(tmp_path: Path) -> None:
    """Ctrl-C while a write waits for another process's lock, and Ctrl-C again while the job is
    being marked: the command ends at once, says what it could not do, and how to resume."""
    db = tmp_path / "bilancio.db"
    args = ["-m", "kappa=range(1,400)", "n_agents=50", "storage.busy_timeout=30", "job.id=held"]
    sweep = start_sweep(*args, cwd=tmp_path)
    wait_for_runs(db, sweep, 1)
    holder = hold_write_lock(db, 60)
    try:
        time.sleep(1.5)  # the sweep is now waiting for the lock
        first = time.monotonic()
        sweep.send_signal(signal.SIGINT)
        time.sleep(1.5)  # now it is trying to mark the job, still locked out
        sweep.send_signal(signal.SIGINT)
        out, err = sweep.communicate(timeout=30)
        took = time.monotonic() - first
    finally:
        holder.kill()
    assert sweep.returncode == 130 and "Traceback" not in err
    assert took < 8  # not the 30 s of storage.busy_timeout
    assert "interrupted again while recording the stop; job held stays 'running'" in err
    assert re.search(r"bilancio: interrupted \(SIGINT\) after \d+ of 399 pairs; resume", err)
    resumed = subprocess.run(
        [str(SCRIPT), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr  # its lease ended with the process
    _check_database(db, 399)
