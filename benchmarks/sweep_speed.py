"""Wall time, runner overhead and memory of whole sweeps, run as a user runs them.

Targets: the 625-pair balanced grid with the pool launcher in ≤ 60 s; runner overhead ≤ 10 ms
per job beyond model time; a 10,000-job sweep (n=20) in ≤ 5 min with memory that does not grow
per job.

Run from the repository root:  uv run python benchmarks/sweep_speed.py [--quick]

Runner overhead per job = (wall time − model time ÷ workers) ÷ jobs, where model time is the
sum of the runs' execution_time_ms as stored (the pair computations themselves). It includes
Hydra's start-up, planning, the database writes and the report.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BILANCIO = Path(sys.executable).with_name("bilancio")


def run_sweep(args: list[str], workdir: Path) -> tuple[float, float, int]:
    """Run a sweep in a fresh process; return (wall seconds, model seconds, peak RSS in MB)."""
    db = workdir / "bench.db"
    db.unlink(missing_ok=True)
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,"
        " text=True)\n"
        "wall = time.perf_counter() - t\n"
        "if p.returncode: sys.exit(p.stderr)\n"
        "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    cmd = [
        sys.executable,
        "-c",
        code,
        str(BILANCIO),
        *args,
        f"storage.path={db}",
        f"hydra.sweep.dir={workdir / 'multirun'}",
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"sweep failed: {out.stderr}")
    wall, rss_kb = out.stdout.split()
    with sqlite3.connect(db) as con:
        model_ms = con.execute("SELECT SUM(execution_time_ms) FROM runs").fetchone()[0]
    return float(wall), model_ms / 1000, int(rss_kb) // 1024


def report(label: str, jobs: int, workers: int, wall: float, model: float, rss: int) -> None:
    overhead = (wall - model / workers) / jobs
    print(
        f"{label:<48} {jobs:>6} jobs  wall {wall:7.1f} s  model {model:7.1f} s  "
        f"overhead {overhead * 1000:6.2f} ms/job  peak RSS {rss} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 10,000-job sweep")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        grid = ["+experiments=balanced_grid"]
        report(
            "balanced_grid, hydra/launcher=pool",
            625,
            cores,
            *run_sweep([*grid, "hydra/launcher=pool"], work),
        )
        report("balanced_grid, default launcher (sequential)", 625, 1, *run_sweep(grid, work))
        ten = [
            "-m",
            "kappa=0.25,0.5,0.75,1,1.5,2,2.5,3,4,5",
            "concentration=0.2,0.3,0.5,0.7,1,1.5,2,3,4,5",
            "mu=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,1",
            "n_agents=20",
            "hydra/launcher=pool",
        ]
        report("n=20 grid, pool (1,000 jobs)", 1000, cores, *run_sweep(ten, work))
        if not args.quick:
            tic = time.perf_counter()
            report(
                "n=20 grid × 10 seeds, pool (10,000 jobs)",
                10_000,
                cores,
                *run_sweep([*ten, "seed=1,2,3,4,5,6,7,8,9,10"], work),
            )
            print(f"  (10,000-job sweep measured in {time.perf_counter() - tic:.0f} s)")
    print(
        f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB)"
    )


if __name__ == "__main__":
    main()
