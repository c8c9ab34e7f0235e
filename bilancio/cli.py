"""The ``bilancio`` command: Hydra-style ``key=value`` overrides of the model parameters."""

from __future__ import annotations

import signal
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from bilancio.config import params_from_config, register_configs
from bilancio.model import ParameterError, simulate_pair
from bilancio.report import format_pair


def run_once(cfg: DictConfig) -> None:
    """Run one pair (passive and active) for the composed config and print its metrics."""
    params = params_from_config(cfg)
    print(format_pair(params, simulate_pair(params)))


SUBCOMMANDS = ("jobs", "db", "sweep", "rerun", "report")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
        from bilancio import compat_cli, db_cli, jobs_cli, report_html, rerun_cli

        command = {
            "jobs": jobs_cli.main,
            "db": db_cli.main,
            "sweep": compat_cli.main,
            "rerun": rerun_cli.main,
            "report": report_html.main,
        }[sys.argv[1]]
        sys.exit(command(sys.argv[2:]))
    register_configs()
    terminate_as_interrupt()
    sys.exit(run_hydra(sys.argv[1:]))


def run_hydra(args: list[str]) -> int:
    """Run ``bilancio <args>`` through Hydra; the exit code (1 if a sweep had failures)."""
    from bilancio.sweep.orchestrate import LAST_SWEEP

    register_configs()
    earlier = len(LAST_SWEEP)
    saved, sys.argv = sys.argv, ["bilancio", *args]
    try:
        app = hydra.main(version_base="1.3", config_path="conf", config_name="config")(_task)
        app()
    finally:
        sys.argv = saved
    return 1 if any(s.failures or s.interrupted for s in LAST_SWEEP[earlier:]) else 0


def _task(cfg: DictConfig) -> object:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:  # a job launched by a non-bilancio launcher
        from bilancio.sweep.job import JobSpec, run_job

        spec = JobSpec(
            cfg.job.id,
            cfg.job.num,
            OmegaConf.to_container(cfg, resolve=True),
            tuple(HydraConfig.get().overrides.task),
        )
        return run_job(spec).to_dict()
    try:
        run_once(cfg)
    except ParameterError as err:
        print(f"bilancio: {err}", file=sys.stderr)
        sys.exit(2)
    return None


def terminate_as_interrupt() -> None:
    """SIGTERM ends a sweep like Ctrl-C does: the job is marked interrupted, not left running."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    main()
