"""Speed of scenario generation: ``generate_arrays`` against the generator of a git revision.

For n = 100, 1,000 and 10,000 (default parameters, seeds 0..N−1) it prints the median time of
``generate_arrays(p)``, of its random draws alone (``_draws(p)``), of ``generate(p)`` (arrays
turned into names and payables), and of the baseline revision's ``generate(p)``, measured in the
same run, with this code's time as a ratio of the baseline's.

Run from the repository root:  uv run python benchmarks/generator_speed.py [--baseline REV]
The baseline's ``bilancio/model/scenario.py`` is read with ``git show REV:...`` and imported as
a temporary module of ``bilancio.model`` (default REV: main; once this generator is merged,
pass a revision from before it, e.g. ``--baseline d3e80c0``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bilancio.model import ModelParams  # noqa: E402
from bilancio.model.scenario import _draws, generate, generate_arrays  # noqa: E402

SIZES = {100: 301, 1_000: 61, 10_000: 15}  # n: number of seeds


def baseline_generate(rev: str) -> Callable:
    """``generate`` of ``bilancio/model/scenario.py`` at git revision ``rev``."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:bilancio/model/scenario.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    name = "bilancio.model._baseline_scenario"
    module = types.ModuleType(name)
    module.__package__ = "bilancio.model"
    sys.modules[name] = module
    exec(compile(source, f"{rev}:bilancio/model/scenario.py", "exec"), module.__dict__)
    return module.generate


def median_ms(fns: dict[str, Callable], params: list[ModelParams]) -> dict[str, float]:
    """Median milliseconds of each ``fn(p)`` over ``params``: one call each, the functions
    interleaved seed by seed so that a change in the machine's load hits all of them alike."""
    times: dict[str, list[float]] = {label: [] for label in fns}
    for fn in fns.values():
        fn(params[0])  # warm-up
    gc.disable()
    try:
        for p in params:
            for label, fn in fns.items():
                start = time.perf_counter()
                fn(p)
                times[label].append(time.perf_counter() - start)
    finally:
        gc.enable()
    return {label: statistics.median(t) * 1e3 for label, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="REV", default="main", help="git revision")
    args = parser.parse_args()
    old = baseline_generate(args.baseline)
    print(f"median ms per scenario (default parameters; baseline {args.baseline})")
    print(f"{'n':>7} {'arrays':>9} {'draws':>8} {'share':>6} {'generate':>9} {'baseline':>9} "
          f"{'arrays/base':>12} {'generate/base':>14}")  # fmt: skip
    for n, seeds in SIZES.items():
        params = [ModelParams(n_agents=n, seed=s) for s in range(seeds)]
        fns = {"arrays": generate_arrays, "draws": _draws, "generate": generate, "base": old}
        found = median_ms(fns, params)
        arrays, draws, full, base = (found[k] for k in fns)
        print(f"{n:>7,} {arrays:9.3f} {draws:8.3f} {draws / arrays:6.0%} {full:9.3f} "
              f"{base:9.3f} {arrays / base:12.3f} {full / base:14.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
