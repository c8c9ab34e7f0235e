"""``job.skip_completed=true``: copy pairs already completed anywhere in the store with the same
config hash (same parameters, same model version) into this job instead of running them."""

from __future__ import annotations

from typing import Any

from bilancio.config import params_from_config
from bilancio.rows import METRIC_COLUMNS, MetricsRecord, run_id
from bilancio.storage import Store
from bilancio.sweep.job import stored_config
from bilancio.sweep.records import run_record


def reuse_completed(
    store: Store, plan: Any, job_id: str, todo: list[int], already: int = 0
) -> tuple[list, int]:
    """(the job numbers still to run, how many pairs were copied); ``already``: runs this
    sweep copied before (a frontier's earlier rounds), counted in the job's reused_runs."""
    found = store.completed_by_hash({plan.hash_of(n) for n in todo})
    still, runs, metrics = [], [], []
    for num in todo:
        source = found.get(plan.hash_of(num), {})
        if not {"passive", "active"} <= set(source) or any(
            r["job_id"] == job_id for r in source.values()
        ):
            still.append(num)
            continue
        spec = plan.spec(num)
        params = params_from_config(spec.config)
        for regime in ("passive", "active"):
            old = source[regime]
            runs.append(
                run_record(
                    job_id,
                    num,
                    regime,
                    params,
                    spec.config,
                    status="completed",
                    execution_time_ms=old["execution_time_ms"],
                    digest=old["config_hash"],
                    public=stored_config(spec),
                )
            )
            metrics.append(
                MetricsRecord(
                    run_id=run_id(job_id, num, regime),
                    job_id=job_id,
                    **{c: old[c] for c in METRIC_COLUMNS},
                    raw_metrics={**old["raw_metrics"], "reused_from": old["run_id"]},
                )
            )
    for i in range(0, len(runs), 1000):
        store.save_runs(runs[i : i + 1000], metrics[i : i + 1000])
    store.set_reused(job_id, already + len(runs))
    return still, len(runs) // 2
