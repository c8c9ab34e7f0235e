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
        p.add_argument("--url", help="PostgreSQL URL (default: $BILANCIO_DATABASE_URL)")
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
