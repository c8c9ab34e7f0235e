"""Wall time, runner overhead and memory of whole sweeps, run as a user runs them.

Targets: the 625-pair balanced grid with the pool launcher in ≤ 60 s; runner overhead ≤ 10 ms
per job beyond model time; a 10,000-job sweep (n=20) in ≤ 5 min with memory that does not grow
per job.

Run from the repository root:  uv run python benchmarks/sweep_speed.py [--quick]
                               uv run python benchmarks/sweep_speed.py --overhead [--repeat 3]
                               uv run python benchmarks/sweep_speed.py --four-hundred [--rounds 3]

Runner overhead per job = (wall time − model time ÷ workers) ÷ jobs, where model time is the
sum of the runs' execution_time_ms as stored (the pair computations themselves). It includes
Hydra's start-up, planning, the database writes and the report.

``--overhead`` measures the sweep's own cost per pair apart from the model (issue 15): each
sweep runs in a fresh process with the pair computation replaced by a cached result (the model
runs once), so what is timed is planning, checking, hashing, building the rows, the database
writes, the Hydra records and the summaries. It is measured at two sizes; the per-pair overhead
is the slope between them (start-up and other fixed costs cancel), and each part is shown the
same way. Four cases: small sweeps (400 → 4,000 pairs, a Hydra folder per job) and large ones
(12,000 → 24,000 pairs, one jobs.jsonl), each with every pair its own cell
(``kappa=range(…)``, the most cells a sweep can have) and with every pair a seed of one cell
(``seed=range(…)``, replicates).

``--four-hundred`` times issue 15's 400-pair sweep at n = 100 with the default launcher,
``bilancio -m kappa=0.5,1,2,4 'seed=range(1,101)'`` (four cells of 100 seeds), end to end in a
fresh process, for this code and for the baseline revision (default ``d3e80c0``, the last
commit with the Python model, checked out in a temporary ``git worktree``), interleaved.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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
        f"overhead {overhead * 1000:6.2f} ms/job  {jobs / wall / workers:7.1f} pairs/s/core  "
        f"peak RSS {rss} MB"
    )


OVERHEAD_CASES = (  # (label, axis, small, large)
    ("small sweeps, a cell per pair", "kappa", 400, 4000),
    ("small sweeps, one cell of seeds", "seed", 400, 4000),
    ("large sweeps, a cell per pair", "kappa", 12_000, 24_000),
    ("large sweeps, one cell of seeds", "seed", 12_000, 24_000),
)
BASELINE = "d3e80c0"
FOUR_HUNDRED = ["-m", "kappa=0.5,1,2,4", "seed=range(1,101)"]


def _overhead_child(pairs: int, axis: str, extra: list[str]) -> None:
    """In a fresh process: one sweep of ``pairs`` pairs with the pair computation cached; print
    the seconds of each part as JSON."""
    import json

    import bilancio.sweep.job as job
    import bilancio.sweep.orchestrate as orchestrate
    from bilancio.sweep import callbacks

    real, cache = job._run_pair, {}
    parts: dict[str, float] = {"model": 0.0}

    def cached(params, record=False):
        tic = time.perf_counter()
        if params.n_agents not in cache:
            cache[params.n_agents] = real(params)
        parts["model"] += time.perf_counter() - tic
        return cache[params.n_agents]

    def timed(owner, name, part):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            tic = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                parts[part] = parts.get(part, 0.0) + time.perf_counter() - tic

        setattr(owner, name, wrapper)

    job._run_pair = cached
    timed(orchestrate, "plan_sweep", "plan (build, validate, hash)")
    timed(orchestrate.Sweep, "_prepare", "prepare (checks, Hydra records)")
    timed(orchestrate.Sweep, "_follow", "run (rows, writes, progress)")
    timed(callbacks, "report_sweep", "summaries (job_metrics, cells, report)")
    timed(orchestrate, "run_sweep", "sweep")
    work = Path(tempfile.mkdtemp(prefix="bilancio-overhead-"))
    sys.argv = [
        "bilancio",
        "-m",
        f"{axis}=range(1,{pairs + 1})",
        f"storage.path={work / 'bench.db'}",
        f"hydra.sweep.dir={work / 'multirun'}",
        *extra,
    ]
    from bilancio.cli import main as bilancio_main

    tic = time.perf_counter()
    try:
        bilancio_main()
    except SystemExit as err:
        if err.code:
            shutil.rmtree(work)
            raise
    except BaseException:
        shutil.rmtree(work)
        raise
    parts["total"] = time.perf_counter() - tic
    parts["run (rows, writes, progress)"] -= parts["model"]
    files = [p for p in (work / "multirun").rglob("*")]
    parts["hydra_bytes"] = sum(p.stat().st_blocks * 512 for p in files)  # on disk, folders too
    parts["hydra_entries"] = len(files)
    shutil.rmtree(work)
    print(json.dumps(parts))


def overhead(repeat: int, extra: list[str], only: str = "") -> None:
    import json

    print(
        f"sweep overhead per pair, model cached, {' '.join(extra) or 'default launcher'}: "
        f"the slope between two sizes, {repeat} repetition(s)"
    )
    for label, axis, small, large in (c for c in OVERHEAD_CASES if only in c[0]):
        print(f"{label} ({axis}=range(…), {small:,} → {large:,} pairs):")
        for rep in range(repeat):
            got = {}
            for pairs in (small, large):
                cmd = [sys.executable, __file__, "--overhead-child", str(pairs), axis, *extra]
                out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
                if out.returncode:
                    raise SystemExit(f"sweep failed: {out.stderr[-2000:]}")
                got[pairs] = json.loads(out.stdout.strip().splitlines()[-1])
            keys = [k for k in got[large] if k not in ("hydra_bytes", "hydra_entries", "model")]
            line = ", ".join(
                f"{k} {(got[large][k] - got[small].get(k, 0.0)) / (large - small) * 1000:.3f}"
                for k in keys
            )
            hydra = (got[large]["hydra_bytes"] - got[small]["hydra_bytes"]) / (large - small)
            total = (got[large]["total"] - got[small]["total"]) / (large - small)
            line += f"; {1 / total:,.0f} pairs/s (wall) with the model free"
            print(f"  #{rep + 1} ms/pair: {line}; Hydra records {hydra:.0f} B/pair on disk")
            a, b = got[small]["total"], got[large]["total"]
            print(f"     {small} pairs: {a:.2f} s; {large}: {b:.2f} s", flush=True)


def four_hundred(rounds: int, baseline: str) -> None:
    """Issue 15's 400-pair sweep, end to end, this code against ``baseline``, interleaved."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), baseline],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            print(f"bilancio {' '.join(FOUR_HUNDRED)} (n = 100, default launcher), wall seconds")
            for code in (REPO, tree):  # a first run each writes its bytecode, as a user's would
                _four_hundred_once(code, Path(scratch) / f"warm-{code.name}")
            for k in range(rounds):
                ours = _four_hundred_once(REPO, Path(scratch) / f"ours{k}")
                theirs = _four_hundred_once(tree, Path(scratch) / f"base{k}")
                print(
                    f"  round {k + 1}: this code {ours[0]:.2f} s ({ours[1]} pairs/s/core)   "
                    f"{baseline} {theirs[0]:.2f} s ({theirs[1]} pairs/s/core)   "
                    f"×{theirs[0] / ours[0]:.2f}",
                    flush=True,
                )
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                check=False, capture_output=True,
            )  # fmt: skip


