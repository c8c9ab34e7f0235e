"""``bilancio jobs ls`` and ``bilancio jobs show JOB_ID``: read what sweeps stored."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from bilancio.files import OutputError, write_atomically
from bilancio.report import format_aggregate, format_pairs, pair_key, pair_rows
from bilancio.storage import StoreError
from bilancio.storage.sqlite import SQLiteStore
from bilancio.sweep import lease

DEFAULT_DB = "bilancio.db"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bilancio jobs", description="Inspect stored sweeps.")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("ls", help="list jobs, newest first")
    ls.add_argument("--limit", type=int, default=None, help="show at most N jobs")
    show = sub.add_parser("show", help="one job: config, status, job_metrics, pairs")
    show.add_argument("job_id")
    export = sub.add_parser("export", help="one CSV row per pair (bilancio 0.1's columns)")
    export.add_argument("job_id")
    export.add_argument("-o", "--output", required=True, help="CSV file to write ('-': stdout)")
    for p in (ls, show, export):
        add_source_options(p)
        if p is not export:
            p.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


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


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        store = open_for_reading(args)
        if args.command == "ls":
            return _ls(store, args)
        if args.command == "export":
            return _export(store, args)
        return _show(store, args)
    except (StoreError, OutputError) as err:  # JobNotFound included
        print(f"bilancio: {err}", file=sys.stderr)
        return 2


def shown_status(job: dict[str, Any]) -> str:
    """The status, with 'stale' for a job left running by a process that is gone."""
    if job["status"] != "running":
        return job["status"]
    return "running" if lease.live_holder(job) else "stale"


def running_note(job: dict[str, Any]) -> str:
    done, failed, total = (job.get(k) or 0 for k in ("completed_runs", "failed_runs", "total_runs"))
    holder = lease.live_holder(job)
    if holder:
        return f"running now ({holder}): {done} runs done, {failed} failed, of {total} so far"
    return (
        f"stale: the process running it is gone ({done} runs done, {failed} failed, of "
        f"{total}); resume it with job.id={job['job_id']}"
    )


def _duration(job: dict[str, Any]) -> str:
    if not job.get("completed_at"):
        return "–"
    start = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(job["completed_at"].replace("Z", "+00:00"))
    return f"{(end - start).total_seconds():.1f}s"


def _live_counts(store: Any, job: dict[str, Any]) -> dict[str, Any]:
    """A running (or stale) job's run counts as the runs table has them now: its row is
    updated only by the heartbeat."""
    if job["status"] == "running":
        counts = store.run_counts(job["job_id"])
        job["completed_runs"], job["failed_runs"] = counts["completed"], counts["failed"]
    return job


def _ls(store: Any, args: argparse.Namespace) -> int:
    jobs = [_live_counts(store, j) for j in store.list_jobs(args.limit)]
    if args.json:
        print(json.dumps(jobs, indent=1, default=str))
        return 0
    if not jobs:
        print(f"no jobs in {getattr(store, 'path', 'the database')}")
        return 0
    print(
        f"{'job id':<22} {'status':<10} {'created':<20} {'duration':>9} "
        f"{'runs done/failed/total':>23} {'mean effect':>12}"
    )
    for j in jobs:
        effect = j.get("mean_trading_effect")
        runs = f"{j['completed_runs'] or 0}/{j['failed_runs'] or 0}/{j['total_runs'] or 0}"
        print(
            f"{j['job_id']:<22} {shown_status(j):<10} {j['created_at'][:19]:<20} "
            f"{_duration(j):>9} {runs:>23} {'–' if effect is None else f'{effect:.4f}':>12}"
        )
    return 0


def _show(store: Any, args: argparse.Namespace) -> int:
    job = _live_counts(store, store.get_job(args.job_id))
    runs = store.job_runs(args.job_id)
    if args.json:
        print(json.dumps({"job": job, "runs": runs}, indent=1, default=str))
        return 0
    print(
        f"job {job['job_id']}: {shown_status(job)}  created {job['created_at']}  "
        f"completed {job['completed_at'] or '–'}  ({_duration(job)})"
    )
    if job["status"] == "running":
        print(running_note(job))
    print(
        f"code {job['code_version']}; runs {job['completed_runs']} completed, "
        f"{job['failed_runs']} failed, {job['total_runs']} in all"
    )
    if job.get("description"):
        print(f"description: {job['description']}")
    if job.get("error"):
        print(f"error: {job['error']}")
    print(f"overrides: {' '.join(job['overrides'] or []) or '(none)'}")
    print(
        f"swept: κ {job['kappas']}  c {job['concentrations']}  μ {job['mus']}  "
        f"ρ {job['outside_mid_ratios']}  seeds {job['seeds']}"
    )
    print(format_aggregate(job["job_metrics"] or {}))
    rows = pair_rows(runs)
    print(format_pairs(rows))
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        print(f"failed #{r['job_num']}: {r['error']}")
    print(
        "events: " + ", ".join(f"{e['event_type']} {e['timestamp'][11:19]}" for e in job["events"])
    )
    return 0


EXPORT_COLUMNS = (
    "kappa",
    "concentration",
    "mu",
    "monotonicity",
    "seed",
    "face_value",
    "outside_mid_ratio",
    "delta_passive",
    "delta_active",
    "trading_effect",
    "trading_relief_ratio",
    "phi_passive",
    "phi_active",
    "passive_run_id",
    "passive_status",
    "active_run_id",
    "active_status",
    "total_trades",
)


INTEGER_COLUMNS = {"seed", "total_trades"}
TEXT_COLUMNS = {"passive_run_id", "passive_status", "active_run_id", "active_status"}


def _plain(value: Any, column: str) -> str:
    """A number as plain decimal digits (never 1e-05), None as an empty cell. Real-valued
    columns are always written as reals: SQLite hands back 1.0 as the integer 1, PostgreSQL
    does not, and an export must not depend on the store."""
    from decimal import Decimal

    if value is None:
        return ""
    if column in TEXT_COLUMNS or isinstance(value, str):
        return str(value)
    if column in INTEGER_COLUMNS:
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def export_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per pair, from a store's job_runs."""
    pairs: dict[tuple, dict[str, Any]] = {}
    for run in runs:
        pair = pairs.setdefault(pair_key(run), {})
        pair[run["regime"]] = run
    out = []
    for num in sorted(pairs):
        p, a = pairs[num].get("passive", {}), pairs[num].get("active", {})
        any_run = p or a
        config = any_run.get("config") or {}
        raw = a.get("raw_metrics") or p.get("raw_metrics") or {}
        out.append(
            {
                "kappa": any_run.get("kappa"),
                "concentration": any_run.get("concentration"),
                "mu": any_run.get("mu"),
                "monotonicity": config.get("monotonicity"),
                "seed": any_run.get("seed"),
                "face_value": config.get("face_value"),
                "outside_mid_ratio": any_run.get("outside_mid_ratio"),
                "delta_passive": p.get("delta_total"),
                "delta_active": a.get("delta_total"),
                "trading_effect": a.get("trading_effect"),
                "trading_relief_ratio": raw.get("trading_relief_ratio"),
                "phi_passive": p.get("phi_total"),
                "phi_active": a.get("phi_total"),
                "passive_run_id": p.get("run_id"),
                "passive_status": p.get("status"),
                "active_run_id": a.get("run_id"),
                "active_status": a.get("status"),
                "total_trades": a.get("total_trades"),
            }
        )
    return out


def _export(store: Any, args: argparse.Namespace) -> int:
    import csv
    import io

    store.get_job(args.job_id)  # JobNotFound for an unknown id
    rows = export_rows(store.job_runs(args.job_id))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([_plain(row[c], c) for c in EXPORT_COLUMNS])
    if args.output == "-":
        sys.stdout.write(buffer.getvalue())
        return 0
    write_atomically(args.output, buffer.getvalue(), newline="")
    print(f"{len(rows)} pairs → {args.output}", file=sys.stderr)
    return 0
