"""``bilancio rerun JOB_ID [--failed-only] [--db PATH] [overrides...]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


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
    folder = Path(args.job_id) / "bilancio_job.json"
    if folder.is_file():  # a Hydra multirun folder of a bilancio sweep
        written = json.loads(folder.read_text())
        args.job_id = written["job_id"]
        storage = written["storage"]
        if storage.get("backend") == "sqlite" and not args.db:
            args.db = storage["path"]
        elif storage.get("backend") != "sqlite":
            extra = [f"storage={storage['backend']}", *extra]
    hydra_args = ["-m", f"rerun.of={args.job_id}", *extra]
    if args.failed_only:
        hydra_args.append("rerun.failed_only=true")
    if args.db:
        hydra_args.append(f"storage.path={args.db}")
    from bilancio.cli.hydra_app import run_hydra
    from bilancio.sweep.orchestrate import LAST_SWEEP

    earlier = len(LAST_SWEEP)
    code = run_hydra(hydra_args)
    sweeps = LAST_SWEEP[earlier:]
    if not sweeps:
        return code or 2
    summary = sweeps[-1]
    if args.failed_only:
        return code
    from bilancio.storage import open_store
    from bilancio.sweep.rerun import compare

    store = open_store(summary.storage, read_only=True)
    try:
        original = {(r["job_num"], r["regime"]): r["status"] for r in store.job_runs(args.job_id)}
        runs = store.job_runs(summary.job_id)
        differences = compare(store, args.job_id, summary.job_id)
    finally:
        store.close()
    compared = sum(original.get((r["job_num"], r["regime"])) == "completed" for r in runs)
    unmatched = len(runs) - compared
    aside = (
        f"; {unmatched} runs that had not completed in {args.job_id} were run but not compared"
        if unmatched
        else ""
    )
    if differences:
        differing = len({d.split(":")[0] for d in differences})
        print(
            f"{compared - differing}/{compared} runs identical{aside}; "
            f"differences ({len(differences)}):"
        )
        for line in differences[:50]:
            print(f"  {line}")
        return 1
    print(
        f"{compared}/{compared} runs identical (job {summary.job_id} re-ran {args.job_id}){aside}"
    )
    return code
