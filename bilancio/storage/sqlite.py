"""The embedded store: one SQLite file, safe for several processes and sweeps at once.

WAL journaling lets readers and one writer work together; every write is one short
``BEGIN IMMEDIATE`` transaction, and a busy timeout makes concurrent writers wait their turn.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from bilancio.storage import JobNotFound, StoreError
from bilancio.sweep.records import JobRecord, MetricsRecord, RunRecord, as_row, now_iso

JSON_COLUMNS = {
    "jobs": (
        "kappas",
        "concentrations",
        "mus",
        "outside_mid_ratios",
        "seeds",
        "overrides",
        "config",
    ),
    "runs": ("config",),
    "metrics": ("raw_metrics",),
    "job_events": ("details",),
    "job_metrics": ("raw_summary",),
}
BUSY_TIMEOUT_S = 60.0
# columns added after the first release of this schema: (table, column, type and default)
ADDED_COLUMNS = (("jobs", "reused_runs", "INTEGER DEFAULT 0"),)


def schema_sql() -> str:
    return files("bilancio.storage").joinpath("sqlite_schema.sql").read_text()


class SQLiteStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._write() as db:
                for statement in _statements(schema_sql()):
                    db.execute(statement)
                for table, column, kind in ADDED_COLUMNS:  # files made by an older bilancio
                    present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
                    if column not in present:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the SQLite database {self.path}: {err}") from err

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction, retried while another process holds the write lock."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writes ------------------------------------------------------------------------------

    def create_job(self, job: JobRecord) -> bool:
        row = _encode("jobs", as_row(job))
        with self._write() as db:
            exists = db.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job.job_id,)).fetchone()
            if exists:
                db.execute(
                    "UPDATE jobs SET status = 'running', completed_at = NULL, error = NULL, "
                    "total_runs = ?, overrides = ?, config = ?, code_version = ? WHERE job_id = ?",
                    (
                        row["total_runs"],
                        row["overrides"],
                        row["config"],
                        row["code_version"],
                        job.job_id,
                    ),
                )
                return False
            _insert(db, "jobs", row)
            return True

    def add_event(self, job_id: str, event_type: str, details: dict[str, Any]) -> None:
        with self._write() as db:
            _insert(
                db,
                "job_events",
                _encode(
                    "job_events",
                    {
                        "job_id": job_id,
                        "event_type": event_type,
                        "details": details,
                        "timestamp": now_iso(),
                    },
                ),
            )

    def save_runs(self, runs: Sequence[RunRecord], metrics: Sequence[MetricsRecord]) -> None:
        with self._write() as db:
            for run in runs:
                _upsert(db, "runs", _encode("runs", as_row(run)), key="run_id")
            for m in metrics:
                _upsert(db, "metrics", _encode("metrics", as_row(m)), key="run_id")

    def finish_job(self, job_id: str, status: str, error: str | None) -> dict[str, int]:
        with self._write() as db:
            counts = _run_counts(db, job_id)
            db.execute(
                "UPDATE jobs SET status = ?, error = ?, completed_at = ?, completed_runs = ?, "
                "failed_runs = ? WHERE job_id = ?",
                (status, error, now_iso(), counts["completed"], counts["failed"], job_id),
            )
        return counts

    def save_job_metrics(self, job_id: str, row: dict[str, Any]) -> None:
        with self._write() as db:
            _upsert(
                db, "job_metrics", _encode("job_metrics", {"job_id": job_id, **row}), key="job_id"
            )

    # -- reads -------------------------------------------------------------------------------

    def completed_runs(self, job_id: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT run_id, config_hash FROM runs WHERE job_id = ? AND status = 'completed'",
            (job_id,),
        )
        return {r["run_id"]: r["config_hash"] for r in rows}

    def completed_by_hash(self, hashes: set[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """config_hash → regime → a completed run of that hash (with its metrics), any job."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        wanted = sorted(hashes)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = self._db.execute(
                "SELECT r.*, m.delta_total, m.phi_total, m.n_defaults, m.n_clears, "
                "m.time_to_stability, m.trading_effect, m.total_trades, m.total_trade_volume, "
                "m.raw_metrics FROM runs r JOIN metrics m ON m.run_id = r.run_id "
                f"WHERE r.status = 'completed' AND r.config_hash IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for r in rows:
                row = _decode("runs", dict(r))
                row["raw_metrics"] = json.loads(row["raw_metrics"])
                out.setdefault(row["config_hash"], {}).setdefault(row["regime"], row)
        return out

    def set_reused(self, job_id: str, count: int) -> None:
        with self._write() as db:
            db.execute("UPDATE jobs SET reused_runs = ? WHERE job_id = ?", (count, job_id))

    def list_jobs(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT j.*, m.mean_trading_effect FROM jobs j "
            "LEFT JOIN job_metrics m ON m.job_id = j.job_id "
            "ORDER BY j.created_at DESC, j.job_id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_decode("jobs", dict(r)) for r in self._db.execute(sql)]

    def get_job(self, job_id: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r} in {self.path}")
        job = _decode("jobs", dict(row))
        metrics = self._db.execute("SELECT * FROM job_metrics WHERE job_id = ?", (job_id,))
        found = metrics.fetchone()
        job["job_metrics"] = _decode("job_metrics", dict(found)) if found else None
        events = self._db.execute(
            "SELECT event_type, timestamp, details FROM job_events WHERE job_id = ? ORDER BY id",
            (job_id,),
        )
        job["events"] = [_decode("job_events", dict(e)) for e in events]
        return job

    def job_runs(self, job_id: str, first_pairs: int | None = None) -> list[dict[str, Any]]:
        limit = "" if first_pairs is None else f" AND r.job_num < {int(first_pairs)}"
        rows = self._db.execute(
            "SELECT r.*, m.delta_total, m.phi_total, m.n_defaults, m.n_clears, "
            "m.time_to_stability, m.trading_effect, m.total_trades, m.total_trade_volume, "
            "m.raw_metrics FROM runs r LEFT JOIN metrics m ON m.run_id = r.run_id "
            f"WHERE r.job_id = ?{limit} ORDER BY r.job_num, r.regime DESC",
            (job_id,),
        )
        out = []
        for r in rows:
            row = _decode("runs", dict(r))
            if row.get("raw_metrics") is not None:
                row["raw_metrics"] = json.loads(row["raw_metrics"])
            out.append(row)
        return out

    def job_deltas(self, job_id: str) -> list[dict[str, Any]]:
        """job_num, regime, status and δ of every run of the job (what the aggregate needs)."""
        rows = self._db.execute(
            "SELECT r.job_num, r.regime, r.status, m.delta_total FROM runs r "
            "LEFT JOIN metrics m ON m.run_id = r.run_id WHERE r.job_id = ?",
            (job_id,),
        )
        return [dict(r) for r in rows]

    def table(self, name: str) -> list[dict[str, Any]]:
        """Every row of one table, decoded (for tests and exports)."""
        if name not in JSON_COLUMNS:
            raise ValueError(f"unknown table {name!r}")
        return [_decode(name, dict(r)) for r in self._db.execute(f"SELECT * FROM {name}")]

    def close(self) -> None:
        self._db.close()


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _encode(table: str, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for column in JSON_COLUMNS[table]:
        if column in out and out[column] is not None:
            out[column] = json.dumps(out[column], sort_keys=True)
    if table == "jobs":
        out["cloud"] = int(bool(out.get("cloud")))
    return out


def _decode(table: str, row: dict[str, Any]) -> dict[str, Any]:
    for column in JSON_COLUMNS[table]:
        if row.get(column) is not None:
            row[column] = json.loads(row[column])
    if table == "jobs" and "cloud" in row:
        row["cloud"] = bool(row["cloud"])
    return row


def _insert(db: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))


def _upsert(db: sqlite3.Connection, table: str, row: dict[str, Any], key: str) -> None:
    """Insert, or overwrite every given column of the row with the same key (keeps created_at)."""
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in (key, "created_at"))
    db.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT({key}) DO UPDATE SET {updates}",
        tuple(row.values()),
    )


def _run_counts(db: sqlite3.Connection, job_id: str) -> dict[str, int]:
    rows = db.execute(
        "SELECT status, COUNT(*) AS n FROM runs WHERE job_id = ? GROUP BY status", (job_id,)
    )
    counts = {r["status"]: r["n"] for r in rows}
    return {"completed": counts.get("completed", 0), "failed": counts.get("failed", 0)}
