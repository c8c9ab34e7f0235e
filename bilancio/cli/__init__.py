"""The ``bilancio`` command: Hydra-style ``key=value`` overrides of the model parameters.

Exit codes, the same for every command: 0 everything asked for was done; 1 it ran but something
failed (a pair, the database mid-sweep, a rerun that differs); 2 nothing was run (bad input, a
refused request); 130 interrupted by SIGINT (Ctrl-C); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import os
import sys

# only light imports here: the signal handlers are installed before hydra is imported, so a
# Ctrl-C during start-up is an ordinary interrupt, not a traceback from the import machinery
from bilancio import interrupts, redaction

OK, FAILED, USAGE = 0, 1, 2
SUBCOMMANDS = {"jobs": "jobs", "db": "db", "sweep": "compat", "rerun": "rerun", "report": "report"}


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
    if summary.interrupted:
        return (
            f"; job {summary.job_id} is marked interrupted with the pairs stored so far: "
            f"resume it with job.id={summary.job_id}"
        )
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
        from importlib import import_module

        # each subcommand is a module of this package with a main(argv) -> exit code
        module = import_module(f"bilancio.cli.{SUBCOMMANDS[args[0]]}")
        return module.main(args[1:])
    from bilancio.cli.hydra_app import run_hydra

    return run_hydra(args)


if __name__ == "__main__":
    main()
