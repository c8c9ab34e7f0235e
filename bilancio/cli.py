"""The ``bilancio`` command: Hydra-style ``key=value`` overrides of the model parameters.

Exit codes, the same for every command: 0 everything asked for was done; 1 it ran but something
failed (a pair, the database mid-sweep, a rerun that differs); 2 nothing was run (bad input, a
refused request); 130 interrupted by SIGINT (Ctrl-C); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# only light imports here: the signal handlers are installed before hydra is imported, so a
# Ctrl-C during start-up is an ordinary interrupt, not a traceback from the import machinery
from bilancio import interrupts, redaction

OK, FAILED, USAGE = 0, 1, 2
SUBCOMMANDS = ("jobs", "db", "sweep", "rerun", "report")


def run_once(cfg: Any) -> None:
    """Run one pair (passive and active) for the composed config and print its metrics."""
    from bilancio.config import params_from_config
    from bilancio.model import simulate_pair
    from bilancio.report import format_pair

    params = params_from_config(cfg)
    print(format_pair(params, simulate_pair(params)))


def main() -> None:
    args = sys.argv[1:]
    redaction.register_overrides(args)  # a URL typed on the command line is masked everywhere
    redaction.guard_streams()
    interrupts.install()
    try:
        code = dispatch(args)
    except KeyboardInterrupt as err:  # Interrupted (SIGINT, SIGTERM) or a plain Ctrl-C
        if not getattr(err, "reported", False):
            name = err.name if isinstance(err, interrupts.Interrupted) else "SIGINT"
            print(f"\nbilancio: interrupted ({name}){_after_the_sweep()}", file=sys.stderr)
        code = interrupts.exit_code(err)
    except BrokenPipeError:  # the reader went away (`bilancio jobs ls | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
        code = OK
    interrupts.ignore()  # the outcome is decided: a signal now would only garble the exit
    sys.exit(code)


def _after_the_sweep() -> str:
    """What an interrupt that came after a sweep's last pair left undone."""
    orchestrate = sys.modules.get("bilancio.sweep.orchestrate")  # never import after a signal
    sweeps = getattr(orchestrate, "LAST_SWEEP", None)
    if not sweeps or not sweeps[-1].finished:
        return ""
    summary = sweeps[-1]
    if summary.aggregated:
        return f" after job {summary.job_id} was complete; every result is stored"
    return (
        f" after every pair of job {summary.job_id} was stored, before its job_metrics were "
        f"written; run the same command with job.id={summary.job_id} to write them"
    )


def dispatch(args: list[str]) -> int:
    if args[:1] in (["--version"], ["-V"]):
        import hydra

        import bilancio

        print(f"bilancio {bilancio.__version__} (Hydra {hydra.__version__})")
        return OK
    if args and args[0] in SUBCOMMANDS:
        from bilancio import compat_cli, db_cli, jobs_cli, report_html, rerun_cli

        command = {
            "jobs": jobs_cli.main,
            "db": db_cli.main,
            "sweep": compat_cli.main,
            "rerun": rerun_cli.main,
            "report": report_html.main,
        }[args[0]]
        return command(args[1:])
    return run_hydra(args)


def run_hydra(args: list[str]) -> int:
    """Run ``bilancio <args>`` through Hydra; the exit code (1 if a sweep had failures)."""
    import hydra

    from bilancio.config import register_configs
    from bilancio.hydra_errors import explain
    from bilancio.sweep.orchestrate import LAST_SWEEP

    register_configs()
    earlier = len(LAST_SWEEP)
    saved, sys.argv = sys.argv, ["bilancio", *args]
    # Hydra prints its own errors and exits 1 unless HYDRA_FULL_ERROR=1; with it set, they
    # reach us and become bilancio's one-line messages (a user who set it keeps tracebacks)
    user_wants_tracebacks = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        app = hydra.main(version_base="1.3", config_path="conf", config_name="config")(_task)
        app()
    except Exception as err:
        message = None if user_wants_tracebacks else explain(err)
        if message is None:
            raise
        print(f"bilancio: {redaction.redact(message)}", file=sys.stderr)
        return USAGE
    finally:
        sys.argv = saved
        if not user_wants_tracebacks:
            os.environ.pop("HYDRA_FULL_ERROR", None)
    sweeps = LAST_SWEEP[earlier:]
    return FAILED if any(s.failures or s.interrupted for s in sweeps) else OK


def _task(cfg: Any) -> object:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from bilancio.model import ParameterError

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
        sys.exit(USAGE)
    return None


def terminate_as_interrupt() -> None:
    """SIGTERM ends a sweep like Ctrl-C does: the job is marked interrupted, not left running."""
    interrupts.install()


if __name__ == "__main__":
    main()
