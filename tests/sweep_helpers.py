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
