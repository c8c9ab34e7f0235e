"""A sweep from start to end: plan, record the job, launch, follow progress, finish.

Called by the ``bilancio`` Hydra sweeper. Nothing is written before every job's config has been
resolved and validated. A failed job never stops the others; an interrupt (Ctrl-C, SIGTERM)
leaves the job marked failed with a note on how to resume it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf

from bilancio.config import params_from_config
from bilancio.storage import Store, StoreError, absolute_storage, open_store
from bilancio.sweep.job import SAVE_FAILED, JobOutcome, JobSpec, failure_records, run_job
from bilancio.sweep.plan import SweepError, SweepPlan, plan_sweep
from bilancio.sweep.progress import Progress
from bilancio.sweep.records import (
    JobRecord,
    MetricsRecord,
    code_version,
    new_job_id,
    public_config,
    run_id,
    run_record,
)


@dataclass
class SweepSummary:
    """How a sweep went; read by the job_metrics callback and by the command's exit code."""

    job_id: str
    storage: dict[str, Any]
    sweep_dir: str
    total: int
    skipped: int = 0
    completed: int = 0
    failures: list[tuple[int, tuple[str, ...], str]] = field(default_factory=list)
    interrupted: str | None = None


LAST_SWEEP: list[SweepSummary] = []  # the sweeps of this process, newest last


