"""The PostgreSQL store (psycopg 3), for the tables of ``sql/`` (run ``bilancio db migrate``).

Writes are batched (one pipelined ``executemany`` per table and batch), idempotent upserts, and
retried with exponential backoff when the connection drops; constraint violations and other
errors of the data are raised at once. The URL (with its password) never appears in a message.

No call waits forever. A server that stops answering (overloaded, paused, a half-open network)
still accepts connections and acknowledges data at the kernel level, so neither TCP keepalives
nor a server-side ``statement_timeout`` end the wait. So every unit of work runs under a
client-side watchdog: after ``timeout`` seconds it shuts the connection's socket down, the
blocked call returns with an error, and the attempt is retried on a new connection like a
dropped one. Connecting is bounded by libpq's ``connect_timeout`` (whole seconds, at least 2;
psycopg enforces it on the client side), and a live but slow server cancels a statement itself
after ``statement_timeout``. See :func:`worst_case_wait` for the longest a call can take.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from bilancio import interrupts
from bilancio.redaction import redact as redact_text
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
from bilancio.storage import (
    DEFAULT_TIMEOUT,
    JOB_GRID,
    JobBusy,
    JobNotFound,
    StoreError,
    check_timeout,
)
from bilancio.storage.migrations import connect_timeout, redact

T = TypeVar("T")
RUN_COUNTS = (
    "completed_runs = (SELECT COUNT(*) FROM runs r WHERE r.job_id = jobs.job_id "
    "AND r.status = 'completed'), failed_runs = (SELECT COUNT(*) FROM runs r "
    "WHERE r.job_id = jobs.job_id AND r.status = 'failed')"
)
RETRIES = 6  # attempts after the first; backoff 0.1 s doubling, so about 6 s in all
FIRST_DELAY = 0.1  # seconds before the first retry; doubled after each one
NOTE_EVERY = 5.0  # seconds between two "not answering" notes on stderr
OPEN_ATTEMPTS = 2  # tries of the first connection of a store
URGENT_S = 5.0  # a stopping sweep's last writes wait no longer than this
PAGE_PAIRS = 5000  # job numbers read at a time by iter_job_runs
RUNS_WITH_METRICS = (  # a run's row with its metrics' columns (followed by the join)
    "SELECT r.*, m.delta_total, m.phi_total, m.n_defaults, m.n_clears, m.time_to_stability, "
    "m.trading_effect, m.total_trades, m.total_trade_volume, m.raw_metrics FROM runs r"
)


def worst_case_wait(timeout: float = DEFAULT_TIMEOUT, retries: int = RETRIES) -> float:
    """The longest one store call can take before it raises StoreError, in seconds.

    Each attempt may spend up to ``connect_timeout(timeout)`` connecting (per host address of
    the URL; this counts one) and then ``timeout`` in the unit of work, and the attempts are
    separated by the backoff. With the default 30 s: 7 × 60 s + 6.3 s, about 7 minutes; a
    server that stops answering usually costs one timeout plus six connect timeouts (3.6 min).
    """
    backoff = sum(FIRST_DELAY * 2**i for i in range(retries))
    return (retries + 1) * (connect_timeout(timeout) + timeout) + backoff


class _Watchdog:
    """One thread per store that shuts a connection's socket down when a unit of work overruns.

    Shutting the socket down (not closing the descriptor, which libpq still owns) wakes the
    blocked libpq call at once with an error; a transaction that was cut is rolled back by the
    server when it sees the connection gone, so a unit of work either commits as a whole or
    not at all, and the retry (an idempotent upsert) makes it complete. One long-lived thread,
    woken only when it sleeps past the new deadline, costs about 20 µs a call, where a
    ``threading.Timer`` a call costs about 180 µs (a local ``SELECT 1`` takes 30–70 µs).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None  # pid of the process whose thread watches; None: none
        self._token: object = None  # the watching thread's; a thread ends when it changes
        self._sock: socket.socket | None = None  # armed: a duplicate of the connection's socket
        self._deadline = 0.0
        self._wakes_at = math.inf  # when the thread wakes next by itself (inf: when notified)
        self._fired = False

    def arm(self, fd: int, seconds: float) -> None:
        if self._owner != os.getpid():  # first use, after close(), or in a forked child
            self._owner, self._cond, self._token = os.getpid(), threading.Condition(), object()
            self._wakes_at = math.inf
            watcher = threading.Thread(
                target=self._run, args=(self._cond, self._token), name="bilancio-pg-watchdog"
            )
            watcher.daemon = True  # never keeps the process alive
            watcher.start()
        sock = socket.socket(fileno=os.dup(fd))
        with self._cond:
            self._sock, self._deadline, self._fired = sock, time.monotonic() + seconds, False
            if self._deadline < self._wakes_at:  # else it wakes in time and sees the new deadline
                self._cond.notify()

    def fire_now(self) -> None:
        """Cut the watched connection at once (an interrupt arrived); never blocks: if the
        watchdog's lock is busy, the deadline will cut it instead."""
        if not self._cond.acquire(blocking=False):
            return
        try:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
                self._fired = True
        finally:
            self._cond.release()

    def disarm(self) -> bool:
        """Stop watching (idempotent); True if the socket was shut down since :meth:`arm`."""
        with self._cond:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()  # only the duplicate descriptor; the connection keeps its own
        return self._fired

    def close(self) -> None:
        self.disarm()
        with self._cond:
            self._owner = self._token = None
            self._cond.notify()

    def _run(self, cond: threading.Condition, token: object) -> None:
        with cond:
            while self._token is token:
                if self._sock is None:
                    self._wakes_at = math.inf
                    cond.wait()
                elif (left := self._deadline - time.monotonic()) > 0:
                    self._wakes_at = self._deadline
                    cond.wait(left)
                else:
                    with contextlib.suppress(OSError):  # OSError: already disconnected
                        self._sock.shutdown(socket.SHUT_RDWR)
                    self._fired = True
                    sock, self._sock = self._sock, None
                    sock.close()


