"""Ordered, idempotent PostgreSQL migrations (``sql/``), each applied in its own transaction and
recorded in ``bilancio_migrations``. Every file can also be run again safely by hand."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from bilancio.storage import DEFAULT_TIMEOUT, StoreError, check_timeout

TRACKING = """
CREATE TABLE IF NOT EXISTS bilancio_migrations (
    name TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)"""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with bilancio, in order."""
    folder = files("bilancio.storage").joinpath("sql")
    found = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [Migration(name, folder.joinpath(name).read_text()) for name in found]


def database_url(url: str | None) -> str:
    """The given URL, else $BILANCIO_DATABASE_URL; an error says which one is missing."""
    url = url or os.environ.get("BILANCIO_DATABASE_URL")
    if not url:
        raise StoreError("no database URL: pass --url or set BILANCIO_DATABASE_URL")
    return url


def connect_timeout(timeout: float) -> int:
    """libpq's ``connect_timeout`` for ``timeout``: whole seconds, at least 2 (libpq's minimum;
    psycopg enforces it on the client side, for each host address of the URL)."""
    return max(2, math.ceil(timeout))


def connect(url: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """A connection for the migrations; connecting gives up after ``timeout`` (see above)."""
    from bilancio.extras import require

    require("psycopg", "postgres", "bilancio db with a PostgreSQL URL")
    import psycopg

    try:
        return psycopg.connect(
            url, autocommit=True, connect_timeout=connect_timeout(check_timeout(timeout, "timeout"))
        )
    except psycopg.Error as err:
        raise StoreError(f"cannot connect to PostgreSQL: {redact(str(err), url)}") from None


def redact(text: str, url: str) -> str:
    """``text`` with the URL (whole) and its password removed, however malformed the URL."""
    from bilancio import redaction

    redaction.register(url)
    return redaction.redact(text.replace(url, "<database url>") if url else text)


def applied(conn: Any) -> list[str]:
    conn.execute(TRACKING)
    return [r[0] for r in conn.execute("SELECT name FROM bilancio_migrations ORDER BY name")]


def pending(conn: Any) -> list[Migration]:
    done = set(applied(conn))
    return [m for m in migrations() if m.name not in done]


def migrate(conn: Any) -> list[str]:
    """Apply every pending migration, each in one transaction; return their names. A migration
    the database refuses is rolled back and reported with its name (StoreError)."""
    import psycopg

    names = []
    for m in pending(conn):
        try:
            with conn.transaction():
                conn.execute(m.sql)
                conn.execute("INSERT INTO bilancio_migrations (name) VALUES (%s)", (m.name,))
        except psycopg.errors.InsufficientPrivilege as err:
            raise StoreError(
                f"{m.name} was refused: {err.diag.message_primary}. Apply it as a role that may "
                "do this (the database's owner or a superuser; on Supabase, the SQL editor or "
                "`bilancio db sql`); "
                + (f"applied before it: {', '.join(names)}" if names else "nothing was applied")
            ) from None
        except psycopg.Error as err:
            raise StoreError(
                f"{m.name} failed and was rolled back: {str(err).strip()}; "
                + (f"applied before it: {', '.join(names)}" if names else "nothing was applied")
            ) from None
        names.append(m.name)
    return names


def script(names: set[str] | None = None) -> str:
    """One SQL script of the given migrations (all by default) for a SQL editor; it records
    them in bilancio_migrations so that ``bilancio db status`` agrees afterwards."""
    parts = [TRACKING.strip() + ";"]
    for m in migrations():
        if names is None or m.name in names:
            parts.append(
                f"-- {m.name}\n{m.sql.strip()}\n"
                f"INSERT INTO bilancio_migrations (name) VALUES ('{m.name}') "
                "ON CONFLICT DO NOTHING;"
            )
    return "\n\n".join(parts) + "\n"