def run_sweep(
    config: DictConfig, hydra_context: Any, launcher: Launcher, swept: list[str]
) -> list[list[JobReturn]]:
    try:
        if OmegaConf.select(config, "rerun.of"):
            from bilancio.sweep.rerun import plan_rerun

            plan = plan_rerun(config, swept)
        else:
            plan = plan_sweep(config, hydra_context.config_loader, swept)
    except SweepError as err:
        print(f"bilancio: {err}\nNothing was run or written.", file=sys.stderr)
        raise SystemExit(2) from None
    job_id = plan.job_id or new_job_id()
    storage = absolute_storage(plan.spec(plan.nums[0]).config["storage"], config.hydra.runtime.cwd)
    plan.bind = {"job_id": job_id, "storage": storage}
    if getattr(launcher, "dry_run", False):  # e.g. hydra.launcher.dry_run=true on Modal
        print(launcher.dry_run_report(plan.specs(plan.nums), plan.n_jobs))
        return [[]]
    preflight = getattr(launcher, "preflight", None)
    if preflight is not None:  # launcher-specific checks, before anything is written
        preflight(storage)
    try:
        store = open_store(storage)
        resumed = not store.create_job(_job_record(job_id, plan, config))
    except StoreError as err:
        print(f"bilancio: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    summary = SweepSummary(job_id, storage, str(config.hydra.sweep.dir), plan.n_jobs)
    LAST_SWEEP.append(summary)
    store.add_event(job_id, "resumed" if resumed else "created", {"jobs": plan.n_jobs})
    todo = _pending(store, plan, summary)
    if plan.spec(plan.nums[0]).config["job"].get("skip_completed"):
        todo = _reuse(store, plan, todo, summary)
    store.add_event(
        job_id,
        "started",
        {"to_run": len(todo), "already_done": summary.skipped, "launcher": type(launcher).__name__},
    )
    _write_sweep_dir(Path(summary.sweep_dir), config, plan, todo)
    print(
        f"bilancio: job {job_id}: {plan.n_jobs} pairs ({summary.skipped} already done) "
        f"→ {_where(storage)}",
        file=sys.stderr,
    )
    progress = Progress(plan.n_jobs, skipped=summary.skipped, label="pairs")
    try:
        for outcome in _execute(launcher, plan, todo, store):
            _record(outcome, plan, store, summary)
            progress.update(outcome.status != "completed")
    except StoreError as err:  # the database went away: stop, say so, leave it resumable
        progress.close()
        summary.interrupted = str(err)
        print(
            f"bilancio: the results database failed after {progress.done} of {len(todo)} "
            f"pairs: {err}\nThe sweep was stopped. When the database is back, resume it with "
            f"job.id={job_id} (completed pairs are kept and skipped).",
            file=sys.stderr,
        )
        _try_mark(
            store,
            job_id,
            f"stopped: the database failed ({err}); resume with job.id={job_id}",
            "interrupted",
        )
        raise SystemExit(1) from None
    except BaseException as exc:  # KeyboardInterrupt, SIGTERM (as KeyboardInterrupt), a bug
        progress.close()
        summary.interrupted = f"{type(exc).__name__}: {exc}".rstrip(": ")
        note = (
            f"interrupted ({summary.interrupted}) after {progress.done} of {len(todo)} "
            f"pairs; resume with job.id={job_id}"
        )
        _try_mark(store, job_id, note, "interrupted")
        raise
    progress.close()
    failed = len(summary.failures)
    error = f"{failed} of {plan.n_jobs} jobs failed" if failed else None
    try:
        counts = store.finish_job(job_id, "failed" if failed else "completed", error)
        store.add_event(
            job_id, "failed" if failed else "completed", {**counts, "failed_jobs": failed}
        )
    except StoreError as err:
        summary.interrupted = str(err)
        print(
            f"bilancio: every pair ran, but the job could not be closed: {err}. Resume with "
            f"job.id={job_id} once the database is back.",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    return [[]]


def _try_mark(store: Store, job_id: str, note: str, event: str) -> None:
    """Mark the job failed with ``note``; if the database itself is down, say so and go on."""
    try:
        store.finish_job(job_id, "failed", note)
        store.add_event(job_id, event, {"reason": note})
    except StoreError as err:
        print(
            f"bilancio: could not record the stop in the database ({err}); the job stays "
            f"'running' there until it is resumed.",
            file=sys.stderr,
        )


def _where(storage: dict[str, Any]) -> str:
    if storage.get("backend") == "sqlite":
        return storage["path"]
    return f"{storage.get('backend')} database"


def _job_record(job_id: str, plan: SweepPlan, config: DictConfig) -> JobRecord:
    base = OmegaConf.to_container(config, resolve=False)
    base.pop("hydra", None)
    first = plan.first
    return JobRecord(
        job_id=job_id,
        sweep_type="balanced",
        n_agents=first.n_agents,
        maturity_days=first.maturity_days,
        kappas=sorted(plan.distinct["kappa"]),
        concentrations=sorted(plan.distinct["concentration"]),
        mus=sorted(plan.distinct["mu"]),
        outside_mid_ratios=sorted(plan.distinct["outside_mid_ratio"]),
        seeds=sorted(plan.distinct["seed"]),
        total_runs=2 * plan.n_jobs,
        overrides=plan.overrides,
        config=public_config(base),
        code_version=code_version(),
        description=plan.description or plan.spec(plan.nums[0]).config["job"].get("description"),
    )


def _pending(store: Store, plan: SweepPlan, summary: SweepSummary) -> list[int]:
    """Job numbers still to run; completed ones are skipped, conflicting ones fail unwritten."""
    done = store.completed_runs(summary.job_id)
    todo = []
    for num in plan.nums:
        ids = [run_id(summary.job_id, num, r) for r in ("passive", "active")]
        hashes = {done.get(i) for i in ids}
        if None in hashes:
            todo.append(num)
        elif hashes == {plan.hash_of(num)}:
            summary.skipped += 1
        else:
            summary.failures.append(
                (
                    num,
                    plan.overrides_of(num),
                    (
                        f"job {summary.job_id} already holds a completed pair #{num} with "
                        "other parameters; a resumed sweep must be the same sweep (use a new "
                        "job.id for a different one)"
                    ),
                )
            )
    return todo


def _reuse(store: Store, plan: Any, todo: list[int], summary: SweepSummary) -> list[int]:
    """Copy pairs already completed anywhere in the store with the same config hash (same
    parameters, same model version) into this job instead of running them again."""
    found = store.completed_by_hash({plan.hash_of(n) for n in todo})
    still, runs, metrics = [], [], []
    for num in todo:
        source = found.get(plan.hash_of(num), {})
        if not {"passive", "active"} <= set(source) or any(
            r["job_id"] == summary.job_id for r in source.values()
        ):
            still.append(num)
            continue
        spec = plan.spec(num)
        params = params_from_config(spec.config)
        for regime in ("passive", "active"):
            old = source[regime]
            runs.append(
                run_record(
                    summary.job_id,
                    num,
                    regime,
                    params,
                    spec.config,
                    status="completed",
                    execution_time_ms=old["execution_time_ms"],
                    digest=old["config_hash"],
                )
            )
            metrics.append(
                MetricsRecord(
                    run_id=run_id(summary.job_id, num, regime),
                    job_id=summary.job_id,
                    delta_total=old["delta_total"],
                    phi_total=old["phi_total"],
                    n_defaults=old["n_defaults"],
                    n_clears=old["n_clears"],
                    time_to_stability=old["time_to_stability"],
                    trading_effect=old["trading_effect"],
                    total_trades=old["total_trades"],
                    total_trade_volume=old["total_trade_volume"],
                    raw_metrics={**old["raw_metrics"], "reused_from": old["run_id"]},
                )
            )
        summary.skipped += 1
    for i in range(0, len(runs), 1000):
        store.save_runs(runs[i : i + 1000], metrics[i : i + 1000])
    store.set_reused(summary.job_id, len(runs))
    return still


def _write_sweep_dir(sweep_dir: Path, config: DictConfig, plan: SweepPlan, todo: list[int]) -> None:
    """Hydra's layout: multirun.yaml (the sweep's config), then <job_num>/.hydra/overrides.yaml.
    Each job's resolved config is stored with its runs (runs.config), not written again here."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    # which job this folder belongs to, so that `bilancio rerun <this folder>` can find it
    (sweep_dir / "bilancio_job.json").write_text(
        json.dumps(
            {
                "job_id": plan.bind["job_id"],
                "storage": public_config({"storage": plan.bind["storage"]})["storage"],
            }
        )
        + "\n"
    )
    for num in todo:
        hydra_dir = sweep_dir / str(num) / ".hydra"
        hydra_dir.mkdir(parents=True, exist_ok=True)
        (hydra_dir / "overrides.yaml").write_text(json.dumps(list(plan.overrides_of(num))) + "\n")


def _execute(
    launcher: Launcher, plan: SweepPlan, todo: list[int], store: Store
) -> Iterator[JobOutcome]:
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    launch_specs = getattr(launcher, "launch_specs", None)
    if launch_specs is not None:  # bilancio's own launchers take resolved configs
        yield from launch_specs(plan.specs(todo), len(todo))
    elif isinstance(launcher, BasicLauncher):  # Hydra's default: run here, one after another
        for spec in plan.specs(todo):
            yield run_job(spec, store)
    else:  # any other Hydra launcher: let it compose and run each job itself
        yield from _through_hydra_launcher(launcher, list(plan.specs(todo)))


def _through_hydra_launcher(launcher: Launcher, todo: list[JobSpec]) -> Iterator[JobOutcome]:
    batch = [
        [
            *spec.overrides,
            f"job.id={spec.job_id}",
            f"job.num={spec.job_num}",
            f"storage.path={spec.config['storage'].get('path')}",
        ]
        for spec in todo
    ]
    for spec, ret in zip(todo, launcher.launch(batch, initial_job_idx=0), strict=True):
        if ret.status == JobStatus.COMPLETED and isinstance(ret.return_value, dict):
            yield JobOutcome(**ret.return_value)
        else:
            yield JobOutcome(spec.job_num, "failed", f"{ret._return_value!r}", False)


def _record(outcome: JobOutcome, plan: SweepPlan, store: Store, summary: SweepSummary) -> None:
    """Count an outcome. A pair whose rows could not be stored stops the sweep (StoreError):
    running on would compute results that are then lost."""
    if outcome.status == "completed":
        summary.completed += 1
        return
    if outcome.error and outcome.error.startswith(SAVE_FAILED):
        raise StoreError(outcome.error.removeprefix(SAVE_FAILED).strip(": "))
    spec = plan.spec(outcome.job_num)
    error = outcome.error or "unknown error"
    summary.failures.append((spec.job_num, spec.overrides, error))
    if not outcome.saved:  # the worker could not write its failure: write it from here
        store.save_runs(failure_records(spec, None, error), [])
