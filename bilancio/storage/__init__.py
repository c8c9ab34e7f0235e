"""Where sweep results go: one ``Store`` interface, one implementation per backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from bilancio.errors import StoreError  # noqa: E402  (defined below the stores and extras)
from bilancio.rows import AgentOutcomeRow, JobRecord, MetricsRecord, RunRecord, TradeRow


class JobNotFound(StoreError):
    pass


class JobBusy(StoreError):
    """Another process holds the job's lease (it is running the job now)."""

    def __init__(self, job_id: str, holder: str | None):
        self.job_id, self.holder = job_id, holder
        who = f" ({holder})" if holder else ""
        super().__init__(
            f"job {job_id} is being run by another process{who}; wait for it to finish or stop "
            "it first (a lease left by a process that died ends by itself within a minute)"
        )


class Store(Protocol):
    """What a sweep needs from a database. Every write is an idempotent upsert."""

    def create_job(self, job: JobRecord, *, expected_owner: str | None = None) -> bool:
        """Insert the job (True), or mark an existing one running again for a resume (False) —
        only if its lease holder is still ``expected_owner``; JobBusy otherwise."""
        ...

    def job_lease(self, job_id: str) -> dict[str, Any] | None:
        """status, lease_owner and lease_expires_at of a job, or None if there is no such job."""
        ...

    def renew_lease(self, job_id: str, owner: str, expires_at: str) -> bool:
        """Extend ``owner``'s lease and record the run counts so far; False if not its lease."""
        ...

    def add_event(self, job_id: str, event_type: str, details: dict[str, Any]) -> None: ...

    def completed_runs(self, job_id: str) -> dict[str, str]:
        """run_id → config_hash of the job's completed runs."""
        ...

    def save_runs(
        self,
        runs: Sequence[RunRecord],
        metrics: Sequence[MetricsRecord],
        *,
        trades: Sequence[TradeRow] = (),
        outcomes: Sequence[AgentOutcomeRow] = (),
    ) -> None:
        """Upsert runs, their metrics and (``record.trades=true``) their trades and agent
        outcomes together (one batch; one transaction where the store has them)."""
        ...

    def finish_job(
        self, job_id: str, status: str, error: str | None, *, owner: str | None = None
    ) -> dict[str, int]:
        """Set the final status and the run counts (from the runs table), release the lease;
        return the counts. With ``owner``: JobBusy if another process holds the lease."""
        ...

    def save_job_metrics(self, job_id: str, row: dict[str, Any]) -> None: ...

    def save_cell_metrics(self, job_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Upsert the job's ``cell_metrics`` rows (bilancio.analysis.cells), keyed by cell_id."""
        ...

    def job_cells(self, job_id: str) -> list[dict[str, Any]]:
        """The job's stored ``cell_metrics`` rows in the order they were written ([] when none
        are stored, or the database predates the table)."""
        ...

    def job_trades(self, job_id: str) -> list[dict[str, Any]]:
        """The job's ``trades`` rows by job number and sequence ([] when none were recorded,
        or the database predates the table)."""
        ...

    def job_agent_outcomes(self, job_id: str) -> list[dict[str, Any]]:
        """The job's ``agent_outcomes`` rows, by job number, passive first ([] as above)."""
        ...

    def list_jobs(self, limit: int | None = None) -> list[dict[str, Any]]: ...

    def get_job(self, job_id: str) -> dict[str, Any]:
        """The job row with its job_metrics and events; raises JobNotFound."""
        ...

    def job_runs(self, job_id: str, first_pairs: int | None = None) -> list[dict[str, Any]]:
        """Runs of the job joined with their metrics, by job number and regime."""
        ...

    def iter_job_runs(self, job_id: str) -> Iterator[dict[str, Any]]:
        """:meth:`job_runs` read a part at a time, for a reader that needs one pair at a time:
        its memory does not grow with the job."""
        ...

    def run_counts(self, job_id: str) -> dict[str, int]:
        """{"completed": n, "failed": m}: the job's runs in the store now."""
        ...

    def job_deltas(self, job_id: str) -> list[dict[str, Any]]:
        """job_num, regime, status and delta_total of every run of the job."""
        ...

    def completed_by_hash(self, hashes: set[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """config_hash → regime → a completed run of that hash with its metrics (any job)."""
        ...

    def set_reused(self, job_id: str, count: int) -> None: ...

    def set_job_grid(self, job_id: str, grid: dict[str, Any]) -> None:
        """Set the job's size and swept values (``JOB_GRID`` columns) once they are known: a
        sweep run by another Hydra sweeper learns them only as it goes."""
        ...

    def close(self) -> None: ...


JOB_GRID = ("total_runs", "kappas", "concentrations", "mus", "outside_mid_ratios", "seeds")


def absolute_storage(settings: dict[str, Any], cwd: str) -> dict[str, Any]:
    """The storage settings with a relative SQLite path made absolute against ``cwd``."""
    from pathlib import Path

    out = dict(settings)
    if out.get("backend") == "sqlite":
        path = Path(out["path"]).expanduser()
        out["path"] = str(path if path.is_absolute() else Path(cwd) / path)
    return out


DEFAULT_TIMEOUT = 30.0  # seconds; StorageConfig.timeout
MAX_TIMEOUT = 2_147_483  # seconds: PostgreSQL's longest statement_timeout (2^31 - 1 ms)


def check_timeout(value: Any, name: str = "storage.timeout") -> float:
    """A timeout in seconds as a float; an error names the setting, the value and what is
    allowed."""
    import math

    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise StoreError(
            f"invalid {name}={value!r}: allowed a positive number of seconds, at most {MAX_TIMEOUT}"
        )
    return float(value)


BACKENDS = ("sqlite", "postgres", "supabase")


def check_storage(settings: dict[str, Any]) -> None:
    """Refuse storage settings that cannot work, naming the setting, the value and what is
    allowed (before anything is opened or written)."""
    backend = settings.get("backend")
    if backend not in BACKENDS:
        raise StoreError(
            f"invalid storage.backend={backend!r}: allowed " + ", ".join(repr(b) for b in BACKENDS)
        )
    if backend == "sqlite" and not str(settings.get("path") or "").strip():
        raise StoreError("invalid storage.path='': allowed a file name, e.g. bilancio.db")
    for key in ("busy_timeout", "timeout"):
        if settings.get(key) is not None:
            check_timeout(settings[key], f"storage.{key}")
    _check_credentials(settings)


def _check_credentials(settings: dict[str, Any]) -> None:
    """A sweep's PostgreSQL database must be named before it runs, and the message names the
    settings a sweep has (``storage.url``, the environment), not a read command's ``--url``.
    Supabase's credentials are checked when the store opens (or by the Modal launcher's
    preflight); that message names its environment variables. Never shows a value."""
    import os

    from bilancio.extras import require

    if settings.get("backend") == "postgres":
        require("psycopg", "postgres", "storage=postgres")  # the install command comes first
        if not (settings.get("url") or os.environ.get("BILANCIO_DATABASE_URL")):
            raise StoreError(
                "storage=postgres needs a database URL: set BILANCIO_DATABASE_URL (recommended: "
                "it is never stored with the results), or storage.url to a postgresql:// URL"
            )


class NewDatabase:
    """Whether a sweep's SQLite file is created by this command: a sweep refused before its
    job row was written removes the empty file it made, so that a refusal leaves no trace."""

    def __init__(self, settings: dict[str, Any]):
        from pathlib import Path

        self.path = None
        if settings.get("backend") == "sqlite" and settings.get("path"):
            path = Path(str(settings["path"])).expanduser()
            self.path = None if path.exists() else path

    def forget(self, store: Store | None) -> None:
        """Close ``store`` and remove the file if this command created it and it holds no job."""
        import contextlib
        import sqlite3

        if store is not None:
            with contextlib.suppress(StoreError):
                store.close()
        if self.path is None or not self.path.exists():
            return
        try:
            with contextlib.closing(sqlite3.connect(self.path)) as db:
                found = db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
                ).fetchone()
                if found and db.execute("SELECT 1 FROM jobs LIMIT 1").fetchone():
                    return  # another process has written a job into it meanwhile
        except sqlite3.Error:
            return  # not ours to judge: leave it
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(self.path.name + suffix).unlink()


def open_store(settings: dict[str, Any], *, read_only: bool = False) -> Store:
    """The store named by a config's ``storage`` section. ``read_only``: never create or
    change anything (an SQLite file must exist; Supabase uses the anon key)."""
    backend = settings.get("backend")
    timeout = check_timeout(settings.get("timeout", DEFAULT_TIMEOUT))
    if backend == "sqlite":
        from bilancio.storage.sqlite import BUSY_TIMEOUT_S, SQLiteStore

        wait = settings.get("busy_timeout")
        return SQLiteStore(
            settings["path"],
            read_only=read_only,
            busy_timeout=BUSY_TIMEOUT_S
            if wait is None
            else check_timeout(wait, "storage.busy_timeout"),
        )
    if backend == "postgres":
        from bilancio.extras import require
        from bilancio.storage.migrations import database_url
        from bilancio.storage.postgres import PostgresStore

        require("psycopg", "postgres", "storage=postgres")

        return PostgresStore(database_url(settings.get("url")), timeout=timeout)
    if backend == "supabase":
        from bilancio.extras import require
        from bilancio.storage.supabase import SupabaseStore

        require("supabase", "cloud", "storage=supabase")

        return SupabaseStore(write=settings.get("write", True) and not read_only)
    raise StoreError(
        f"invalid storage.backend={backend!r}: allowed 'sqlite', 'postgres', 'supabase'"
    )
