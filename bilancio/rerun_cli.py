"""``bilancio rerun JOB_ID [--failed-only] [--db PATH] [overrides...]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bilancio rerun",
        description=(
            "Re-execute a job from its stored configs as a new job, and compare every metric of "
            "every run. Other arguments are Hydra overrides (storage=..., +cloud=modal, ...)."
        ),
    )
    parser.add_argument("job_id")
    parser.add_argument(
        "--failed-only", action="store_true", help="re-run only the failed runs, into the same job"
    )
    parser.add_argument("--db", help="SQLite file (default: ./bilancio.db, or storage=...)")
    args, extra = parser.parse_known_args(argv)
    hydra_args = ["-m", f"rerun.of={args.job_id}", *extra]
    if args.failed_only:
        hydra_args.append("rerun.failed_only=true")
    if args.db:
        hydra_args.append(f"storage.path={args.db}")
    _warn_code_version(args, extra)
    from bilancio import cli
    from bilancio.sweep.orchestrate import LAST_SWEEP

    earlier = len(LAST_SWEEP)
    cli.terminate_as_interrupt()
    code = cli.run_hydra(hydra_args)
    sweeps = LAST_SWEEP[earlier:]
    if not sweeps:
        return code or 2
    summary = sweeps[-1]
    if args.failed_only:
        return code
    from bilancio.storage import open_store
    from bilancio.sweep.rerun import compare

    store = open_store(summary.storage)
    differences = compare(store, args.job_id, summary.job_id)
    total = len(store.job_runs(summary.job_id))
    if differences:
        print(
            f"{total - len({d.split(':')[0] for d in differences})}/{total} runs identical; "
            f"differences ({len(differences)}):"
        )
        for line in differences[:50]:
            print(f"  {line}")
        return 1
    print(f"{total}/{total} runs identical (job {summary.job_id} re-ran {args.job_id})")
    return code


def _warn_code_version(args: argparse.Namespace, extra: list[str]) -> None:
    """Say so when the stored job was computed by another version of the code."""
    from pathlib import Path

    if any(e.startswith("storage") for e in extra):
        return  # another store: the sweep itself reads it
    db = args.db or "bilancio.db"
    if not Path(db).is_file():
        return
    from bilancio.storage import JobNotFound
    from bilancio.storage.sqlite import SQLiteStore
    from bilancio.sweep.records import code_version

    try:
        stored = SQLiteStore(db).get_job(args.job_id).get("code_version")
    except JobNotFound:
        return
    here = code_version()
    if stored and stored != here:
        print(
            f"bilancio: warning: job {args.job_id} was computed by {stored}; this is {here}",
            file=sys.stderr,
        )
