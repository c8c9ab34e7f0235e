"""What a Modal container does, with no Modal import: batches of jobs, the aggregate, a health
check. ``modal_app`` wraps these; tests call them through the functions' local path."""

from __future__ import annotations

import json
import os
from typing import Any

import bilancio
from bilancio.model import MODEL_VERSION
from bilancio.rows import as_row
from bilancio.sweep.job import JobSpec, compute_job, save_all_computed, store_for

SECRET_KEYS = (
    "BILANCIO_SUPABASE_URL",
    "BILANCIO_SUPABASE_SERVICE_KEY",
    "BILANCIO_SUPABASE_ANON_KEY",
)


def payload(spec: JobSpec) -> dict[str, Any]:
    """A job as sent to a container (plain data, about 1 KB)."""
    return {
        "job_id": spec.job_id,
        "job_num": spec.job_num,
        "config": spec.config,
        "overrides": list(spec.overrides),
    }


def run_batch(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run each job; with a remote store (Supabase) write the batch's rows here, in one request
    per table, otherwise return them for the caller to store. One failing job is one failed
    result; the batch goes on."""
    specs = [
        JobSpec(p["job_id"], p["job_num"], p["config"], tuple(p["overrides"])) for p in payloads
    ]
    done = [compute_job(spec) for spec in specs]
    results: list[dict[str, Any] | None] = [None] * len(done)
    remote: dict[str, list[int]] = {}  # storage settings → the jobs that write there
    for i, (spec, computed) in enumerate(zip(specs, done, strict=True)):
        if spec.config["storage"]["backend"] == "sqlite":  # the caller's file: return the rows
            results[i] = {
                "outcome": computed.outcome.to_dict(),
                "runs": [as_row(r) for r in computed.runs],
                "metrics": [as_row(m) for m in computed.metrics],
                "trades": [as_row(t) for t in computed.trades],
                "agent_outcomes": [as_row(o) for o in computed.outcomes],
            }
        else:
            remote.setdefault(json.dumps(spec.config["storage"], sort_keys=True), []).append(i)
    for storage, where in remote.items():
        store = store_for(json.loads(storage))
        saved = save_all_computed([done[i] for i in where], store)
        for i, outcome in zip(where, saved, strict=True):
            results[i] = {"outcome": outcome.to_dict()}
    return [r for r in results if r is not None]


def aggregate_job(job_id: str) -> dict[str, Any]:
    """Read the job's runs (paging), write its job_metrics row and its cell_metrics rows (as the
    local callback does); return the job_metrics row."""
    from bilancio.analysis.summary import write_summaries
    from bilancio.storage.supabase import SupabaseStore

    store = SupabaseStore(write=True)
    return write_summaries(store, job_id)["row"]


def health() -> dict[str, Any]:
    """Versions, which secret keys are present (names only), and whether the key can write."""
    from bilancio.sweep.records import code_version

    report: dict[str, Any] = {
        "package_version": bilancio.__version__,
        "code_version": code_version(),
        "model_version": MODEL_VERSION,
        "secret_keys_present": [k for k in SECRET_KEYS if os.environ.get(k)],
        "can_write": False,
        "migrations_applied": False,
        "key_refused": None,
        "problem": None,
    }
    try:
        report.update(_probe())
    except Exception as err:  # reported to the caller, who stops before launching anything
        report["problem"] = f"{type(err).__name__}: {err}"
    return report


def _probe() -> dict[str, Any]:
    from bilancio.storage.supabase import KeyRefused, SupabaseStore

    store = SupabaseStore(write=False)
    try:
        found = store.probe(where="the Modal secret supabase's")
    except KeyRefused as err:  # said as it is: not "tables missing"
        return {"key_refused": str(err)}
    return {**found, "migrations_applied": not found["migrations_missing"]}