def _four_hundred_once(source: Path, work: Path) -> tuple[float, int]:
    """One run of the 400-pair sweep with the code in ``source``, in a fresh process started
    in an empty folder; (wall seconds, pairs a second per core)."""
    work.mkdir()
    start = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'bilancio'\n"
        "import bilancio.cli\n"
        "assert bilancio.cli.__file__.startswith(sys.path[0]), bilancio.cli.__file__\n"
        "bilancio.cli.main()\n"
    )
    cmd = [sys.executable, "-c", start, str(source), *FOUR_HUNDRED, "n_agents=100"]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")  # as a user's shell has it
    }
    tic = time.perf_counter()
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - tic
    if done.returncode:
        raise SystemExit(f"the 400-pair sweep failed ({source}): {done.stderr[-2000:]}")
    with sqlite3.connect(work / "bilancio.db") as con:
        pairs = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()
    assert pairs[0] == 800, pairs
    return wall, round(400 / wall)


def main() -> None:
    if sys.argv[1:2] == ["--overhead-child"]:
        _overhead_child(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="skip the 10,000-job sweep")
    parser.add_argument(
        "--overhead", action="store_true", help="the sweep's own cost per pair, model cached"
    )
    parser.add_argument("--repeat", type=int, default=1, help="repetitions of --overhead")
    parser.add_argument(
        "--cases", default="", metavar="TEXT", help="--overhead: only the cases naming TEXT"
    )
    parser.add_argument(
        "--four-hundred", action="store_true", help="the 400-pair sweep against the baseline"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --four-hundred")
    parser.add_argument("--baseline", default=BASELINE, metavar="REV", help="for --four-hundred")
    args, extra = parser.parse_known_args()
    if args.overhead:
        overhead(args.repeat, extra, args.cases)
        return
    if args.four_hundred:
        four_hundred(args.rounds, args.baseline)
        return
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
