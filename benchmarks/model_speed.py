"""Wall time of single model runs (issue: passive ≤ 5 ms at n=100, linear growth in n).

Run:  uv run python benchmarks/model_speed.py [--repeats N]
Prints the median and p90 over seeds 0..N−1 for each configuration.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from bilancio.model import ModelParams, simulate

BASE = dict(maturity_days=10, q_total=10000, kappa=1.0, concentration=1.0, mu=0.5)


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(label: str, repeats: int, make: Callable[[int], Callable[[], object]]) -> None:
    make(0)()  # warm-up: imports, caches
    times = sorted(_time(make(seed)) for seed in range(repeats))
    median = statistics.median(times)
    p90 = times[int(0.9 * (len(times) - 1))]
    print(f"{label:<44} median {median * 1e3:9.2f} ms   p90 {p90 * 1e3:9.2f} ms   (n={repeats})")


def passive(n: int, mode: str) -> Callable[[int], Callable[[], object]]:
    def make(seed: int) -> Callable[[], object]:
        p = ModelParams(n_agents=n, seed=seed, default_handling=mode, **BASE)
        return lambda: simulate(p, regime="passive")

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200, help="runs per n=100 row")
    args = parser.parse_args()
    for mode in ("expel-agent", "fail-fast"):
        measure(f"passive n=100 T=10 {mode}", args.repeats, passive(100, mode))
    for n, reps in ((1_000, max(args.repeats // 10, 5)), (10_000, max(args.repeats // 40, 3))):
        for mode in ("expel-agent", "fail-fast"):
            measure(f"passive n={n} T=10 {mode}", reps, passive(n, mode))


if __name__ == "__main__":
    main()
