"""Hydra callback: after a sweep, aggregate its pairs into ``job_metrics`` and report.

With bilancio's own sweeper the callback only aggregates (and the sweeper does it itself when a
hand-built config left the callback out). With any other sweeper it also opens and closes the
job (:mod:`bilancio.sweep.foreign`).
"""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from bilancio.interrupts import deferred
from bilancio.storage import open_store
from bilancio.sweep import foreign
from bilancio.sweep.orchestrate import LAST_SWEEP, SweepSummary

REPORT_CELLS = 40  # cells listed at the end of a sweep (all of them: bilancio jobs show)
TARGET = "bilancio.sweep.callbacks.JobMetricsCallback"


def write_job_metrics(summary: SweepSummary) -> dict[str, Any]:
    """Aggregate every completed pair of the job (this run's and earlier ones') into its
    job_metrics and cell_metrics rows and save them."""
    from bilancio.analysis.summary import write_summaries

    store = open_store(summary.storage)
    try:
        raw = {
            "pairs_in_job": summary.total,
            "failed_jobs": [
                {"job_num": n, "overrides": list(o), "error": e} for n, o, e in summary.failures
            ],
            "skipped_already_done": summary.skipped,
            "interrupted": summary.interrupted,
        }
        return write_summaries(store, summary.job_id, raw)
    finally:
        store.close()


def report_sweep(summary: SweepSummary) -> None:
    """Write the job's job_metrics and print the end-of-sweep report (once per sweep)."""
    from bilancio.report import format_sweep

    if summary.aggregated:
        return
    with deferred():  # a Ctrl-C now waits until job_metrics are written and reported
        result = write_job_metrics(summary)
        summary.aggregated = True
        print(
            format_sweep(summary, result["row"], result["cells"], limit=REPORT_CELLS),
            file=sys.stdout,
        )


def configured(config: DictConfig) -> bool:
    """Whether this callback is among the config's hydra.callbacks."""
    callbacks = OmegaConf.select(config, "hydra.callbacks") or {}
    return any(
        OmegaConf.select(c, "_target_") == TARGET for c in callbacks.values() if c is not None
    )


class JobMetricsCallback(Callback):
    """Hydra turns an exception raised in a callback into a warning and goes on, which would
    lose the job row or job_metrics without a word: every error here is reported and becomes
    the command's exit code instead (SystemExit passes through Hydra)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from bilancio.sweep.orchestrate import _describe, refuse

        if foreign.is_bilancio_sweeper(config):
            return
        try:
            foreign.start(config)  # another sweeper: bilancio opens the job here
        except Exception as err:
            raise refuse(f"cannot open the sweep's job: {_describe(err)}") from None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from bilancio.sweep.orchestrate import _describe

        try:
            if foreign.OPEN:
                foreign.finish_open()
            elif LAST_SWEEP and not LAST_SWEEP[-1].aggregated and LAST_SWEEP[-1].finished:
                report_sweep(LAST_SWEEP[-1])
        except Exception as err:
            reason = (
                "the job summaries (job_metrics, cell_metrics) could not be written: "
                f"{_describe(err)}"
            )
            print(f"bilancio: {reason}", file=sys.stderr)
            if LAST_SWEEP:
                LAST_SWEEP[-1].interrupted = reason
            raise SystemExit(1) from None
