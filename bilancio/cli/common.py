"""What the read commands share: where they find the results (--db, --postgres, --cloud)."""

from __future__ import annotations

import argparse
from typing import Any

from bilancio.storage import StoreError
from bilancio.storage.sqlite import SQLiteStore

DEFAULT_DB = "bilancio.db"


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """--db FILE | --postgres [URL] | --cloud: where a read command finds the results."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default: ./{DEFAULT_DB})")
    where.add_argument(
        "--postgres",
        nargs="?",
        const="",
        metavar="URL",
        help="read a PostgreSQL database instead (URL default: $BILANCIO_DATABASE_URL)",
    )
    where.add_argument(
        "--cloud",
        action="store_true",
        help="read the Supabase project of $BILANCIO_SUPABASE_URL instead",
    )


def open_existing(path: str) -> SQLiteStore:
    """Open a database strictly for reading: a missing file is an error, not a new empty
    database, and nothing in the file is changed."""
    if "://" in path or path.startswith(("postgres:", "postgresql:")):
        raise StoreError(
            "--db takes an SQLite file; for a PostgreSQL database use --postgres (the URL from "
            "$BILANCIO_DATABASE_URL, or --postgres URL)"
        )
    return SQLiteStore(path, read_only=True)


def open_for_reading(args: argparse.Namespace) -> Any:
    """The store a read command names: an existing SQLite file (read-only), a PostgreSQL
    database, or the Supabase project of the environment (with the anon key)."""
    if args.cloud:
        from bilancio.storage.supabase import SupabaseStore

        return SupabaseStore(write=False)
    if args.postgres is not None:
        from bilancio.storage import open_store

        return open_store({"backend": "postgres", "url": args.postgres or None}, read_only=True)
    return open_existing(args.db)
