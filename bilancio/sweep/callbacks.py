"""Hydra callback: after a sweep, aggregate its pairs into ``job_metrics`` and report."""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from bilancio.interrupts import deferred
from bilancio.storage import open_store
from bilancio.sweep.aggregate import aggregate, pairs_from_runs
from bilancio.sweep.orchestrate import LAST_SWEEP, SweepSummary

REPORT_PAIRS = 20  # pairs listed at the end of a sweep (all of them: bilancio jobs show)


def write_job_metrics(summary: SweepSummary) -> dict[str, Any]:
    """Aggregate every completed pair of the job (this run's and earlier ones') and save it."""
    store = open_store(summary.storage)
    try:
        row = aggregate(pairs_from_runs(store.job_deltas(summary.job_id)))
        row["raw_summary"] = {
            "pairs_in_job": summary.total,
            "failed_jobs": [
                {"job_num": n, "overrides": list(o), "error": e} for n, o, e in summary.failures
            ],
            "skipped_already_done": summary.skipped,
            "interrupted": summary.interrupted,
        }
        store.save_job_metrics(summary.job_id, row)
        return {"row": row, "runs": store.job_runs(summary.job_id, first_pairs=REPORT_PAIRS)}
    finally:
        store.close()


class JobMetricsCallback(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from bilancio.report import format_sweep

        if not LAST_SWEEP:
            return  # not a bilancio sweep (another sweeper ran): nothing to aggregate
        summary = LAST_SWEEP[-1]
        with deferred():  # a Ctrl-C now waits until job_metrics are written and reported
            result = write_job_metrics(summary)
            summary.aggregated = True
            print(
                format_sweep(summary, result["row"], result["runs"], limit=REPORT_PAIRS),
                file=sys.stdout,
            )
