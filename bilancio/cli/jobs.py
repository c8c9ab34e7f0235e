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

FORMATS = ("csv", "markdown", "latex")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bilancio jobs", description="Inspect stored sweeps.")
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("ls", help="list jobs, newest first")
    ls.add_argument("--limit", type=int, default=None, help="show at most N jobs")
    show = sub.add_parser(
        "show", help="one job: its cells (effect, CI, p-values), status, job_metrics"
    )
    show.add_argument("job_id")
    show.add_argument("--pairs", action="store_true", help="also list every pair")
    show.add_argument(
        "--trades",
        action="store_true",
        help="also summarise the recorded trades (record.trades=true): trades by venue and "
        "bucket, dealer use, saved sellers and new defaulters",
    )
    export = sub.add_parser(
        "export",
        help="one row per pair (bilancio 0.1's columns, then the trade mechanism), or per cell",
    )
    export.add_argument("job_id")
    export.add_argument("-o", "--output", required=True, help="file to write ('-': stdout)")
    export.add_argument("--cells", action="store_true", help="one row per cell with its statistics")
    export.add_argument(
        "--frontier",
        action="store_true",
        help="a frontier job (hydra.sweeper.design=frontier): one row per cell and seed with "
        "the answer of each regime, its status and the liquidity saved",
    )
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="csv",
        help="csv (every digit), or a table to paste: markdown, latex (rounded)",
    )
    sensitivity = sub.add_parser(
        "sensitivity",
        help="a Saltelli job (hydra.sweeper.design=saltelli): first-order and total Sobol' "
        "indices with confidence intervals for the trading effect, δ passive and δ active",
    )
    sensitivity.add_argument("job_id")
    for p in (ls, show, export, sensitivity):
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
        if args.command == "sensitivity":
            return _sensitivity(store, args)
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
    from bilancio.analysis.frontier import format_frontier, frontier_of, job_frontier
    from bilancio.analysis.summary import job_cells
    from bilancio.analysis.tables import format_cells, json_ready

    job = _live_counts(store, store.get_job(args.job_id))
    # judged now, against the lease as just read: reading the runs below can take longer than
    # a short lease (heartbeat_seconds=0.5 gives 3 s)
    status = shown_status(job)
    note = running_note(job) if job["status"] == "running" else None
    want_runs = args.pairs or args.json or (job.get("failed_runs") or 0) > 0
    runs = store.job_runs(args.job_id) if want_runs else None
    cells, stored = job_cells(store, args.job_id, job, runs)
    runs = runs or []
    trades = _trade_summary(store, args.job_id) if args.trades else None
    if args.json:
        shown = {"job": job, "cells": json_ready(cells), "runs": runs}
        if frontier_of(job) is not None:
            shown["frontier"] = job_frontier(store, job)[0]
        if args.trades:
            shown["trades"] = trades.to_dict() if trades is not None else None
        print(json.dumps(shown, indent=1, default=str))
        return 0
    print(
        f"job {job['job_id']}: {status}  created {job['created_at']}  "
        f"completed {job['completed_at'] or '–'}  ({_duration(job)})"
    )
    if note:
        print(note)
    print(
        f"code {job['code_version']}; runs {job['completed_runs']} completed, "
        f"{job['failed_runs']} failed, {job['total_runs']} in all"
    )
    if job.get("description"):
        print(f"description: {job['description']}")
    if job.get("error"):
        print(f"error: {job['error']}")
    print(f"overrides: {' '.join(job['overrides'] or []) or '(none)'}")
    frontier, frontier_stored = job_frontier(store, job)
    if frontier is not None:
        print(format_frontier(frontier))
        if not frontier_stored:
            print("  (replayed from the runs now: none stored for this job yet)")
        print("cells (every value the search evaluated is a cell of its own):")
    print(format_cells(cells))
    if cells and not stored:
        print("  (computed from the runs now: no cell_metrics stored for this job yet)")
    print(format_aggregate(job["job_metrics"] or {}))
    rows = pair_rows(runs)
    if args.pairs:
        print(format_pairs(rows))
    else:
        print(f"pairs: add --pairs (or bilancio jobs export {job['job_id']} -o pairs.csv)")
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        print(f"failed #{r['job_num']}: {r['error']}")
    if args.trades:
        from bilancio.analysis.trades import format_trade_summary

        print(format_trade_summary(trades, (job.get("completed_runs") or 0) // 2))
    print(
        "events: " + ", ".join(f"{e['event_type']} {e['timestamp'][11:19]}" for e in job["events"])
    )
    return 0


def _sensitivity(store: Any, args: argparse.Namespace) -> int:
    from bilancio.analysis.sensitivity import SensitivityError, format_indices, job_indices

    job = store.get_job(args.job_id)
    try:
        found, stored = job_indices(store, job)
    except SensitivityError as err:
        print(f"bilancio: {err}", file=sys.stderr)
        return 2
    # exit 1 when no group has indices (a running, incomplete or failed design): a script
    # must not take the notes for results
    some = any(
        (m or {}).get("indices") for g in found["groups"] for m in (g.get("metrics") or {}).values()
    )
    if args.json:
        print(json.dumps(found, indent=1))
        return 0 if some else 1
    print(format_indices(found))
    if not stored:
        print("  (computed from the runs now: none stored for this job yet)")
    if not some:
        print("bilancio: no indices: see the notes above", file=sys.stderr)
    return 0 if some else 1


def _trade_summary(store: Any, job_id: str) -> Any:
    """The job's TradeSummary, or None when it recorded no trades."""
    from bilancio.analysis.trades import summarise_trades

    outcomes = store.job_agent_outcomes(job_id)
    return summarise_trades(store.job_trades(job_id), outcomes) if outcomes else None


# besides every n_… count (n_sells, n_pairs, n_agents)
INTEGER_COLUMNS = {
    "rounds",
    "evaluations",
    "seed",
    "total_trades",
    "n",
    "positive_effects",
    "negative_effects",
    "neutral_effects",
    "maturity_days",
    "max_days",
    "quiet_days",
    "market.horizon",
    "market.risk.lookback",
}
TEXT_COLUMNS = {
    "status_passive",
    "status_active",
    "passive_run_id",
    "passive_status",
    "active_run_id",
    "active_status",
    "cell_key",
    "cell_id",
    "job_id",
    "seeds",
}


def _plain(value: Any, column: str) -> str:
    """A number as plain decimal digits (never 1e-05), None as an empty cell. Real-valued
    columns are always written as reals: SQLite hands back 1.0 as the integer 1, PostgreSQL
    does not, and an export must not depend on the store."""
    from decimal import Decimal

    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if column in TEXT_COLUMNS or isinstance(value, str):
        return str(value)
    if column in INTEGER_COLUMNS or column.startswith("n_"):
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def _export(store: Any, args: argparse.Namespace) -> int:
    import csv
    import io

    job = store.get_job(args.job_id)  # JobNotFound for an unknown id
    if args.cells and args.frontier:
        raise OutputError("--cells and --frontier are two different tables: give one")
    if args.frontier:
        text, what = _frontier_table(store, job, args.format)
    elif args.cells:
        from bilancio.analysis.summary import job_cells
        from bilancio.analysis.tables import cells_frame, paste_table

        cells, _ = job_cells(store, args.job_id, job)
        if args.format != "csv":
            text, what = paste_table(cells, args.format), f"{len(cells)} cells"
        else:
            frame = cells_frame(cells)
            columns = list(frame.columns)
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(columns)
            for record in frame.to_dict("records"):
                writer.writerow([_plain(_jsonable(record[c]), c) for c in columns])
            text, what = buffer.getvalue(), f"{len(cells)} cells"
    else:
        rows = export_rows(store.job_runs(args.job_id))
        what = f"{len(rows)} pairs"
        if args.format != "csv":
            text = _paste_pairs(rows, args.format)
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(EXPORT_COLUMNS)
            for row in rows:
                writer.writerow([_plain(row[c], c) for c in EXPORT_COLUMNS])
            text = buffer.getvalue()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    write_atomically(args.output, text, newline="")
    print(f"{what} → {args.output}", file=sys.stderr)
    return 0


def _frontier_table(store: Any, job: dict[str, Any], fmt: str) -> tuple[str, str]:
    import csv
    import io

    import pandas as pd

    from bilancio.analysis.frontier import FRONTIER_COLUMNS, frontier_rows, job_frontier

    found, _ = job_frontier(store, job)
    if found is None:
        raise OutputError(
            f"job {job['job_id']} is not a frontier search: --frontier needs "
            "hydra.sweeper.design=frontier (the pairs: jobs export JOB -o pairs.csv)"
        )
    rows = frontier_rows(found)
    columns = list(dict.fromkeys(k for r in rows for k in r)) or list(FRONTIER_COLUMNS)
    what = f"{len(rows)} frontier cells"
    if fmt != "csv":
        frame = pd.DataFrame(
            [{c: "–" if r.get(c) is None else r[c] for c in columns} for r in rows],
            columns=columns,
        )
        if fmt == "markdown":
            return frame.to_markdown(index=False) + "\n", what
        frame.columns = [c.replace("_", r"\_") for c in frame.columns]
        return frame.to_latex(index=False, float_format="%.4f"), what
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_plain(row.get(c), c) for c in columns])
    return buffer.getvalue(), what


def _jsonable(value: Any) -> Any:
    """Lists and dicts of a cell (its seeds) as JSON text; NaN (pandas' missing) as None."""
    import math

    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _paste_pairs(rows: list[dict[str, Any]], fmt: str) -> str:
    import pandas as pd

    def shown(value: Any, column: str) -> str:
        if value is None:
            return "–" if fmt == "markdown" else "--"
        if column in TEXT_COLUMNS or isinstance(value, str):
            return str(value) if fmt == "markdown" else str(value).replace("_", r"\_")
        if column in INTEGER_COLUMNS or column.startswith("n_"):
            return str(int(value))
        return f"{float(value):.4f}"

    frame = pd.DataFrame([{c: shown(r[c], c) for c in EXPORT_COLUMNS} for r in rows])
    if fmt == "markdown":
        right = ["right"] * len(frame.columns)
        return frame.to_markdown(index=False, disable_numparse=True, colalign=right) + "\n"
    frame.columns = [c.replace("_", r"\_") for c in frame.columns]
    return frame.to_latex(index=False, escape=False)
