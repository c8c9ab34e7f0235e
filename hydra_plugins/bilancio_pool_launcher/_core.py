"""The pool launcher's work: worker processes forked from this one (see ``_pool``), fed jobs in
chunks, for bilancio's sweeper (``launch_specs``) and for Hydra's interface (``launch``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, run_job, setup_globals
from omegaconf import OmegaConf, open_dict

from ._pool import Kind, PoolJobError, WorkerPool

log = logging.getLogger(__name__)

# What the workers need, set before the first worker forks so that every worker (replacements
# too) inherits it: task functions are often closures, which cannot be pickled.
_INHERITED: dict[str, Any] = {}


def workers(launcher: Any, jobs: int) -> int:
    """Worker processes for ``jobs`` jobs: ``n_jobs`` (one per core for -1), at most ``jobs``."""
    launcher.check_options()
    n = (os.cpu_count() or 1) if launcher.n_jobs == -1 else launcher.n_jobs
    return max(1, min(n, jobs))


# -- bilancio's fast path -----------------------------------------------------------------------


def _run_spec(spec: Any) -> Any:
    from bilancio.storage import StoreError
    from bilancio.sweep.job import SAVE_FAILED, JobOutcome, run_job

    try:
        return run_job(spec)
    except StoreError as err:  # the store could not even be opened: the sweep stops on it
        return JobOutcome(spec.job_num, "failed", f"{SAVE_FAILED}: {err}", saved=False)


def _spec_failed(spec: Any, error: str) -> Any:
    from bilancio.sweep.job import JobOutcome

    return JobOutcome(spec.job_num, "failed", error, saved=False)  # the sweep writes its rows


def _load_kernel() -> None:
    """Load (or compile) the model's kernel here, before forking: every worker inherits it
    instead of loading it again, or compiling it at once with the others on a fresh machine."""
    from bilancio.model.kernel.loader import advance_fn

    advance_fn()


SPECS = Kind(_run_spec, _spec_failed, lambda spec: f"pair #{spec.job_num}", "pair")


def launch_specs(launcher: Any, specs: Iterable[Any], count: int) -> Iterator[Any]:
    """One outcome per spec, as jobs finish. Specs are pulled lazily (a few chunks per worker in
    flight), so memory does not grow with the sweep. A pair whose worker dies is run once more
    in a fresh worker; if that worker dies too, its outcome is failed and unsaved."""
    if count == 0:
        return
    n = workers(launcher, count)
    size = launcher.chunksize or max(1, min(16, count // (n * 8)))
    _load_kernel()
    for _, outcome in WorkerPool(SPECS, n, size).run(specs):
        yield outcome


# -- bilancio's sweeper: job numbers out, rows back, written in batches here ------------------

_PLAN: list[Any] = []  # the sweep's plan, set before the workers fork: they inherit it


def _compute_num(num: int) -> Any:
    """In a worker: build job ``num`` from the inherited plan and compute its pair; the rows
    go back to the main process, which writes them in batches."""
    from bilancio.sweep.job import compute_job

    return compute_job(_PLAN[0].spec(num))


def _num_failed(num: int, error: str) -> Any:
    from bilancio.sweep.job import JobOutcome

    return JobOutcome(num, "failed", error, saved=False)  # the sweep writes its rows


NUMS = Kind(_compute_num, _num_failed, lambda num: f"pair #{num}", "pair")


def launch_jobs(launcher: Any, plan: Any, nums: Sequence[int], store: Any) -> Iterator[Any]:
    """One outcome per job number, as pairs finish. Workers are sent job numbers (a few chunks
    per worker in flight), build each job from the plan they inherited when they were forked,
    and send back its rows, which this process writes in batches (``saved_in_batches``); an
    outcome is handed out once its rows are stored. A pair whose worker dies is run once more
    in a fresh worker; if that worker dies too, its outcome is failed and unsaved."""
    from bilancio.sweep.job import saved_in_batches

    if not nums:
        return
    n = workers(launcher, len(nums))
    size = launcher.chunksize or max(1, min(16, len(nums) // (n * 8)))
    _PLAN[:] = [plan]
    _load_kernel()
    try:
        results = (result for _, result in WorkerPool(NUMS, n, size).run(nums))
        yield from saved_in_batches(results, store)
    finally:
        _PLAN.clear()


# -- Hydra's interface --------------------------------------------------------------------------


def _run_hydra_job(job: tuple[int, list[str]]) -> JobReturn:
    idx, overrides = job
    try:
        ret = _compose_and_run(idx, overrides)
    except Exception as err:  # composing failed: a failed job, as Hydra's run_job reports one
        return JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=err)
    # plain configs travel back to the parent; structured-config classes may not unpickle there
    ret.cfg = _plain(ret.cfg)
    ret.hydra_cfg = _plain(ret.hydra_cfg)
    return ret


def _compose_and_run(idx: int, overrides: list[str]) -> JobReturn:
    context, config = _INHERITED["hydra_context"], _INHERITED["config"]
    setup_globals()
    Singleton.set_state(_INHERITED["singletons"])
    sweep_config = context.config_loader.load_sweep_config(config, overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=context,
        task_function=_INHERITED["task_function"],
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def _plain(cfg: Any) -> Any:
    if cfg is None:
        return None
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))


def _hydra_failed(job: tuple[int, list[str]], error: str) -> JobReturn:
    return JobReturn(overrides=job[1], status=JobStatus.FAILED, _return_value=PoolJobError(error))


HYDRA_JOBS = Kind(_run_hydra_job, _hydra_failed, lambda job: f"job #{job[0]}", "job")


def launch_hydra_jobs(
    launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> Sequence[JobReturn]:
    """One ``JobReturn`` per job, in order. A job whose worker dies twice is FAILED with a
    :class:`PoolJobError` saying so; the others run on."""
    setup_globals()
    config = launcher.config
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    n = workers(launcher, len(job_overrides))
    log.info(f"Launching {len(job_overrides)} jobs on {n} worker processes")
    _INHERITED.update(
        hydra_context=launcher.hydra_context,
        config=config,
        task_function=launcher.task_function,
        singletons=Singleton.get_state(),
    )
    jobs = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
    try:
        _load_kernel()
        results = dict(WorkerPool(HYDRA_JOBS, n, 1).run(jobs))
    finally:
        _INHERITED.clear()
    return [results[k] for k in range(len(jobs))]
