"""The SQLite file itself: opening it (for writing or strictly for reading), transactions that a
signal cannot leave open, the schema and its in-place upgrade, and errors a user can act on.

Every write is one ``BEGIN IMMEDIATE`` transaction inside :func:`bilancio.interrupts.deferred`,
so Ctrl-C or SIGTERM lands before it or after it, never inside. Waiting for another process's
write lock happens between attempts, outside any transaction, so an interrupt is never held for
longer than one attempt (:data:`ATTEMPT_S`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from pathlib import Path

from bilancio.interrupts import deferred
from bilancio.storage import StoreError

BUSY_TIMEOUT_S = 60.0  # default of storage.busy_timeout
ATTEMPT_S = 1.0  # SQLite's own wait for a lock, per attempt
LOCKED = ("SQLITE_BUSY", "SQLITE_LOCKED")


def schema_sql() -> str:
    return files("bilancio.storage").joinpath("sqlite_schema.sql").read_text()


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@cache
def expected_columns() -> dict[str, list[tuple[str, str, str | None]]]:
    """table → [(column, declared type, default)] of the schema this bilancio writes."""
    db = sqlite3.connect(":memory:")
    try:
        for statement in _statements(schema_sql()):
            db.execute(statement)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: [(r[1], r[2], r[4]) for r in db.execute(f"PRAGMA table_info({t})")]
            for t in tables
            if not t.startswith("sqlite_")
        }
    finally:
        db.close()


def missing_columns(db: sqlite3.Connection) -> dict[str, list[str]]:
    """What an existing file lacks: table → missing columns ('*' for a missing table)."""
    out: dict[str, list[str]] = {}
    for table, columns in expected_columns().items():
        present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if not present:
            out[table] = ["*"]
        elif lacking := [c for c, _, _ in columns if c not in present]:
            out[table] = lacking
    return out


def describe_missing(missing: dict[str, list[str]]) -> str:
    return "; ".join(
        f"no table {t}" if cols == ["*"] else f"{t} lacks {', '.join(cols)}"
        for t, cols in missing.items()
    )


def explain(path: Path, err: sqlite3.Error, busy_timeout: float) -> str:
    """What went wrong with the file, in words a user can act on."""
    name = getattr(err, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL") or "disk is full" in str(err):
        return f"the file system holding {path} is full ({err}); free some space or move the file"
    if name.startswith(LOCKED) or "locked" in str(err):
        return (
            f"{path} is locked by another process and stayed locked for {busy_timeout:g} s "
            f"(storage.busy_timeout) ({err})"
        )
    if name.startswith("SQLITE_READONLY"):
        return f"{path} cannot be written: it or its folder is read-only ({err})"
    if name.startswith("SQLITE_NOTADB") or "not a database" in str(err):
        return f"{path} is not an SQLite database ({err})"
    if name.startswith("SQLITE_CORRUPT"):
        return f"{path} is damaged ({err}); restore it from a copy"
    if name.startswith("SQLITE_CANTOPEN"):
        if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
            return f"cannot open {path} ({err}): its folder {path.parent} is read-only"
        return f"cannot open {path} ({err}); check that its folder exists and can be written"
    if name.startswith("SQLITE_IOERR"):
        return f"cannot read or write {path}: {err} (is the disk full or gone?)"
    return f"SQLite failed on {path}: {err}"


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """An open connection (autocommit: transactions are explicit); StoreError on failure."""
    if read_only and not path.is_file():
        raise StoreError(f"no database at {path} (run a sweep first, or pass --db PATH)")
    if not read_only:
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise StoreError(
                f"cannot create the SQLite database {path}: {blocking} is a file, not a folder"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"cannot create the folder of the SQLite database {path}: {err.strerror} "
                f"({err.filename})"
            ) from None
        if path.exists() and not path.is_file():
            raise StoreError(f"cannot use {path} as the SQLite database: it is a folder")
    db = _open(f"{path.resolve().as_uri()}?mode=ro" if read_only else str(path), read_only)
    if read_only:
        try:
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1")
        except sqlite3.OperationalError:
            if not _on_read_only_medium(path):
                raise
            # a file on a read-only medium (a share, a snapshot): SQLite cannot make the
            # shared-memory file that WAL reading needs, and nothing can change the file
            db.close()
            db = _open(f"{path.resolve().as_uri()}?mode=ro&immutable=1", True)
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _open(target: str, uri: bool) -> sqlite3.Connection:
    db = sqlite3.connect(
        target, uri=uri, timeout=ATTEMPT_S, isolation_level=None, check_same_thread=False
    )
    db.row_factory = sqlite3.Row
    return db


def _on_read_only_medium(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return not os.access(path.parent, os.W_OK) and not (wal.exists() and wal.stat().st_size)


@contextmanager
def write_transaction(db: sqlite3.Connection, busy_timeout: float) -> Iterator[None]:
    """One immediate transaction: committed, or rolled back and the error raised."""
    deadline = time.monotonic() + busy_timeout
    while True:
        with deferred():
            if _begin(db, last_try=time.monotonic() > deadline):
                try:
                    yield
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:  # SQLite may already have rolled back (disk full)
                        db.execute("ROLLBACK")
                    raise
                return
        time.sleep(0.02)  # outside the deferred section: an interrupt lands here at once


def _begin(db: sqlite3.Connection, last_try: bool) -> bool:
    """BEGIN IMMEDIATE; False if another process holds the write lock (and time remains)."""
    try:
        db.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as err:
        if last_try or not (getattr(err, "sqlite_errorname", "") or "").startswith(LOCKED):
            raise
        return False


def prepare_for_writing(db: sqlite3.Connection, busy_timeout: float) -> None:
    """Create the tables, or bring an older file's up to date: missing columns are added and
    duplicate metrics rows (bilancio 0.1 could write them) moved aside; no row is changed."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    statements = _statements(schema_sql())
    with write_transaction(db, busy_timeout):
        for statement in statements:
            if statement.upper().startswith("CREATE TABLE"):
                db.execute(statement)
        for table, lacking in missing_columns(db).items():
            declared = {c: (kind, default) for c, kind, default in expected_columns()[table]}
            for column in lacking:
                kind, default = declared[column]
                suffix = f" DEFAULT {default}" if default is not None else ""
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}{suffix}")
        _set_aside_duplicate_metrics(db)
        for statement in statements:
            if not statement.upper().startswith("CREATE TABLE"):
                db.execute(statement)


