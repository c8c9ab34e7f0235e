"""The Modal launcher's overhead per job through its local executor seam, and the payload size.

Target: ≤ 5 ms per job beyond model time, payload ≤ 2 KB per job.

Run from the repository root:  uv run python benchmarks/modal_overhead.py [--jobs N]

The sweep runs `+cloud=modal hydra.launcher.executor=local storage=sqlite`: the real launcher
and the real Modal functions (through their local path), results coming back as on Modal and
written locally. Overhead per job = (wall − model time) ÷ jobs, including Hydra's start-up.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from sweep_speed import run_sweep  # noqa: E402


def payload_size() -> int:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from bilancio.cloud.worker import payload
    from bilancio.config import register_configs
    from bilancio.sweep.job import JobSpec

    register_configs()
    with initialize_config_module(version_base="1.3", config_module="bilancio.conf"):
        config = OmegaConf.to_container(compose(config_name="config"), resolve=True)
    spec = JobSpec(
        "20261126-000000-abcd", 12345, config, ("kappa=0.5", "concentration=1", "mu=0.25", "seed=7")
    )
    return len(pickle.dumps(payload(spec)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    seeds = ",".join(str(s) for s in range(1, args.jobs // 20 + 1))
    with tempfile.TemporaryDirectory() as tmp:
        wall, model, rss = run_sweep(
            [
                "-m",
                "kappa=0.25,0.5,1,2",
                "mu=0,0.25,0.5,0.75,1",
                f"seed={seeds}",
                "n_agents=20",
                "+cloud=modal",
                "hydra.launcher.executor=local",
                "storage=sqlite",
            ],
            Path(tmp),
        )
    jobs = 20 * len(seeds.split(","))
    print(
        f"{jobs} jobs through the Modal launcher (local executor): wall {wall:.1f} s, model "
        f"{model:.1f} s, overhead {(wall - model) / jobs * 1000:.2f} ms/job, peak RSS {rss} MB"
    )
    print(f"payload per job: {payload_size()} bytes (pickled, as Modal sends it)")


if __name__ == "__main__":
    main()
