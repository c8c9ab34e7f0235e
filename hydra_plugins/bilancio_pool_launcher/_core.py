"""The pool launcher's work: worker processes forked from this one, fed jobs in chunks."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, run_job, setup_globals
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)

# What the workers need, set just before the pool forks so that they inherit it (task
# functions are often closures, which cannot be pickled).
_INHERITED: dict[str, Any] = {}


def workers(launcher: Any, jobs: int) -> int:
    """Worker processes for ``jobs`` jobs: ``n_jobs`` (one per core for -1), at most ``jobs``."""
    launcher.check_options()
    n = (os.cpu_count() or 1) if launcher.n_jobs == -1 else launcher.n_jobs
    return max(1, min(n, jobs))


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from bilancio.sweep import job

    job.forget_inherited_stores()  # never use a database connection opened by the parent


def _pool(n: int) -> Any:
    return multiprocessing.get_context("fork").Pool(n, initializer=_worker_init)


# -- bilancio's fast path -----------------------------------------------------------------------


def _run_chunk(specs: list[Any]) -> list[Any]:
    from bilancio.sweep.job import run_job as run_bilancio_job

    return [run_bilancio_job(spec) for spec in specs]


def _chunks(specs: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for spec in specs:
        chunk.append(spec)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def launch_specs(launcher: Any, specs: Iterable[Any], count: int) -> Iterator[Any]:
    """Outcomes as jobs finish. At most a few chunks per worker are in flight, so memory does
    not grow with the size of the sweep."""
    if count == 0:
        return
    n = workers(launcher, count)
    size = launcher.chunksize or max(1, min(16, count // (n * 8)))
    pending: list[Any] = []
    pool = _pool(n)
    try:
        for chunk in _chunks(specs, size):
            pending.append(pool.apply_async(_run_chunk, (chunk,)))
            while len(pending) >= 4 * n:
                yield from _collect(pending)
        while pending:
            yield from _collect(pending)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _collect(pending: list[Any]) -> Iterator[Any]:
    """Outcomes of the first finished chunk (waiting briefly on each in turn)."""
    while True:
        for k, result in enumerate(pending):
            if result.ready():
                del pending[k]
                yield from result.get()
                return
        pending[0].wait(0.01)


# -- Hydra's interface --------------------------------------------------------------------------


def _run_hydra_job(idx: int, overrides: list[str]) -> JobReturn:
    context, config = _INHERITED["hydra_context"], _INHERITED["config"]
    setup_globals()
    Singleton.set_state(_INHERITED["singletons"])
    sweep_config = context.config_loader.load_sweep_config(config, overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    ret = run_job(
        hydra_context=context,
        task_function=_INHERITED["task_function"],
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    # plain configs travel back to the parent; structured-config classes may not unpickle there
    ret.cfg = _plain(ret.cfg)
    ret.hydra_cfg = _plain(ret.hydra_cfg)
    return ret


def _plain(cfg: Any) -> Any:
    if cfg is None:
        return None
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))


def launch_hydra_jobs(
    launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> Sequence[JobReturn]:
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
    pool = _pool(n)
    try:
        results = pool.starmap(_run_hydra_job, jobs, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        _INHERITED.clear()
    return results
