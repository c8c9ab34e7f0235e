"""``bilancio key=value ...`` and ``bilancio -m ...``: the Hydra application."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from bilancio import redaction
from bilancio.cli import FAILED, OK, USAGE
from bilancio.errors import one_line


def run_once(cfg: Any) -> None:
    """Run one pair (passive and active) for the composed config and print its metrics."""
    from bilancio.config import params_from_config
    from bilancio.model import simulate_pair
    from bilancio.report import format_pair

    params = params_from_config(cfg, strict=True)  # +kapa=0.5 adds a key nothing reads
    print(format_pair(params, simulate_pair(params)))


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
    started = time.monotonic()
    try:
        main = hydra.main(
            version_base="1.3", config_path="pkg://bilancio.conf", config_name="config"
        )
        app = main(_task)
        app()
    except KeyboardInterrupt as err:  # SIGINT or SIGTERM: a sweep of another sweeper is closed
        _close_interrupted(err)
        raise
    except Exception as err:
        from bilancio.interrupts import Interrupted, raised_since
        from bilancio.sweep import foreign

        signum = raised_since(started)
        if signum is not None:  # a library caught the interrupt and raised something else
            interrupt = Interrupted(signum)
            _close_interrupted(interrupt)
            raise interrupt from None
        if isinstance(err, foreign.TaskSetupError):
            print(f"bilancio: {err}", file=sys.stderr)
            return USAGE
        if foreign.OPEN:  # another sweeper or its launcher raised: the job is still closed
            reason = f"the sweep stopped: {one_line(err)}"
            foreign.finish_open(reason)
            print(f"bilancio: {redaction.redact(reason)}", file=sys.stderr)
            return FAILED
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


def _close_interrupted(err: BaseException) -> None:
    """Close the job of another sweeper that a signal stopped, if one is open."""
    foreign = sys.modules.get("bilancio.sweep.foreign")
    if foreign is not None and foreign.OPEN:
        from bilancio.interrupts import Interrupted, deferred

        name = err.name if isinstance(err, Interrupted) else "SIGINT"
        job_id = foreign.OPEN[-1].job_id
        with deferred():
            foreign.finish_open(f"interrupted ({name}); resume with job.id={job_id}")


def _task(cfg: Any) -> object:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from bilancio.model import ParameterError

    if HydraConfig.get().mode == RunMode.MULTIRUN:
        if cfg.job.batch:  # a batch of pairs from bilancio's sweeper, on a generic launcher
            from bilancio.sweep.launching import run_batch

            return run_batch(cfg.job.batch)
        from bilancio.sweep.foreign import run_task

        return run_task(cfg)  # a job of another Hydra sweeper (basic, optuna, …)
    try:
        run_once(cfg)
    except ParameterError as err:
        print(f"bilancio: {err}", file=sys.stderr)
        sys.exit(USAGE)
    return None
