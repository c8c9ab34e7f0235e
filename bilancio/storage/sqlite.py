"""The embedded store: one SQLite file, safe for several processes and sweeps at once.

WAL journaling lets readers and one writer work together; each write is one short transaction
(``sqlite_db.write_transaction``) and concurrent writers wait their turn for at most
``busy_timeout`` seconds. Every SQLite failure is raised as a :class:`StoreError` that names the
file and the cause. Opened with ``read_only=True`` the file is never created or changed.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from bilancio.redaction import redact
from bilancio.rows import (
    AgentOutcomeRow,
    JobRecord,
    MetricsRecord,
    RunRecord,
    TradeRow,
    as_row,
    full_configs,
    now_iso,
    with_full_configs,
)
from bilancio.storage import JOB_GRID, JobBusy, JobNotFound, StoreError
from bilancio.storage import sqlite_db as sdb

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
    "cell_metrics": ("params", "seeds"),
    "trades": (),
    "agent_outcomes": (),
}
BUSY_TIMEOUT_S = sdb.BUSY_TIMEOUT_S
URGENT_S = 5.0  # a stopping sweep's last writes wait no longer than this
F = TypeVar("F", bound=Callable[..., Any])
RUN_COUNTS = (
    "completed_runs = (SELECT COUNT(*) FROM runs WHERE job_id = jobs.job_id "
    "AND status = 'completed'), failed_runs = (SELECT COUNT(*) FROM runs "
    "WHERE job_id = jobs.job_id AND status = 'failed')"
)


def _guarded(method: F) -> F:
    """Turn any SQLite failure of ``method`` into a StoreError that says what to do."""

    @functools.wraps(method)
    def wrapper(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise StoreError(sdb.explain(self.path, err, self.busy_timeout)) from None

    return wrapper  # type: ignore[return-value]


class SQLiteStore:
    def __init__(
        self, path: str | Path, *, read_only: bool = False, busy_timeout: float = BUSY_TIMEOUT_S
    ):
        self.path, self.read_only = Path(path).expanduser(), read_only
        self.busy_timeout = float(busy_timeout)
        self._db: sqlite3.Connection | None = None
        self._open()

    @_guarded
    def _open(self) -> None:
        self._db = sdb.connect(self.path, read_only=self.read_only)
        if self.read_only:
            sdb.check_readable(self._db, self.path)
        else:
            sdb.prepare_for_writing(self._db, self.busy_timeout)

    @contextmanager
    def urgent(self) -> Iterator[None]:
        """Last writes of a stopping sweep: wait for a lock for at most URGENT_S seconds."""
        saved, self.busy_timeout = self.busy_timeout, min(self.busy_timeout, URGENT_S)
        try:
            yield
        finally:
            self.busy_timeout = saved

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StoreError(f"{self.path} was opened for reading only")
        with sdb.write_transaction(self._db, self.busy_timeout):
            yield self._db

    # -- the job's row and its lease ---------------------------------------------------------

    @_guarded
    def create_job(self, job: JobRecord, *, expected_owner: str | None = None) -> bool:
        """Insert the job, or take over an existing row whose lease holder is still
        ``expected_owner`` (read and judged stale by the caller). JobBusy if it is not."""
        row = _encode("jobs", as_row(job))
        with self._write() as db:
            exists = db.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job.job_id,)).fetchone()
            if not exists:
                _insert(db, "jobs", row)
                return True
            changed = db.execute(
                "UPDATE jobs SET status = 'running', completed_at = NULL, error = NULL, "
                "total_runs = ?, overrides = ?, config = COALESCE(config, ?), code_version = ?, "
                "lease_owner = ?, "
                f"lease_expires_at = ?, {RUN_COUNTS} WHERE job_id = ? AND lease_owner IS ?",
                (
                    row["total_runs"],
                    row["overrides"],
                    row["config"],
                    row["code_version"],
                    job.lease_owner,
                    job.lease_expires_at,
                    job.job_id,
                    expected_owner,
                ),
            ).rowcount
        if not changed:
            raise JobBusy(job.job_id, None)
        return False

    @_guarded
    def job_lease(self, job_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT status, lease_owner, lease_expires_at FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        return dict(row) if row else None

    @_guarded
    def renew_lease(self, job_id: str, owner: str, expires_at: str) -> bool:
        """Extend the lease if ``owner`` still holds it, and record the runs done so far."""
        with self._write() as db:
            return bool(
                db.execute(
                    f"UPDATE jobs SET lease_expires_at = ?, {RUN_COUNTS} "
                    "WHERE job_id = ? AND lease_owner = ?",
                    (expires_at, job_id, owner),
                ).rowcount
            )

    @_guarded
    def finish_job(
        self, job_id: str, status: str, error: str | None, *, owner: str | None = None
    ) -> dict[str, int]:
        """Final status and run counts; the lease is released. With ``owner``, only while that
        owner still holds the lease (JobBusy otherwise: another process took the job over)."""
        with self._write() as db:
            changed = db.execute(
                f"UPDATE jobs SET status = ?, error = ?, completed_at = ?, {RUN_COUNTS}, "
                "lease_owner = NULL, lease_expires_at = NULL "
                "WHERE job_id = ? AND (? IS NULL OR lease_owner IS NULL OR lease_owner = ?)",
                (status, redact(error) if error else None, now_iso(), job_id, owner, owner),
            ).rowcount
            counts = _run_counts(db, job_id)
        if owner is not None and not changed and self.job_lease(job_id) is not None:
            raise JobBusy(job_id, None)
        return counts

    # -- other writes ------------------------------------------------------------------------

    @_guarded
    def add_event(self, job_id: str, event_type: str, details: dict[str, Any]) -> None:
        row = {"job_id": job_id, "event_type": event_type, "details": details}
        with self._write() as db:
            _insert(db, "job_events", _encode("job_events", {**row, "timestamp": now_iso()}))

    @_guarded
    def save_runs(
        self,
        runs: Sequence[RunRecord],
        metrics: Sequence[MetricsRecord],
        *,
        trades: Sequence[TradeRow] = (),
        outcomes: Sequence[AgentOutcomeRow] = (),
    ) -> None:
        with self._write() as db:
            _upsert_many(db, "runs", [_encode("runs", as_row(r)) for r in runs], key="run_id")
            _upsert_many(
                db, "metrics", [_encode("metrics", as_row(m)) for m in metrics], key="run_id"
            )
            _upsert_many(db, "trades", [as_row(t) for t in trades], key="trade_id")
            _upsert_many(db, "agent_outcomes", [as_row(o) for o in outcomes], key="outcome_id")

    @_guarded
    def save_job_metrics(self, job_id: str, row: dict[str, Any]) -> None:
        encoded = _encode("job_metrics", {"job_id": job_id, **row})
        with self._write() as db:
            _upsert(db, "job_metrics", encoded, key="job_id")

    @_guarded
    def save_cell_metrics(self, job_id: str, rows: Sequence[dict[str, Any]]) -> None:
        with self._write() as db:
            encoded = [_encode("cell_metrics", dict(row)) for row in rows]
            _upsert_many(db, "cell_metrics", encoded, key="cell_id")

    @_guarded
    def set_reused(self, job_id: str, count: int) -> None:
        with self._write() as db:
            db.execute("UPDATE jobs SET reused_runs = ? WHERE job_id = ?", (count, job_id))

    @_guarded
    def set_job_grid(self, job_id: str, grid: dict[str, Any]) -> None:
        fields = _encode("jobs", {k: grid[k] for k in JOB_GRID if k in grid})
        fields.pop("cloud", None)
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._write() as db:
            db.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?", (*fields.values(), job_id))

    # -- reads -------------------------------------------------------------------------------

    @_guarded
    def completed_runs(self, job_id: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT run_id, config_hash FROM runs WHERE job_id = ? AND status = 'completed'",
            (job_id,),
        )
        return {r["run_id"]: r["config_hash"] for r in rows}

    @_guarded
    def completed_by_hash(self, hashes: set[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """config_hash → regime → a completed run of that hash (with its metrics), any job."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        wanted = sorted(hashes)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = self._db.execute(
                f"{RUNS_WITH_METRICS} JOIN metrics m ON m.run_id = r.run_id WHERE "
                f"r.status = 'completed' AND r.config_hash IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for r in rows:
                row = _decode("runs", dict(r))
                row["raw_metrics"] = json.loads(row["raw_metrics"])
                out.setdefault(row["config_hash"], {}).setdefault(row["regime"], row)
        with_full_configs([r for both in out.values() for r in both.values()], self._job_config)
        return out

    def _job_config(self, job_id: str) -> Any:
        row = self._db.execute("SELECT config FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return json.loads(row["config"]) if row and row["config"] is not None else None

    @_guarded
    def list_jobs(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT j.*, m.mean_trading_effect FROM jobs j "
            "LEFT JOIN job_metrics m ON m.job_id = j.job_id "
            "ORDER BY j.created_at DESC, j.job_id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_decode("jobs", dict(r)) for r in self._db.execute(sql)]

    @_guarded
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
        return list(self.iter_job_runs(job_id, first_pairs))

    def iter_job_runs(
        self, job_id: str, first_pairs: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """One query, its rows fetched ``PAGE_ROWS`` at a time."""
        limit = "" if first_pairs is None else f" AND r.job_num < {int(first_pairs)}"
        try:
            rows = self._db.execute(
                f"{RUNS_WITH_METRICS} LEFT JOIN metrics m ON m.run_id = r.run_id "
                f"WHERE r.job_id = ?{limit} ORDER BY r.job_num, r.regime DESC",
                (job_id,),
            )
            while page := rows.fetchmany(PAGE_ROWS):
                yield from full_configs(map(_decoded_run, page), self._job_config)
        except sqlite3.Error as err:
            raise StoreError(sdb.explain(self.path, err, self.busy_timeout)) from None

    @_guarded
    def job_cells(self, job_id: str) -> list[dict[str, Any]]:
        if not self._has_table("cell_metrics"):
            return []  # a file from before cell_metrics, opened read-only
        rows = self._db.execute(
            "SELECT * FROM cell_metrics WHERE job_id = ? ORDER BY id", (job_id,)
        )
        return [_decode("cell_metrics", dict(r)) for r in rows]

    @_guarded
    def job_trades(self, job_id: str) -> list[dict[str, Any]]:
        if not self._has_table("trades"):
            return []  # a file from before record.trades, opened read-only
        rows = self._db.execute(
            "SELECT * FROM trades WHERE job_id = ? ORDER BY job_num, seq", (job_id,)
        )
        return [dict(r) for r in rows]

    @_guarded
    def job_agent_outcomes(self, job_id: str) -> list[dict[str, Any]]:
        if not self._has_table("agent_outcomes"):
            return []
        rows = self._db.execute(
            "SELECT * FROM agent_outcomes WHERE job_id = ? ORDER BY job_num, regime DESC, id",
            (job_id,),
        )
        return [_decode("agent_outcomes", dict(r)) for r in rows]

    def _has_table(self, name: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        )
        return found.fetchone() is not None

    @_guarded
    def run_counts(self, job_id: str) -> dict[str, int]:
        return _run_counts(self._db, job_id)

    @_guarded
    def job_deltas(self, job_id: str) -> list[dict[str, Any]]:
        """job_num, regime, status and δ of every run of the job (what the aggregate needs)."""
        rows = self._db.execute(
            "SELECT r.job_num, r.regime, r.status, m.delta_total FROM runs r "
            "LEFT JOIN metrics m ON m.run_id = r.run_id WHERE r.job_id = ?",
            (job_id,),
        )
        return [dict(r) for r in rows]

    @_guarded
    def table(self, name: str) -> list[dict[str, Any]]:
        """Every row of one table, decoded (for tests and exports)."""
        if name not in JSON_COLUMNS:
            raise ValueError(f"unknown table {name!r}")
        return [_decode(name, dict(r)) for r in self._db.execute(f"SELECT * FROM {name}")]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


RUNS_WITH_METRICS = (
    "SELECT r.*, m.delta_total, m.phi_total, m.n_defaults, m.n_clears, m.time_to_stability, "
    "m.trading_effect, m.total_trades, m.total_trade_volume, m.raw_metrics FROM runs r"
)


PAGE_ROWS = 2000  # rows fetched at a time by iter_job_runs
_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(..., sort_keys=True), made once


def _decoded_run(found: sqlite3.Row) -> dict[str, Any]:
    """A row of RUNS_WITH_METRICS as a run with its metrics (JSON columns decoded)."""
    row = _decode("runs", dict(found))
    if row.get("raw_metrics") is not None:
        row["raw_metrics"] = json.loads(row["raw_metrics"])
    return row


def _encode(table: str, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for column in JSON_COLUMNS[table]:
        if column in out and out[column] is not None:
            out[column] = _JSON.encode(out[column])
    if table == "jobs":
        out["cloud"] = int(bool(out.get("cloud")))
    return out


def _decode(table: str, row: dict[str, Any]) -> dict[str, Any]:
    for column in JSON_COLUMNS[table]:
        if row.get(column) is not None:
            row[column] = json.loads(row[column])
    if table == "jobs" and "cloud" in row:
        row["cloud"] = bool(row["cloud"])
    if table == "agent_outcomes" and "defaulted" in row:
        row["defaulted"] = bool(row["defaulted"])
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


def _upsert_many(db: sqlite3.Connection, table: str, rows: list[dict[str, Any]], key: str) -> None:
    """:func:`_upsert` for many rows, one prepared statement per set of columns (in order)."""
    start = 0
    while start < len(rows):
        columns = tuple(rows[start])
        end = start + 1
        while end < len(rows) and tuple(rows[end]) == columns:
            end += 1
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in (key, "created_at"))
        db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT({key}) DO UPDATE SET {updates}",
            [tuple(r.values()) for r in rows[start:end]],
        )
        start = end


def _run_counts(db: sqlite3.Connection, job_id: str) -> dict[str, int]:
    rows = db.execute(
        "SELECT status, COUNT(*) AS n FROM runs WHERE job_id = ? GROUP BY status", (job_id,)
    )
    counts = {r["status"]: r["n"] for r in rows}
    return {"completed": counts.get("completed", 0), "failed": counts.get("failed", 0)}
