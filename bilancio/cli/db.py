"""``bilancio db migrate|status|sql``: the PostgreSQL / Supabase schema."""

from __future__ import annotations

import argparse
import sys

from bilancio.storage import DEFAULT_TIMEOUT, StoreError, check_timeout
from bilancio.storage import migrations as mig


def _seconds(text: str) -> float:
    try:
        value: object = float(text)
    except ValueError:
        value = text
    try:
        return check_timeout(value, "--timeout")
    except StoreError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bilancio db", description="Manage the database schema.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("migrate", "apply pending migrations, each in a transaction"),
        ("status", "list applied and pending migrations"),
    ):
        p = sub.add_parser(name, help=text)
        where = p.add_mutually_exclusive_group()
        where.add_argument("--url", help="PostgreSQL URL (default: $BILANCIO_DATABASE_URL)")
        where.add_argument(
            "--db", help="an SQLite file instead: upgrade it in place (migrate) or check it"
        )
    p = sub.add_parser("sql", help="print pending migrations as one script (all without --url)")
    p.add_argument("--url", help="compare with this database and print only what is pending")
    for p in sub.choices.values():
        p.add_argument(
            "--timeout",
            type=_seconds,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"give up connecting after this long (default {DEFAULT_TIMEOUT:g}; at least 2)",
        )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if getattr(args, "db", None):
            return _sqlite(args.command, args.db)
        if args.command == "sql" and not args.url:
            print(mig.script(), end="")
            return 0
        url = mig.database_url(args.url)
        conn = mig.connect(url, args.timeout)
        try:
            if args.command == "migrate":
                done = mig.migrate(conn)
                print("\n".join(f"applied {n}" for n in done) or "nothing to apply")
            elif args.command == "status":
                applied = mig.applied(conn)
                for m in mig.migrations():
                    print(f"{'applied' if m.name in applied else 'pending'}  {m.name}")
            else:
                print(mig.script({m.name for m in mig.pending(conn)}), end="")
        finally:
            conn.close()
    except StoreError as err:
        print(f"bilancio: {err}", file=sys.stderr)
        return 2
    return 0


def _sqlite(command: str, path: str) -> int:
    """``db migrate --db``: add what an older file lacks; ``db status --db``: say what it lacks."""
    import sqlite3
    from pathlib import Path

    from bilancio.storage import sqlite_db
    from bilancio.storage.sqlite import SQLiteStore

    if not Path(path).is_file():
        raise StoreError(f"no database at {path}")
    db = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        missing = sqlite_db.missing_columns(db)
    except sqlite3.Error as err:
        raise StoreError(sqlite_db.explain(Path(path), err, 0)) from None
    finally:
        db.close()
    if command == "status":
        print(f"pending: {sqlite_db.describe_missing(missing)}" if missing else "up to date")
        return 0
    SQLiteStore(path).close()  # opening it for writing upgrades it, in one transaction
    print(f"upgraded {path}: {sqlite_db.describe_missing(missing)}" if missing else "up to date")
    return 0
