"""A sweep from start to end: plan, record the job, launch, follow progress, finish.

Called by the ``bilancio`` Hydra sweeper. Nothing is written before every job's config has been
resolved and validated. A failed job never stops the others; an interrupt (Ctrl-C, SIGTERM)
leaves the job marked failed with a note on how to resume it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf

from bilancio.config import params_from_config
from bilancio.storage import Store, StoreError, open_store
from bilancio.sweep.job import JobOutcome, JobSpec, failure_records, run_job
from bilancio.sweep.plan import SweepError, SweepPlan, plan_sweep
from bilancio.sweep.progress import Progress
from bilancio.sweep.records import JobRecord, code_version, new_job_id, run_id


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
        plan = plan_sweep(config, hydra_context.config_loader, swept)
    except SweepError as err:
        print(f"bilancio: {err}\nNothing was run or written.", file=sys.stderr)
        raise SystemExit(2) from None
    job_id = plan.job_id or new_job_id()
    storage = _absolute_storage(plan.jobs[0].config["storage"], config.hydra.runtime.cwd)
    specs = [_bind(spec, job_id, storage) for spec in plan.jobs]
    try:
        store = open_store(storage)
        resumed = not store.create_job(_job_record(job_id, plan, specs, config))
    except StoreError as err:
        print(f"bilancio: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    summary = SweepSummary(job_id, storage, str(config.hydra.sweep.dir), len(specs))
    LAST_SWEEP.append(summary)
    store.add_event(job_id, "resumed" if resumed else "created", {"jobs": len(specs)})
    todo = _pending(store, job_id, specs, summary)
    store.add_event(
        job_id,
        "started",
        {"to_run": len(todo), "already_done": summary.skipped, "launcher": type(launcher).__name__},
    )
    _write_sweep_dir(Path(summary.sweep_dir), config, todo)
    print(
        f"bilancio: job {job_id}: {len(specs)} pairs ({summary.skipped} already done) "
        f"→ {_where(storage)}",
        file=sys.stderr,
    )
    progress = Progress(len(specs), skipped=summary.skipped, label="pairs")
    try:
        for outcome in _execute(launcher, todo, store, config, hydra_context):
            _record(outcome, todo, store, summary)
            progress.update(outcome.status != "completed")
    except BaseException as exc:  # KeyboardInterrupt, SIGTERM (as SystemExit), or a launcher bug
        progress.close()
        summary.interrupted = f"{type(exc).__name__}: {exc}".rstrip(": ")
        note = (
            f"interrupted ({summary.interrupted}) after {progress.done} of {len(todo)} "
            f"pairs; resume with job.id={job_id}"
        )
        store.finish_job(job_id, "failed", note)
        store.add_event(job_id, "interrupted", {"reason": summary.interrupted})
        raise
    progress.close()
    failed = len(summary.failures)
    error = f"{failed} of {len(specs)} jobs failed" if failed else None
    counts = store.finish_job(job_id, "failed" if failed else "completed", error)
    store.add_event(job_id, "failed" if failed else "completed", {**counts, "failed_jobs": failed})
    return [[]]


def _bind(spec: JobSpec, job_id: str, storage: dict[str, Any]) -> JobSpec:
    config = dict(spec.config)
    config["job"] = {**config["job"], "id": job_id, "num": spec.job_num}
    config["storage"] = storage
    return replace(spec, job_id=job_id, config=config)


def _absolute_storage(storage: dict[str, Any], cwd: str) -> dict[str, Any]:
    out = dict(storage)
    if out.get("backend") == "sqlite":
        path = Path(out["path"]).expanduser()
        out["path"] = str(path if path.is_absolute() else Path(cwd) / path)
    return out


def _where(storage: dict[str, Any]) -> str:
    return storage["path"] if storage.get("backend") == "sqlite" else storage.get("backend", "?")


def _job_record(
    job_id: str, plan: SweepPlan, specs: list[JobSpec], config: DictConfig
) -> JobRecord:
    params = [params_from_config(s.config) for s in specs]

    def distinct(name: str) -> list[Any]:
        return sorted({getattr(p, name) for p in params})

    base = OmegaConf.to_container(config, resolve=False)
    base.pop("hydra", None)
    return JobRecord(
        job_id=job_id,
        sweep_type="balanced",
        n_agents=params[0].n_agents,
        maturity_days=params[0].maturity_days,
        kappas=distinct("kappa"),
        concentrations=distinct("concentration"),
        mus=distinct("mu"),
        outside_mid_ratios=distinct("outside_mid_ratio"),
        seeds=distinct("seed"),
        total_runs=2 * len(specs),
        overrides=plan.overrides,
        config=base,
        code_version=code_version(),
        description=specs[0].config["job"].get("description"),
    )


def _pending(
    store: Store, job_id: str, specs: list[JobSpec], summary: SweepSummary
) -> list[JobSpec]:
    """Jobs still to run; completed ones are skipped, conflicting ones fail without writing."""
    from bilancio.sweep.records import config_hash

    done = store.completed_runs(job_id)
    todo = []
    for spec in specs:
        ids = [run_id(job_id, spec.job_num, r) for r in ("passive", "active")]
        hashes = {done.get(i) for i in ids}
        if None in hashes:
            todo.append(spec)
            continue
        if hashes == {config_hash(params_from_config(spec.config))}:
            summary.skipped += 1
            continue
        summary.failures.append(
            (
                spec.job_num,
                spec.overrides,
                (
                    f"job {job_id} already holds a completed pair #{spec.job_num} with other "
                    "parameters; a resumed sweep must be the same sweep (use a new job.id for a "
                    "different one)"
                ),
            )
        )
    return todo


def _write_sweep_dir(sweep_dir: Path, config: DictConfig, todo: list[JobSpec]) -> None:
    """Hydra's layout: multirun.yaml, then <job_num>/.hydra/{overrides,config}.yaml per job."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    for spec in todo:
        hydra_dir = sweep_dir / str(spec.job_num) / ".hydra"
        hydra_dir.mkdir(parents=True, exist_ok=True)
        (hydra_dir / "overrides.yaml").write_text(json.dumps(list(spec.overrides)) + "\n")
        (hydra_dir / "config.yaml").write_text(json.dumps(spec.config, indent=1) + "\n")