def _set_aside_duplicate_metrics(db: sqlite3.Connection) -> None:
    duplicated = db.execute(
        "SELECT 1 FROM metrics WHERE run_id IS NOT NULL GROUP BY run_id HAVING COUNT(*) > 1"
    ).fetchone()
    if not duplicated:
        return
    db.execute("CREATE TABLE IF NOT EXISTS metrics_superseded AS SELECT * FROM metrics WHERE 0")
    older = (
        "SELECT id FROM metrics m WHERE run_id IS NOT NULL AND EXISTS (SELECT 1 FROM metrics n "
        "WHERE n.run_id = m.run_id AND (n.created_at > m.created_at OR "
        "(n.created_at = m.created_at AND n.id > m.id)))"
    )
    db.execute(f"INSERT INTO metrics_superseded SELECT * FROM metrics WHERE id IN ({older})")
    db.execute(f"DELETE FROM metrics WHERE id IN ({older})")


# tables a file written before them can be read without: their readers fall back (cells are
# computed from the runs; no trades were recorded), and the file gains them the next time a
# sweep writes into it
DERIVED_TABLES = ("cell_metrics", "trades", "agent_outcomes")


def check_readable(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file this bilancio cannot read as it is (never changing it)."""
    missing = {
        t: c for t, c in missing_columns(db).items() if not (t in DERIVED_TABLES and c == ["*"])
    }
    if missing.get("jobs") == ["*"]:
        raise StoreError(f"{path} is not a bilancio database (it has no jobs table)")
    if missing:
        raise StoreError(
            f"{path} was written by an older bilancio ({describe_missing(missing)}). Upgrade it "
            f"in place with `bilancio db migrate --db {path}` (columns are added, no row is "
            "changed), or run a sweep into it, which does the same."
        )