def _reraise_interrupt(started: float) -> None:
    """psycopg may answer a Ctrl-C with an error of its own (the cancelled query's); the user
    asked to stop, so the interrupt is what goes on, never a retry."""
    signum = interrupts.raised_since(started)
    if signum is not None:
        raise interrupts.Interrupted(signum) from None


# connection failures that waiting does not cure: the server answered, and said no (a role,
# password or database that does not exist), or the URL holds an invalid setting
_FOR_GOOD = ("FATAL:", "invalid ", "password authentication failed", "no pg_hba.conf entry")
_PASSING = ("starting up", "shutting down", "too many", "recovery", "terminating")


def _refused_for_good(reason: str) -> bool:
    return any(m in reason for m in _FOR_GOOD) and not any(m in reason for m in _PASSING)


class PostgresStore:
    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = RETRIES):
        self._url, self._retries = url, retries
        self._timeout = check_timeout(timeout)
        self._conn: Any = None
        self._watchdog = _Watchdog()
        self._gave_up = False  # the last call ran out of attempts: the next one tries once
        self._noted = -math.inf  # when the last "not answering" note was printed
        # before any work is at risk, a server that cannot be reached (a wrong host, port or
        # URL) is reported after OPEN_ATTEMPTS tries instead of retried for minutes
        self._call(lambda conn: conn.execute("SELECT 1 FROM jobs LIMIT 0"), OPEN_ATTEMPTS)

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Last writes of a stopping sweep: one attempt, at most URGENT_S seconds."""
        saved = self._retries, self._timeout, self._gave_up
        self._retries, self._timeout, self._gave_up = 0, min(self._timeout, URGENT_S), False
        try:
            yield
        finally:
            self._retries, self._timeout, self._gave_up = saved

    # -- connection and retries --------------------------------------------------------------

    def _connection(self) -> Any:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        if self._conn is None or self._conn.closed:
            # a live but slow server cancels a statement itself after the timeout; options the
            # URL (or $PGOPTIONS) already sets are kept
            given = conninfo_to_dict(self._url).get("options") or os.environ.get("PGOPTIONS", "")
            limit = f"-c statement_timeout={math.ceil(self._timeout * 1000)}"
            self._conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=connect_timeout(self._timeout),
                options=f"{given} {limit}".strip(),
            )
        return self._conn

    def _attempt(self, work: Callable[[Any], T]) -> T:
        """One try of ``work`` on a (new, if need be) connection, under the watchdog."""
        import psycopg

        started = time.monotonic()
        try:
            conn = self._connection()
        except psycopg.Error:
            _reraise_interrupt(started)
            raise
        self._watchdog.arm(conn.fileno(), self._timeout)
        try:
            # Ctrl-C: psycopg cancels the query and waits for the server, which a stalled
            # server never answers; cutting the socket ends that wait at once
            with interrupts.on_interrupt(self._watchdog.fire_now):
                return work(conn)
        except psycopg.Error:
            _reraise_interrupt(started)
            if self._watchdog.disarm():
                raise psycopg.OperationalError(
                    f"no answer within {self._timeout:g} s (storage.timeout)"
                ) from None
            raise
        finally:
            if self._watchdog.disarm():  # cut, even if the answer came just in time
                self._drop()

    def _call(self, work: Callable[[Any], T], attempts: int | None = None) -> T:
        """Run ``work(connection)``, reconnecting and retrying while the server is unreachable.

        At most ``retries + 1`` attempts (one right after a call that ran out of them), each
        bounded by the timeout; see :func:`worst_case_wait`."""
        import psycopg

        delay = FIRST_DELAY
        attempts = 1 if self._gave_up else min(attempts or self._retries + 1, self._retries + 1)
        for attempt in range(1, attempts + 1):
            try:
                result = self._attempt(work)
                self._gave_up = False
                return result
            except psycopg.OperationalError as err:
                self._drop()
                reason = redact(str(err).strip(), self._url)
                if _refused_for_good(reason):  # a wrong role, password, database or option
                    raise StoreError(f"PostgreSQL refused the connection: {reason}") from None
                if attempt == attempts:
                    self._gave_up = True
                    raise StoreError(
                        f"PostgreSQL unreachable after {attempt} attempt"
                        f"{'s' if attempt > 1 else ''}: {reason}"
                    ) from None
                self._note(attempt, attempts, reason, delay)
                time.sleep(delay)
                delay *= 2
            except psycopg.errors.UndefinedTable as err:
                raise StoreError(
                    f"the bilancio tables are missing ({err.diag.message_primary}); "
                    "run `bilancio db migrate` first"
                ) from None
            except psycopg.errors.UndefinedColumn as err:
                raise StoreError(
                    f"the database's schema is older than this bilancio "
                    f"({err.diag.message_primary}); run `bilancio db migrate`"
                ) from None
            except psycopg.ProgrammingError as err:
                if self._conn is None:  # the URL itself could not be read
                    raise StoreError(
                        f"the PostgreSQL URL cannot be used: {redact(str(err).strip(), self._url)}"
                    ) from None
                raise StoreError(
                    f"PostgreSQL refused the request: {redact(str(err), self._url)}"
                ) from None
            except psycopg.Error as err:
                raise StoreError(
                    f"PostgreSQL refused the request: {redact(str(err), self._url)}"
                ) from None
        raise AssertionError("unreachable")

    def _note(self, attempt: int, attempts: int, reason: str, delay: float) -> None:
        """Say on stderr that the server is not answering (at most every NOTE_EVERY seconds)."""
        now = time.monotonic()
        if now - self._noted >= NOTE_EVERY:
            self._noted = now
            first = reason.splitlines()[0] if reason else "no answer"
            print(
                f"bilancio: PostgreSQL is not answering (attempt {attempt} of {attempts} "
                f"failed: {first}; next try in {delay:.1f} s)…",
                file=sys.stderr,
                flush=True,
            )

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- writes ------------------------------------------------------------------------------

    def create_job(self, job: JobRecord, *, expected_owner: str | None = None) -> bool:
        """Insert the job, or take over an existing row whose lease holder is still
        ``expected_owner``; JobBusy if it is not (another process holds the job)."""
        import psycopg

        row = _encode(as_row(job))

        def work(conn: Any) -> bool:
            with conn.transaction():
                exists = conn.execute(
                    "SELECT 1 FROM jobs WHERE job_id = %s FOR UPDATE", (job.job_id,)
                )
                if not exists.fetchone():
                    try:
                        _insert(conn, "jobs", [row])
                    except psycopg.errors.UniqueViolation:  # created by another process just now
                        raise JobBusy(job.job_id, None) from None
                    return True
                changed = conn.execute(
                    "UPDATE jobs SET status = 'running', completed_at = NULL, error = NULL, "
                    "total_runs = %s, overrides = %s::jsonb, "
                    "config = COALESCE(jobs.config, %s::jsonb), "
                    "code_version = %s, lease_owner = %s, lease_expires_at = %s, "
                    f"{RUN_COUNTS} WHERE job_id = %s AND lease_owner IS NOT DISTINCT FROM %s",
                    (
                        row["total_runs"],
                        json.dumps(row["overrides"]),
                        json.dumps(row["config"]),
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

        return self._call(work)

    def job_lease(self, job_id: str) -> dict[str, Any] | None:
        found = self._query(
            "SELECT status, lease_owner, lease_expires_at FROM jobs WHERE job_id = %s", (job_id,)
        )
        return found[0] if found else None

    def renew_lease(self, job_id: str, owner: str, expires_at: str) -> bool:
        """Extend the lease if ``owner`` still holds it, and record the runs done so far."""
        return bool(
            self._call(
                lambda conn: (
                    conn.execute(
                        f"UPDATE jobs SET lease_expires_at = %s, {RUN_COUNTS} "
                        "WHERE job_id = %s AND lease_owner = %s",
                        (expires_at, job_id, owner),
                    ).rowcount
                )
            )
        )

    def add_event(self, job_id: str, event_type: str, details: dict[str, Any]) -> None:
        row = _encode(
            {"job_id": job_id, "event_type": event_type, "details": details, "timestamp": now_iso()}
        )
        self._call(lambda conn: _insert(conn, "job_events", [row]))

    def save_runs(
        self,
        runs: Sequence[RunRecord],
        metrics: Sequence[MetricsRecord],
        *,
        trades: Sequence[TradeRow] = (),
        outcomes: Sequence[AgentOutcomeRow] = (),
    ) -> None:
        run_rows = [_encode(as_row(r)) for r in runs]
        metric_rows = [_encode(as_row(m)) for m in metrics]
        trade_rows = [as_row(t) for t in trades]
        outcome_rows = [as_row(o) for o in outcomes]

        def work(conn: Any) -> None:
            with conn.transaction():
                _upsert(conn, "runs", run_rows, "run_id")
                _upsert(conn, "metrics", metric_rows, "run_id")
                _upsert(conn, "trades", trade_rows, "trade_id")
                _upsert(conn, "agent_outcomes", outcome_rows, "outcome_id")

        self._call(work)

    def finish_job(
        self, job_id: str, status: str, error: str | None, *, owner: str | None = None
    ) -> dict[str, int]:
        """Final status and run counts; the lease is released. With ``owner``, only while that
        owner still holds the lease (JobBusy otherwise)."""
        error = redact_text(error) if error else None

        def work(conn: Any) -> tuple[int, dict[str, int]]:
            with conn.transaction():
                changed = conn.execute(
                    "UPDATE jobs SET status = %s, error = %s, completed_at = NOW(), "
                    f"{RUN_COUNTS}, lease_owner = NULL, lease_expires_at = NULL "
                    "WHERE job_id = %s AND (%s::text IS NULL OR lease_owner IS NULL "
                    "OR lease_owner = %s)",
                    (status, error, job_id, owner, owner),
                ).rowcount
                counts = dict(
                    conn.execute(
                        "SELECT status, COUNT(*) FROM runs WHERE job_id = %s GROUP BY status",
                        (job_id,),
                    ).fetchall()
                )
            return changed, {
                "completed": counts.get("completed", 0),
                "failed": counts.get("failed", 0),
            }

        changed, counts = self._call(work)
        if owner is not None and not changed and self.job_lease(job_id) is not None:
            raise JobBusy(job_id, None)
        return counts

    def save_job_metrics(self, job_id: str, row: dict[str, Any]) -> None:
        encoded = _encode({"job_id": job_id, **row})
        self._call(lambda conn: _upsert(conn, "job_metrics", [encoded], "job_id"))

    def save_cell_metrics(self, job_id: str, rows: Sequence[dict[str, Any]]) -> None:
        encoded = [_encode(dict(r)) for r in rows]
        self._call(lambda conn: _upsert(conn, "cell_metrics", encoded, "cell_id"))

    # -- reads -------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        def work(conn: Any) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=dict_row) as cur:
                return [_decode(r) for r in cur.execute(sql, params).fetchall()]

        return self._call(work)

    def completed_runs(self, job_id: str) -> dict[str, str]:
        rows = self._query(
            "SELECT run_id, config_hash FROM runs WHERE job_id = %s AND status = 'completed'",
            (job_id,),
        )
        return {r["run_id"]: r["config_hash"] for r in rows}

    def completed_by_hash(self, hashes: set[str]) -> dict[str, dict[str, dict[str, Any]]]:
        rows = self._query(
            f"{RUNS_WITH_METRICS} JOIN metrics m ON m.run_id = r.run_id "
            "WHERE r.status = 'completed' AND r.config_hash = ANY(%s)",
            (sorted(hashes),),
        )
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["config_hash"], {}).setdefault(row["regime"], row)
        with_full_configs([r for both in out.values() for r in both.values()], self._job_config)
        return out

    def _job_config(self, job_id: str) -> Any:
        rows = self._query("SELECT config FROM jobs WHERE job_id = %s", (job_id,))
        return rows[0]["config"] if rows else None

    def set_reused(self, job_id: str, count: int) -> None:
        self._call(
            lambda conn: conn.execute(
                "UPDATE jobs SET reused_runs = %s WHERE job_id = %s", (count, job_id)
            )
        )

    def set_job_grid(self, job_id: str, grid: dict[str, Any]) -> None:
        fields = {k: grid[k] for k in JOB_GRID if k in grid}
        if not fields:
            return
        sets = ", ".join(f"{k} = %s" for k in fields)
        self._call(
            lambda conn: conn.execute(
                f"UPDATE jobs SET {sets} WHERE job_id = %s", (*fields.values(), job_id)
            )
        )

    def list_jobs(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT j.*, m.mean_trading_effect FROM jobs j LEFT JOIN job_metrics m "
            "ON m.job_id = j.job_id ORDER BY j.created_at DESC, j.job_id DESC"
        )
        return self._query(sql + (f" LIMIT {int(limit)}" if limit is not None else ""))

    def get_job(self, job_id: str) -> dict[str, Any]:
        found = self._query("SELECT * FROM jobs WHERE job_id = %s", (job_id,))
        if not found:
            raise JobNotFound(f"no job {job_id!r} in the PostgreSQL database")
        job = found[0]
        metrics = self._query("SELECT * FROM job_metrics WHERE job_id = %s", (job_id,))
        job["job_metrics"] = metrics[0] if metrics else None
        job["events"] = self._query(
            "SELECT event_type, timestamp, details FROM job_events WHERE job_id = %s ORDER BY id",
            (job_id,),
        )
        return job

    def job_runs(self, job_id: str, first_pairs: int | None = None) -> list[dict[str, Any]]:
        limit = "" if first_pairs is None else f" AND r.job_num < {int(first_pairs)}"
        runs = self._query(
            f"{RUNS_WITH_METRICS} LEFT JOIN metrics m ON m.run_id = r.run_id "
            f"WHERE r.job_id = %s{limit} ORDER BY r.job_num, r.regime DESC",
            (job_id,),
        )
        return with_full_configs(runs, self._job_config)

    def iter_job_runs(self, job_id: str) -> Iterator[dict[str, Any]]:
        """:meth:`job_runs` a page of PAGE_PAIRS job numbers at a time (each page one query,
        retried like any other), then the runs without a job number (bilancio 0.1's)."""
        top = self._query("SELECT MAX(job_num) AS top FROM runs WHERE job_id = %s", (job_id,))
        last = top[0]["top"] if top else None
        pages: list[tuple[str, tuple[Any, ...]]] = [
            ("r.job_num >= %s AND r.job_num < %s", (job_id, low, low + PAGE_PAIRS))
            for low in range(0, -1 if last is None else last + 1, PAGE_PAIRS)
        ]
        pages.append(("r.job_num IS NULL", (job_id,)))
        for where, params in pages:
            runs = self._query(
                f"{RUNS_WITH_METRICS} LEFT JOIN metrics m ON m.run_id = r.run_id "
                f"WHERE r.job_id = %s AND {where} ORDER BY r.job_num, r.regime DESC",
                params,
            )
            yield from full_configs(runs, self._job_config)

    def run_counts(self, job_id: str) -> dict[str, int]:
        rows = self._query(
            "SELECT status, COUNT(*) AS n FROM runs WHERE job_id = %s GROUP BY status", (job_id,)
        )
        counts = {r["status"]: r["n"] for r in rows}
        return {"completed": counts.get("completed", 0), "failed": counts.get("failed", 0)}

    def job_cells(self, job_id: str) -> list[dict[str, Any]]:
        if not self._has_table("cell_metrics"):
            return []  # a database from before migration 008: readers compute the cells
        return self._query("SELECT * FROM cell_metrics WHERE job_id = %s ORDER BY id", (job_id,))

    def job_trades(self, job_id: str) -> list[dict[str, Any]]:
        if not self._has_table("trades"):
            return []  # a database from before migration 009: no trades were recorded
        return self._query(
            "SELECT * FROM trades WHERE job_id = %s ORDER BY job_num, seq", (job_id,)
        )

    def job_agent_outcomes(self, job_id: str) -> list[dict[str, Any]]:
        if not self._has_table("agent_outcomes"):
            return []
        return self._query(
            "SELECT * FROM agent_outcomes WHERE job_id = %s ORDER BY job_num, regime DESC, id",
            (job_id,),
        )

    def _has_table(self, name: str) -> bool:
        return self._query("SELECT to_regclass(%s) IS NOT NULL AS ok", (name,))[0]["ok"]

    def job_deltas(self, job_id: str) -> list[dict[str, Any]]:
        return self._query(
            "SELECT r.job_num, r.regime, r.status, m.delta_total FROM runs r "
            "LEFT JOIN metrics m ON m.run_id = r.run_id WHERE r.job_id = %s",
            (job_id,),
        )

    def table(self, name: str) -> list[dict[str, Any]]:
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}")
        return self._query(f"SELECT * FROM {name}")

    def close(self) -> None:
        self._watchdog.close()
        self._drop()