def _execute(
    launcher: Launcher, todo: list[JobSpec], store: Store, config: DictConfig, hydra_context: Any
) -> Iterator[JobOutcome]:
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    launch_specs = getattr(launcher, "launch_specs", None)
    if launch_specs is not None:  # bilancio's own launchers take resolved configs
        yield from launch_specs(todo)
    elif isinstance(launcher, BasicLauncher):  # Hydra's default: run here, one after another
        for spec in todo:
            yield run_job(spec, store)
    else:  # any other Hydra launcher: let it compose and run each job itself
        yield from _through_hydra_launcher(launcher, todo)


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


_BY_NUM: dict[int, dict[int, JobSpec]] = {}


def _by_num(todo: list[JobSpec]) -> dict[int, JobSpec]:
    if id(todo) not in _BY_NUM:
        _BY_NUM.clear()
        _BY_NUM[id(todo)] = {s.job_num: s for s in todo}
    return _BY_NUM[id(todo)]


def _record(outcome: JobOutcome, todo: list[JobSpec], store: Store, summary: SweepSummary) -> None:
    if outcome.status == "completed":
        summary.completed += 1
        return
    spec = todo[0] if len(todo) == 1 else _by_num(todo)[outcome.job_num]
    summary.failures.append((spec.job_num, spec.overrides, outcome.error or "unknown error"))
    if not outcome.saved:  # the worker could not write its failure: write it from here
        store.save_runs(failure_records(spec, None, outcome.error or "unknown error"), [])
