"""Wall time of single model runs and pairs.

Targets: a passive run at n=100 ≤ 5 ms, a pair (passive + active) at n=100 ≤ 15 ms, cost growing
linearly with n.

Run:  uv run python benchmarks/model_speed.py [--repeats N]
Prints the median and p90 wall time over seeds 0..N−1 for each configuration, and the median
CPU time of this process (less sensitive to a busy or throttled machine).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from bilancio.model import ModelParams, simulate, simulate_pair

BASE = dict(maturity_days=10, q_total=10000, kappa=1.0, concentration=1.0, mu=0.5)


def _time(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(label: str, repeats: int, make: Callable[[int], Callable[[], object]]) -> None:
    make(0)()  # warm-up: imports, caches
    samples = [_time(make(seed)) for seed in range(repeats)]
    walls = sorted(w for w, _ in samples)
    median = statistics.median(walls)
    p90 = walls[int(0.9 * (len(walls) - 1))]
    cpu = statistics.median(c for _, c in samples)
    print(
        f"{label:<40} median {median * 1e3:9.2f} ms   p90 {p90 * 1e3:9.2f} ms   "
        f"cpu {cpu * 1e3:9.2f} ms   (runs={repeats})"
    )


def passive(n: int, mode: str) -> Callable[[int], Callable[[], object]]:
    def make(seed: int) -> Callable[[], object]:
        p = ModelParams(n_agents=n, seed=seed, default_handling=mode, **BASE)
        return lambda: simulate(p, regime="passive")

    return make


def pair(n: int, mode: str) -> Callable[[int], Callable[[], object]]:
    def make(seed: int) -> Callable[[], object]:
        p = ModelParams(n_agents=n, seed=seed, default_handling=mode, **BASE)
        return lambda: simulate_pair(p)

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200, help="runs per n=100 row")
    args = parser.parse_args()
    for mode in ("expel-agent", "fail-fast"):
        measure(f"passive n=100 T=10 {mode}", args.repeats, passive(100, mode))
    measure("pair n=100 T=10 expel-agent", args.repeats, pair(100, "expel-agent"))
    for n, reps in ((1_000, max(args.repeats // 10, 5)), (10_000, max(args.repeats // 40, 3))):
        for mode in ("expel-agent", "fail-fast"):
            measure(f"passive n={n} T=10 {mode}", reps, passive(n, mode))
        measure(f"pair n={n} T=10 expel-agent", reps, pair(n, "expel-agent"))


if __name__ == "__main__":
    main()