TABLES = (
    "jobs",
    "runs",
    "metrics",
    "job_events",
    "job_metrics",
    "cell_metrics",
    "trades",
    "agent_outcomes",
)


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    """Rows travel as JSON (see _insert): numbers keep every digit, timestamps their zone."""
    return row


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key, value in row.items():
        if isinstance(value, Decimal):
            row[key] = float(value)
        elif isinstance(value, datetime):
            row[key] = value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        elif isinstance(value, list) and value and isinstance(value[0], Decimal):
            row[key] = [float(v) for v in value]
    return row


def _insert(conn: Any, table: str, rows: list[dict[str, Any]]) -> None:
    _write(conn, table, rows, "")


def _upsert(conn: Any, table: str, rows: list[dict[str, Any]], key: str) -> None:
    """Insert or overwrite by ``key`` (created_at of an existing row is kept)."""
    if rows:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in rows[0] if c not in (key, "created_at"))
        _write(conn, table, rows, f" ON CONFLICT ({key}) DO UPDATE SET {updates}")


def _write(conn: Any, table: str, rows: list[dict[str, Any]], conflict: str) -> None:
    """One statement for the whole batch: the rows are sent as one JSON document and turned into
    typed rows by PostgreSQL (``json_populate_recordset``). JSON numbers are parsed as NUMERIC
    exactly, where a float parameter would be cut to 15 significant digits."""
    if not rows:
        return
    columns = ", ".join(rows[0])
    conn.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} "
        f"FROM json_populate_recordset(NULL::{table}, %s::json){conflict}",
        (json.dumps(rows, allow_nan=False),),
    )
