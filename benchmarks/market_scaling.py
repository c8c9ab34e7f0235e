"""How the market phase's cost grows with n: the active run's time minus the passive run's on
the same scenario, per agent, at n = 1,000, 10,000 and 30,000 (expel-agent, μ = 1, κ = 0.5:
many expulsions, which is where a scan of the customer list made the market quadratic).

A linear market has the same cost per agent at every n: the last column is the cost per agent
at n divided by the cost per agent at the smallest n.

Run from the repository root:  uv run python benchmarks/market_scaling.py [--baseline REV]
``--baseline REV`` measures the code of that git revision too, in the same run (a temporary
``git worktree``), and prints this code's time as a ratio of the baseline's.
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
SIZES = (1_000, 10_000, 30_000)
MEASURE = """
import json, sys, time
from bilancio.model import ModelParams, simulate
n, repeats = int(sys.argv[1]), int(sys.argv[2])
out = []
for seed in range(1, repeats + 1):
    p = ModelParams(n_agents=n, seed=seed, default_handling="expel-agent", maturity_days=10,
                    kappa=0.5, concentration=1.0, mu=1.0)
    t = time.perf_counter(); simulate(p, "active"); active = time.perf_counter() - t
    t = time.perf_counter(); simulate(p, "passive"); passive = time.perf_counter() - t
    out.append(active - passive)
print(json.dumps(out))
"""


def market_seconds(source: Path, n: int, repeats: int) -> float:
    """Median market-phase seconds of ``repeats`` seeds at ``n``, with the code in ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(n), str(repeats)],
        env=env, capture_output=True, text=True, check=True, cwd=source,
    )  # fmt: skip
    return statistics.median(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision")
    parser.add_argument("--repeats", type=int, default=3, help="seeds per size (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sources = {"this code": REPO}
        if args.baseline:
            tree = Path(scratch) / "baseline"
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.baseline],
                check=True, capture_output=True,
            )  # fmt: skip
            sources[f"baseline {args.baseline}"] = tree
        try:
            found = {
                label: {n: market_seconds(source, n, args.repeats) / n * 1e6 for n in SIZES}
                for label, source in sources.items()
            }
            print(f"market phase, µs per agent (median of {args.repeats} seeds)")
            for label, costs in found.items():
                print(f"  {label}")
                for n, cost in costs.items():
                    growth = cost / costs[SIZES[0]]
                    line = f"    n={n:>6,}  {cost:8.1f} µs/agent   ×{growth:.2f} of n={SIZES[0]:,}"
                    if label != "this code":
                        line += f"   this code: ×{found['this code'][n] / cost:.2f} of it"
                    print(line)
        finally:
            if args.baseline:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                    check=False, capture_output=True,
                )  # fmt: skip


if __name__ == "__main__":
    main()
