"""``bilancio jobs ls`` and ``bilancio jobs show JOB_ID``: read what sweeps stored."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from bilancio.cli.common import add_source_options, open_for_reading
from bilancio.files import OutputError, write_atomically
from bilancio.report import EXPORT_COLUMNS, export_rows, format_aggregate, format_pairs, pair_rows
from bilancio.storage import StoreError
from bilancio.sweep import lease


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
