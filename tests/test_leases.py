"""Resume and concurrency: a job that another process is running cannot be resumed, a crashed
process's lease ends, and ``jobs ls``/``jobs show`` show a running job's progress.

Real processes throughout: the sweeps are the installed command, one of them killed with
SIGKILL; the heartbeat is sped up with ``job.heartbeat_seconds``.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .sweep_helpers import SCRIPT, bilancio, rows

ARGS = [
    "-m",
    "kappa=0.25,0.5,1,2,4",
    "concentration=0.5,1,2",
    "mu=0,0.5,1",
    "seed=range(1,6)",
    "n_agents=200",
    "default_handling=expel-agent",  # runs go on after a default, so pairs take their time
    "job.heartbeat_seconds=0.3",
]  # 225 pairs, a few seconds


# few but long pairs: the sweep is still running while other commands look at it
LONG = [
    "-m",
    "kappa=0.5,1,2,4",
    "seed=range(1,21)",
    "n_agents=8000",  # about 0.1 s a pair with the compiled model: 8 s in all
    "default_handling=expel-agent",
    "job.heartbeat_seconds=0.5",
]


def _start(folder: Path, job_id: str, args: list[str] = ARGS) -> subprocess.Popen:
    return subprocess.Popen(
        [str(SCRIPT), *args, f"job.id={job_id}"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(db: Path, proc: subprocess.Popen, runs: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, "the sweep ended too early"
        assert time.monotonic() < deadline
        try:
            if db.exists() and len(rows(db, "SELECT 1 FROM runs")) >= runs:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)


def _wait_for_owner(db: Path, proc: subprocess.Popen) -> None:
    """Until ``proc`` holds the job's lease (its owner is host/pid/...)."""
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, "the sweep ended too early"
        assert time.monotonic() < deadline, "it never took the lease"
        try:
            owners = [r["lease_owner"] or "" for r in rows(db, "SELECT lease_owner FROM jobs")]
            if any(o.split("/")[1:2] == [str(proc.pid)] for o in owners):
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)


def _every_pair_once(db: Path, job_id: str, pairs: int = 225) -> None:
    job = rows(db, "SELECT * FROM jobs WHERE job_id = ?", job_id)[0]
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 2 * pairs, 0)
    assert job["lease_owner"] is None  # released at the end
    assert len(rows(db, "SELECT run_id FROM runs WHERE job_id = ?", job_id)) == 2 * pairs
    metrics = rows(db, "SELECT run_id FROM metrics WHERE job_id = ?", job_id)
    assert len(metrics) == len({m["run_id"] for m in metrics}) == 2 * pairs
    assert rows(db, "SELECT n_pairs FROM job_metrics WHERE job_id = ?", job_id)[0]["n_pairs"] == (
        pairs
    )


def test_a_running_job_cannot_be_resumed_by_a_second_process(tmp_path: Path) -> None:
    db = tmp_path / "bilancio.db"
    first = _start(tmp_path, "busy", LONG)
    _wait_for(db, first, 4)
    time.sleep(0.6)  # at least one heartbeat
    _check_refused_and_shown(tmp_path, first.pid)
    assert first.poll() is None, "the sweep ended before the checks were done"
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err
    _every_pair_once(db, "busy", 80)
    events = [e["event_type"] for e in rows(db, "SELECT event_type FROM job_events")]
    assert events == ["created", "started", "completed"]  # the refused resume left no trace


def _check_refused_and_shown(tmp_path: Path, pid: int) -> None:
    second = bilancio(*LONG, "job.id=busy", cwd=tmp_path)
    assert second.returncode == 2, second.stderr
    assert f"job busy is being run by another process (pid {pid} on" in second.stderr
    assert "Nothing was run or written." in second.stderr and "Traceback" not in second.stderr
    # jobs ls and jobs show report the pairs done so far while it runs
    listing = bilancio("jobs", "ls", cwd=tmp_path)
    line = next(x for x in listing.stdout.splitlines() if x.startswith("busy "))
    done = int(line.split()[-2].split("/")[0])
    assert "running" in line and 0 < done < 160
    shown = bilancio("jobs", "show", "busy", cwd=tmp_path)
    assert f"running now (pid {pid} on" in shown.stdout


def test_a_crashed_process_lease_ends_at_once(tmp_path: Path) -> None:
    db = tmp_path / "bilancio.db"
    first = _start(tmp_path, "crashed")
    _wait_for(db, first, 40)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    # no waiting for the lease to expire: its holder is gone, on this machine
    shown = bilancio("jobs", "show", "crashed", cwd=tmp_path)
    assert "stale" in shown.stdout and "resume it with job.id=crashed" in shown.stdout
    listing = bilancio("jobs", "ls", cwd=tmp_path).stdout
    assert next(x for x in listing.splitlines() if x.startswith("crashed ")).split()[1] == "stale"
    resumed = bilancio(*ARGS, "job.id=crashed", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr
    _every_pair_once(db, "crashed")


def _set_lease(db: Path, owner: str, seconds: float) -> None:
    until = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires_at = ?",
            (owner, until),
        )
    con.close()


def test_a_lease_held_on_another_machine_lasts_until_it_expires(tmp_path: Path) -> None:
    small = ["-m", "kappa=0.5,1", "n_agents=20", "job.id=elsewhere"]
    assert bilancio(*small, cwd=tmp_path).returncode == 0
    db = tmp_path / "bilancio.db"
    _set_lease(db, "cluster-node-7/4242/abc-123/9f9f9f9f", 60)
    refused = bilancio(*small, cwd=tmp_path)
    assert refused.returncode == 2
    assert "pid 4242 on cluster-node-7" in refused.stderr
    assert rows(db, "SELECT status FROM jobs")[0]["status"] == "running"  # untouched
    _set_lease(db, "cluster-node-7/4242/abc-123/9f9f9f9f", -1)  # it was not renewed in time
    resumed = bilancio(*small, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    job = rows(db, "SELECT * FROM jobs")[0]
    assert (job["status"], job["lease_owner"]) == ("completed", None)


def test_a_process_that_lost_its_lease_stops(tmp_path: Path) -> None:
    """Stopped long enough for its lease to end, a sweep is taken over by another process;
    when it wakes up it stops instead of running the job a second time."""
    db = tmp_path / "bilancio.db"
    fast = [*LONG[:-1], "job.heartbeat_seconds=0.5"]  # a lease ends after 3 s
    first = _start(tmp_path, "taken", fast)
    _wait_for(db, first, 4)
    first.send_signal(signal.SIGSTOP)
    try:
        time.sleep(4)  # its lease ends
        second = _start(tmp_path, "taken", fast)
        _wait_for_owner(db, second)  # however long its start-up takes on a loaded machine
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=180)
    assert first.returncode == 1, err
    assert "was taken over by another process" in err
    out2, err2 = second.communicate(timeout=180)
    assert second.returncode == 0, err2
    _every_pair_once(db, "taken", 80)
    events = [e["event_type"] for e in rows(db, "SELECT event_type FROM job_events")]
    assert events.count("completed") == 1 and "resumed" in events


def test_failed_only_rerun_of_a_running_job_is_refused(tmp_path: Path) -> None:
    first = _start(tmp_path, "live", LONG)
    _wait_for(tmp_path / "bilancio.db", first, 4)
    try:
        proc = bilancio("rerun", "live", "--failed-only", cwd=tmp_path)
        assert proc.returncode == 2
        assert f"job live is being run by another process (pid {first.pid}" in proc.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
