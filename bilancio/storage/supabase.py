"""The Supabase store: the same tables through Supabase's REST API (the supabase client).

Each write is one request per table and batch (an upsert keyed like the other stores), retried
with exponential backoff on connection errors and 5xx answers, never on a refused row (4xx).
Reads page through results, past the API's 1,000-row response cap. Keys never appear in
messages: errors quote only the server's code and message.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from bilancio.redaction import redact
from bilancio.rows import (
    EFFECT_COLUMNS,
    MEAN_COLUMNS,
    METRIC_COLUMNS,
    AgentOutcomeRow,
    JobRecord,
    MetricsRecord,
    RunRecord,
    TradeRow,
    as_row,
    now_iso,
    with_full_configs,
)
from bilancio.storage import JOB_GRID, JobBusy, JobNotFound, StoreError
from bilancio.storage.supabase_client import credentials, get_supabase_client

T = TypeVar("T")
PAGE = 1000  # rows asked for per page (Supabase's default cap; a project may set it lower)
UNIQUE = {  # a unique key of each table, the last key of every paged read's order
    "jobs": "job_id",
    "runs": "run_id",
    "metrics": "run_id",
    "job_events": "id",
    "job_metrics": "job_id",
    "cell_metrics": "cell_id",
    "trades": "trade_id",
    "agent_outcomes": "outcome_id",
    "bilancio_migrations": "name",
}
RETRIES = 6  # backoff 0.1 s doubling: about 6 s in all
RUN_METRIC_COLUMNS = (*METRIC_COLUMNS, "raw_metrics")


MAX_BODY = 900_000  # bytes of JSON per write request: under the 1 MB a gateway may allow


def _by_size(rows: list[dict[str, Any]], limit: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive chunks of ``rows`` whose JSON array stays under ``limit`` bytes (a single
    larger row is a chunk of its own)."""
    chunk: list[dict[str, Any]] = []
    size = 2
    for row in rows:
        length = len(json.dumps(row, default=str).encode()) + 1
        if chunk and size + length > limit:
            yield chunk
            chunk, size = [], 2
        chunk.append(row)
        size += length
    if chunk:
        yield chunk


KEY_VARIABLES = {"service": "BILANCIO_SUPABASE_SERVICE_KEY", "anon": "BILANCIO_SUPABASE_ANON_KEY"}


class KeyRefused(StoreError):
    """The project refused the API key itself: wrong, revoked, or of another project."""


