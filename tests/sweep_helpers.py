"""Helpers for the sweep tests: the installed command in a subprocess, and tables as dicts."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("bilancio")
REPO = Path(__file__).resolve().parent.parent
# the deployment plan's test sweep
PLAN = [
    "-m",
    "kappa=0.5,1.0",
    "n_agents=50",
    "maturity_days=10",
    "concentration=1.0",
    "mu=0.5",
    "outside_mid_ratio=1.0",
]


def bilancio(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def rows(db: Path, sql: str, *params: object) -> list[dict]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


def start_sweep(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """The installed command in the background, its output captured."""
    return subprocess.Popen(
        [str(SCRIPT), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def stored_runs(db: Path) -> int:
    """Runs in an SQLite file another process is writing (0 while its tables are being made)."""
    try:
        return len(rows(db, "SELECT 1 FROM runs")) if db.exists() else 0
    except sqlite3.Error:
        return 0


def wait_for_runs(db: Path, proc: subprocess.Popen, runs: int, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while stored_runs(db) < runs:
        assert proc.poll() is None, "the sweep ended before it was expected to"
        assert time.monotonic() < deadline, "no runs appeared"
        time.sleep(0.02)


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that takes the file's write lock and keeps it for ``seconds``; returns
    once the lock is held."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; db = sqlite3.connect(sys.argv[1], isolation_level=None);"
            "db.execute('BEGIN EXCLUSIVE'); print('held', flush=True);"
            "time.sleep(float(sys.argv[2])); db.execute('ROLLBACK')",
            str(db),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def report_inputs(db: Path, job_id: str) -> tuple[dict, list, object]:
    """(the job row, its cells, its pairs frame) as ``bilancio report`` reads them."""
    from bilancio.analysis.results import pairs_frame
    from bilancio.analysis.summary import job_cells
    from bilancio.storage import open_store

    store = open_store({"backend": "sqlite", "path": str(db)})
    try:
        job = store.get_job(job_id)
        cells, _ = job_cells(store, job_id, job)
        return job, cells, pairs_frame(store.job_runs(job_id))
    finally:
        store.close()


def whole_config(db: Path, stored: str) -> dict:
    """A run row's config as bilancio reads it: a row holds what differs from its job's config
    (issue 15), or, written before, the whole config."""
    import json

    from bilancio.rows import DIFF_MARK, config_digest, full_config, is_config_diff

    config = json.loads(stored)
    if not is_config_diff(config):
        return config
    for job in rows(db, "SELECT config FROM jobs"):
        base = json.loads(job["config"])
        if config_digest(base) == config[DIFF_MARK]:
            return full_config(config, base)
    raise AssertionError("no job row holds the config this run was stored against")
