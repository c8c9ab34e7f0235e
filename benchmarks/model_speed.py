"""Wall time of single model runs and pairs, against the Python model and the naive loop.

Issue 15's targets: a pair at n = 100, T = 10, expel-agent ≤ 1 ms; a pair at n = 10,000 ≤ 0.15 s;
the market's cost linear in n (``benchmarks/market_scaling.py``).

Run from the repository root:  uv run python benchmarks/model_speed.py [--baseline REV] [--rounds 3]

Each row is measured in its own subprocess, for each code in turn, ``--rounds`` times (rounds
interleave the codes, so a machine that slows down mid-run slows all of them alike):
* this code — the compiled kernel, loaded from its cache;
* the baseline revision (default ``d3e80c0``, the last commit with the Python model), checked out
  in a temporary ``git worktree``;
* the naive loop — this code's kernel run uncompiled by the Python interpreter
  (``BILANCIO_KERNEL=python``), at n = 100 only (it is ~100× slower than the kernel).
Each figure is the median over the seeds of a round; the ratio columns divide the baseline's and
the naive loop's medians by this code's, round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE = "d3e80c0"
ROWS = (  # (label, n, what, mode, seeds)
    ("pair n=100 T=10 expel-agent", 100, "pair", "expel-agent", 200),
    ("pair n=100 T=10 fail-fast", 100, "pair", "fail-fast", 200),
    ("passive n=100 T=10 expel-agent", 100, "passive", "expel-agent", 200),
    ("generate n=100", 100, "generate", "expel-agent", 200),
    ("pair n=1,000 T=10 expel-agent", 1_000, "pair", "expel-agent", 20),
    ("pair n=10,000 T=10 expel-agent", 10_000, "pair", "expel-agent", 3),
    ("generate n=10,000", 10_000, "generate", "expel-agent", 3),
)
MEASURE = """
import json, sys, time
from bilancio.model import ModelParams, generate, simulate, simulate_pair
n, what, mode, seeds = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
runs = {"pair": simulate_pair, "passive": lambda p: simulate(p, "passive"), "generate": generate}
run = runs[what]
base = dict(maturity_days=10, q_total=10000, kappa=1.0, concentration=1.0, mu=0.5)
params = [ModelParams(n_agents=n, seed=s, default_handling=mode, **base) for s in range(seeds)]
run(params[0])  # warm: imports, the kernel's cache
out = []
for p in params:
    t = time.perf_counter(); run(p); out.append(time.perf_counter() - t)
print(json.dumps(out))
"""


def median_seconds(source: Path, row: tuple, interpreted: bool = False) -> float:
    _, n, what, mode, seeds = row
    env = {**os.environ, "PYTHONPATH": str(source)}
    if interpreted:
        env["BILANCIO_KERNEL"] = "python"
        seeds = min(seeds, 10)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(n), what, mode, str(seeds)],
        env=env, capture_output=True, text=True, check=True, cwd=source,
    )  # fmt: skip
    return statistics.median(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE, metavar="REV", help="Python model's rev")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of every row")
    parser.add_argument("--only", help="measure only the rows whose label contains this")
    args = parser.parse_args()
    rows = [r for r in ROWS if not args.only or args.only in r[0]]
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.baseline],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            print(f"median seconds per call; baseline = {args.baseline}, {args.rounds} rounds")
            for row in rows:
                for k in range(args.rounds):
                    ours = median_seconds(REPO, row)
                    theirs = median_seconds(tree, row)
                    line = (
                        f"{row[0]:<32} round {k + 1}: this code {ours * 1e3:9.3f} ms   "
                        f"baseline {theirs * 1e3:9.3f} ms (×{theirs / ours:6.1f})"
                    )
                    if row[1] == 100 and row[2] != "generate":
                        naive = median_seconds(REPO, row, interpreted=True)
                        line += f"   naive loop {naive * 1e3:9.1f} ms (×{naive / ours:6.0f})"
                    print(line, flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                check=False, capture_output=True,
            )  # fmt: skip


if __name__ == "__main__":
    main()