class SupabaseStore:
    def __init__(self, *, write: bool = True, retries: int = RETRIES):
        self._client = get_supabase_client(write=write)
        self._retries = retries
        self.key_variable = KEY_VARIABLES[credentials(write)[2]]

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Last writes of a stopping sweep: no retries."""
        saved, self._retries = self._retries, 0
        try:
            yield
        finally:
            self._retries = saved

    # -- requests and retries ----------------------------------------------------------------

    def _call(
        self,
        request: Callable[[], T],
        *,
        landed: Callable[[], bool] | None = None,
        where: str = "this shell's",
    ) -> T:
        """``request()``, retried on transient failures. ``landed``: for a request that is not
        idempotent (a plain insert), whether an earlier attempt took effect although its answer
        was lost (a gateway timeout after the commit); asked before every retry, so that the
        retry neither duplicates the row nor fails on its own row's unique key. ``where``: whose
        key a refusal of the key names."""
        import httpx
        from postgrest.exceptions import APIError

        delay = 0.1
        for attempt in range(self._retries + 1):
            try:
                if attempt and landed is not None and self._call_once(landed):
                    return None  # type: ignore[return-value]
                return request()
            except APIError as err:
                if _key_refused(err):
                    raise KeyRefused(self.key_refused_message(err, where)) from None
                if not _transient(err):
                    raise StoreError(f"Supabase refused the request: {_describe(err)}") from None
                failure = _describe(err)
            except (httpx.TransportError, httpx.HTTPStatusError) as err:
                failure = f"{type(err).__name__}: {err}"
            if attempt == self._retries:
                raise StoreError(f"Supabase unreachable after {attempt + 1} attempts: {failure}")
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def key_refused_message(self, err: Any, where: str = "this shell's") -> str:
        return (
            f"the Supabase project refused the key in {where} {self.key_variable} as wrong or "
            f"revoked ({_describe(err)}). Copy the project's "
            + (
                "service_role (legacy) or sb_secret_ key"
                if self.key_variable.endswith("SERVICE_KEY")
                else "anon (legacy) or sb_publishable_ key"
            )
            + " again from Project settings → API Keys, and check that BILANCIO_SUPABASE_URL "
            "is the same project's"
        )

    def probe(self, where: str = "this shell's") -> dict[str, Any]:
        """Which shipped migrations are not applied, and whether this key may write, learned
        without writing anything: an insert that the database refuses either for the key
        (permission, row level security) or, if the key may write, for the missing job. A
        refused key raises KeyRefused (it is not 'tables missing')."""
        from postgrest.exceptions import APIError

        from bilancio.storage.migrations import migrations

        try:  # every shipped migration, by the record the migrations (and `db sql`) leave
            rows = self._call(
                lambda: self._client.table("bilancio_migrations").select("name").execute(),
                where=where,
            ).data
            applied = {r["name"] for r in rows}
        except KeyRefused:
            raise
        except StoreError as err:
            if "PGRST205" not in str(err) and "42P01" not in str(err):
                raise
            applied = set()  # no such table: nothing was ever migrated
        missing = [m.name for m in migrations() if m.name not in applied]
        try:
            self._client.table("job_events").insert(
                {"job_id": "__bilancio_health_check__", "event_type": "probe"}
            ).execute()
            can_write = True  # cannot happen while the foreign key holds; treat as writable
        except APIError as err:
            if _key_refused(err):
                raise KeyRefused(self.key_refused_message(err, where)) from None
            can_write = err.code == "23503"  # refused for the missing job, not for the key
        return {"can_write": can_write, "migrations_missing": missing}

    def _call_once(self, question: Callable[[], bool]) -> bool:
        """A read asked while retrying: its own failure of the kinds the retry loop retries
        counts as not knowing (False), and the request is retried, whose own failure is then
        reported. Anything else (a defect) propagates."""
        import httpx
        from postgrest.exceptions import APIError

        try:
            return question()
        except (APIError, httpx.TransportError, httpx.HTTPStatusError):
            return False

    def _select(
        self,
        table: str,
        columns: str = "*",
        filters: dict[str, Any] | None = None,
        order: list[tuple[str, bool]] | None = None,
        limit: int | None = None,
        within: tuple[str, list[Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Every matching row (``within``: a column and the values it may take), fetched page by
        page in a stable order that ends with the table's unique key (offset paging without one
        is undefined in PostgreSQL). The server's row cap is not assumed: the first page asks for
        the exact count, and pages follow until that many rows have come."""
        unique = UNIQUE[table]
        order = list(order or [])
        if unique not in [key for key, _ in order]:
            order.append((unique, False))
        rows: list[dict[str, Any]] = []
        total: int | None = None
        while True:
            size = PAGE if limit is None else min(PAGE, limit - len(rows))
            if size <= 0 or (total is not None and len(rows) >= total):
                return rows

            def page(start: int = len(rows), size: int = size, first: bool = total is None) -> Any:
                q = self._client.table(table).select(columns, count="exact" if first else None)
                for key, value in (filters or {}).items():
                    q = q.eq(key, value)
                if within is not None:
                    q = q.in_(within[0], within[1])
                for key, desc in order:
                    q = q.order(key, desc=desc)
                return q.range(start, start + size - 1).execute()

            got = self._call(page)
            if total is None:
                total = got.count  # None if the server gave no count: then a short page ends
            rows.extend(_decode(r) for r in got.data)
            if not got.data or (total is None and len(got.data) < size):
                return rows

    # -- writes ------------------------------------------------------------------------------

    def create_job(self, job: JobRecord, *, expected_owner: str | None = None) -> bool:
        """Insert the job, or take over an existing row whose lease holder is still
        ``expected_owner``; JobBusy if it is not (another process holds the job)."""
        row = _encode(as_row(job))
        found = self._select("jobs", "job_id,config", {"job_id": job.job_id})
        if not found:

            def ours() -> bool:  # the row exists with this process's lease: an earlier attempt
                found = self._client.table("jobs").select("lease_owner").eq("job_id", job.job_id)
                rows = found.execute().data
                return bool(rows) and rows[0]["lease_owner"] == job.lease_owner

            try:
                self._call(
                    lambda: self._client.table("jobs").insert(row).execute(),
                    landed=ours if job.lease_owner else None,
                )
            except StoreError as err:
                if "23505" in str(err):  # another process created it a moment ago
                    raise JobBusy(job.job_id, None) from None
                raise
            return True
        counts = self._run_counts(job.job_id)
        update = {
            "status": "running",
            "completed_at": None,
            "error": None,
            "total_runs": row["total_runs"],
            "overrides": row["overrides"],
            # the config the job was created with stays: its runs store what differs from it
            "config": row["config"] if found[0].get("config") is None else found[0]["config"],
            "code_version": row["code_version"],
            "lease_owner": job.lease_owner,
            "lease_expires_at": job.lease_expires_at,
            "completed_runs": counts["completed"],
            "failed_runs": counts["failed"],
        }
        if not self._update_job(job.job_id, update, expected_owner):
            raise JobBusy(job.job_id, None)
        return False

    def _update_job(self, job_id: str, update: dict[str, Any], owner: str | None) -> bool:
        """PATCH the job row if its lease holder is ``owner``; True if a row changed."""

        def request() -> list[dict[str, Any]]:
            q = self._client.table("jobs").update(update).eq("job_id", job_id)
            q = q.is_("lease_owner", "null") if owner is None else q.eq("lease_owner", owner)
            return q.execute().data

        return bool(self._call(request))

    def run_counts(self, job_id: str) -> dict[str, int]:
        return self._run_counts(job_id)

    def _run_counts(self, job_id: str) -> dict[str, int]:
        def count(status: str) -> int:
            return (
                self._client.table("runs")
                .select("run_id", count="exact")
                .eq("job_id", job_id)
                .eq("status", status)
                .limit(1)
                .execute()
                .count
                or 0
            )

        return {s: self._call(lambda s=s: count(s)) for s in ("completed", "failed")}

    def job_lease(self, job_id: str) -> dict[str, Any] | None:
        found = self._select("jobs", "status,lease_owner,lease_expires_at", {"job_id": job_id})
        return found[0] if found else None

    def renew_lease(self, job_id: str, owner: str, expires_at: str) -> bool:
        """Extend the lease if ``owner`` still holds it, and record the runs done so far."""
        counts = self._run_counts(job_id)
        update = {
            "lease_expires_at": expires_at,
            "completed_runs": counts["completed"],
            "failed_runs": counts["failed"],
        }
        return self._update_job(job_id, update, owner)

    def add_event(self, job_id: str, event_type: str, details: dict[str, Any]) -> None:
        row = {
            "job_id": job_id,
            "event_type": event_type,
            "details": details,
            "timestamp": now_iso(),
        }

        def landed() -> bool:  # the same event (job, type, time to the millisecond) is there
            found = (
                self._client.table("job_events")
                .select("details")
                .eq("job_id", job_id)
                .eq("event_type", event_type)
                .eq("timestamp", row["timestamp"])
                .execute()
                .data
            )
            return any(f["details"] == _encode(details) for f in found)

        self._call(lambda: self._client.table("job_events").insert(row).execute(), landed=landed)

    def _upsert(self, table: str, rows: list[dict[str, Any]], key: str) -> None:
        """Insert or overwrite by ``key``, in as few requests as bodies under MAX_BODY allow;
        nothing is sent back (``Prefer: return=minimal``). created_at is left to the database's
        default: an upsert overwrites every column it is sent, and a re-save must keep the first
        time."""
        from postgrest.types import ReturnMethod

        rows = [{k: v for k, v in r.items() if k != "created_at"} for r in rows]
        for chunk in _by_size(rows, MAX_BODY):
            self._call(
                lambda chunk=chunk: (
                    self._client.table(table)
                    .upsert(
                        chunk,
                        on_conflict=key,
                        default_to_null=False,
                        returning=ReturnMethod.minimal,  # not every row sent back
                    )
                    .execute()
                )
            )

    def save_runs(
        self,
        runs: Sequence[RunRecord],
        metrics: Sequence[MetricsRecord],
        *,
        trades: Sequence[TradeRow] = (),
        outcomes: Sequence[AgentOutcomeRow] = (),
    ) -> None:
        """One request per table and body of up to MAX_BODY bytes; the trades and outcomes
        follow their runs (their foreign key)."""
        self._upsert("runs", [_encode(as_row(r)) for r in runs], "run_id")
        self._upsert("metrics", [_encode(as_row(m)) for m in metrics], "run_id")
        self._upsert("trades", [as_row(t) for t in trades], "trade_id")
        self._upsert("agent_outcomes", [as_row(o) for o in outcomes], "outcome_id")

    def finish_job(
        self, job_id: str, status: str, error: str | None, *, owner: str | None = None
    ) -> dict[str, int]:
        """Final status and run counts; the lease is released. With ``owner``, only while that
        owner (or nobody) holds the lease (JobBusy otherwise)."""
        counts = self._run_counts(job_id)
        update = {
            "status": status,
            "error": redact(error) if error else None,
            "completed_at": now_iso(),
            "completed_runs": counts["completed"],
            "failed_runs": counts["failed"],
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if owner is None:
            self._call(
                lambda: self._client.table("jobs").update(update).eq("job_id", job_id).execute()
            )
            return counts
        released = self._update_job(job_id, update, owner) or self._update_job(job_id, update, None)
        if not released and self.job_lease(job_id) is not None:
            raise JobBusy(job_id, None)
        return counts

    def save_job_metrics(self, job_id: str, row: dict[str, Any]) -> None:
        self._upsert("job_metrics", [_encode({"job_id": job_id, **row})], "job_id")

    def save_cell_metrics(self, job_id: str, rows: Sequence[dict[str, Any]]) -> None:
        self._upsert("cell_metrics", [_encode(dict(r)) for r in rows], "cell_id")

    # -- reads -------------------------------------------------------------------------------

    def completed_runs(self, job_id: str) -> dict[str, str]:
        rows = self._select("runs", "run_id,config_hash,status", {"job_id": job_id})
        return {r["run_id"]: r["config_hash"] for r in rows if r["status"] == "completed"}

    def completed_by_hash(self, hashes: set[str]) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        wanted = sorted(hashes)
        for i in range(0, len(wanted), 100):  # keep the URL short
            chunk = wanted[i : i + 100]

            found = self._select(
                "runs", filters={"status": "completed"}, within=("config_hash", chunk)
            )
            ids = [r["run_id"] for r in found]
            metrics = {}
            for j in range(0, len(ids), 100):
                got = self._select("metrics", within=("run_id", ids[j : j + 100]))
                metrics.update({m["run_id"]: m for m in got})
            for run in found:
                if run["run_id"] in metrics:
                    m = metrics[run["run_id"]]
                    run.update({c: m.get(c) for c in RUN_METRIC_COLUMNS})
                    out.setdefault(run["config_hash"], {}).setdefault(run["regime"], run)
        with_full_configs([r for both in out.values() for r in both.values()], self._job_config)
        return out

    def _job_config(self, job_id: str) -> Any:
        found = self._select("jobs", "config", {"job_id": job_id})
        return found[0]["config"] if found else None

    def set_reused(self, job_id: str, count: int) -> None:
        self._call(
            lambda: (
                self._client.table("jobs")
                .update({"reused_runs": count})
                .eq("job_id", job_id)
                .execute()
            )
        )

    def set_job_grid(self, job_id: str, grid: dict[str, Any]) -> None:
        fields = {k: grid[k] for k in JOB_GRID if k in grid}
        for key in ("kappas", "concentrations", "mus", "outside_mid_ratios"):
            if key in fields:
                fields[key] = [float(v) for v in fields[key]]
        if fields:
            self._call(
                lambda: self._client.table("jobs").update(fields).eq("job_id", job_id).execute()
            )

    def list_jobs(self, limit: int | None = None) -> list[dict[str, Any]]:
        jobs = self._select("jobs", order=[("created_at", True), ("job_id", True)], limit=limit)
        effects = {
            r["job_id"]: r["mean_trading_effect"]
            for r in self._select("job_metrics", "job_id,mean_trading_effect")
        }
        for job in jobs:
            job["mean_trading_effect"] = effects.get(job["job_id"])
        return jobs

    def get_job(self, job_id: str) -> dict[str, Any]:
        found = self._select("jobs", filters={"job_id": job_id})
        if not found:
            raise JobNotFound(f"no job {job_id!r} in the Supabase project")
        job = found[0]
        metrics = self._select("job_metrics", filters={"job_id": job_id})
        job["job_metrics"] = metrics[0] if metrics else None
        job["events"] = self._select(
            "job_events", "event_type,timestamp,details", {"job_id": job_id}, order=[("id", False)]
        )
        return job

    def job_cells(self, job_id: str) -> list[dict[str, Any]]:
        try:
            rows = self._select("cell_metrics", filters={"job_id": job_id}, order=[("id", False)])
        except StoreError as err:
            if "PGRST205" in str(err) or "42P01" in str(err):
                return []  # a project from before migration 008: readers compute the cells
            raise
        return [_decode(r) for r in rows]

    def job_trades(self, job_id: str) -> list[dict[str, Any]]:
        rows = self._rows_if_table("trades", job_id)
        return sorted(rows, key=lambda r: (r["job_num"], r["seq"]))

    def job_agent_outcomes(self, job_id: str) -> list[dict[str, Any]]:
        rows = self._rows_if_table("agent_outcomes", job_id)
        return sorted(rows, key=lambda r: (r["job_num"], r["regime"] != "passive", r["id"]))

    def _rows_if_table(self, table: str, job_id: str) -> list[dict[str, Any]]:
        """The job's rows of a table added by a later migration, by id ([] when it is not
        there: nothing of it was recorded)."""
        try:
            return self._select(table, filters={"job_id": job_id}, order=[("id", False)])
        except StoreError as err:
            if "PGRST205" in str(err) or "42P01" in str(err):
                return []
            raise

    def job_runs(self, job_id: str, first_pairs: int | None = None) -> list[dict[str, Any]]:
        runs = self._select(
            "runs", filters={"job_id": job_id}, order=[("job_num", False), ("regime", True)]
        )
        if first_pairs is not None:
            runs = [r for r in runs if r["job_num"] is not None and r["job_num"] < first_pairs]
        metrics = {m["run_id"]: m for m in self._select("metrics", filters={"job_id": job_id})}
        for run in runs:
            m = metrics.get(run["run_id"], {})
            for column in RUN_METRIC_COLUMNS:
                run[column] = m.get(column)
        return with_full_configs(runs, self._job_config)

    def iter_job_runs(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The whole :meth:`job_runs` (read in PostgREST's pages, then joined in memory)."""
        return iter(self.job_runs(job_id))

    def job_deltas(self, job_id: str) -> list[dict[str, Any]]:
        runs = self._select("runs", "run_id,job_num,regime,status", {"job_id": job_id})
        deltas = {
            m["run_id"]: m["delta_total"]
            for m in self._select("metrics", "run_id,delta_total", {"job_id": job_id})
        }
        return [
            {
                "job_num": r["job_num"],
                "regime": r["regime"],
                "status": r["status"],
                "delta_total": deltas.get(r["run_id"]),
            }
            for r in runs
        ]

    def table(self, name: str) -> list[dict[str, Any]]:
        return self._select(name)

    def close(self) -> None:
        pass


def _key_refused(err: Any) -> bool:
    """The API key itself was refused: PostgREST's JWT errors (PGRST301-303), the gateway's
    401 ``{"message": "Invalid API key"}`` without a code (legacy keys), or a 401 with an empty
    body (the new ``sb_secret_`` keys), which postgrest-py reports with code "401"."""
    code = str(getattr(err, "code", "") or "")
    message = str(getattr(err, "message", "") or "").lower()
    return (
        code in ("401", "PGRST301", "PGRST302", "PGRST303")
        or (not code and "api key" in message)
        or "invalid api key" in message
    )


TRANSIENT_CODES = ("08", "53", "57P", "40001", "40P01", "PGRST000", "PGRST001", "PGRST002")


def _transient(err: Any) -> bool:
    """A failure worth retrying: an HTTP 5xx, or PostgREST/PostgreSQL reporting a lost
    connection, exhausted resources, a shutdown or a serialization conflict."""
    code = str(getattr(err, "code", "") or "")
    if code.isdigit() and len(code) == 3:
        return int(code) >= 500
    return code.startswith(TRANSIENT_CODES)


def _describe(err: Any) -> str:
    """The server's code and message, with any key or credential it echoes masked."""
    return redact(f"{getattr(err, 'code', None)}: {getattr(err, 'message', None)}")


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(row))  # plain JSON types (the client sends JSON anyway)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key, value in row.items():
        if (
            isinstance(value, str)
            and key in ("created_at", "completed_at", "timestamp")
            and value.endswith("+00:00")
        ):
            row[key] = value[:-6][:23] + "Z"
        elif isinstance(value, int) and not isinstance(value, bool) and key in FLOAT_COLUMNS:
            row[key] = float(value)
    for key in ("kappas", "concentrations", "mus", "outside_mid_ratios"):
        if isinstance(row.get(key), list):
            row[key] = [float(v) for v in row[key]]
    return row


# every real-valued statistic of a cell (NUMERIC and DOUBLE PRECISION come back as JSON
# numbers, 1 as 1: read back as floats, as the other stores give them)
CELL_FLOAT_COLUMNS = tuple(
    c
    for c in (*EFFECT_COLUMNS, *MEAN_COLUMNS)
    if c.startswith(("mean_", "sd_", "se_", "ci95", "p_"))
)
FLOAT_COLUMNS = {
    "kappa",
    "concentration",
    "mu",
    "outside_mid_ratio",
    "delta_total",
    "phi_total",
    "trading_effect",
    "total_trade_volume",
    "mean_trading_effect",
    "min_trading_effect",
    "max_trading_effect",
    "std_trading_effect",
    "mean_delta_passive",
    "mean_delta_active",
    "mean_phi_passive",
    "mean_phi_active",
    *CELL_FLOAT_COLUMNS,
    # trades
    "unit_price",
    "face",
    "cash",
    "default_prob",
    "threshold",
    "shortfall",
    "wealth",
}
