"""Sending a plan's jobs to a launcher and getting one outcome per job back.

bilancio's own launchers (``pool``, ``modal``) take resolved job specs; Hydra's basic launcher
is replaced by running the jobs right here, one after another; any other Hydra launcher (joblib,
submitit, SLURM) gets batches of pairs, one Hydra job per batch of a few seconds' work: each
Hydra job reads its batch file and runs the pairs (``run_batch``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.plugins.launcher import Launcher

from bilancio.errors import one_line
from bilancio.files import write_atomically
from bilancio.redaction import drop_secret_settings, redact, redact_override
from bilancio.storage import Store
from bilancio.sweep.job import (
    JobOutcome,
    JobSpec,
    compute_job,
    saved_in_batches,
    store_for,
)


def execute(
    launcher: Launcher,
    plan: Any,
    todo: list[int],
    store: Store,
    *,
    folder: Path | None = None,
    batch_size: int | None = None,
    hooks: JobHooks | None = None,
    first_batch: int = 0,
) -> Iterator[JobOutcome]:
    """The outcomes of the jobs ``todo`` as they finish (in any order). ``first_batch``: the
    number of the first batch file and Hydra job (a frontier's rounds number them on)."""
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    launch_jobs = getattr(launcher, "launch_jobs", None)
    if launch_jobs is not None and hooks is None:  # the pool: job numbers to its workers
        yield from launch_jobs(plan, todo, store)
        return
    launch_specs = getattr(launcher, "launch_specs", None)
    specs = plan.specs(todo) if hooks is None else hooks.starting(plan.specs(todo))
    if launch_specs is not None:  # bilancio's own launchers take resolved configs
        yield from launch_specs(specs, len(todo))
    elif isinstance(launcher, BasicLauncher):  # Hydra's default: run here, one after another
        yield from saved_in_batches((compute_job(spec) for spec in specs), store)
    else:  # any other Hydra launcher: batches of pairs, one Hydra job each
        assert folder is not None
        yield from _through_hydra_launcher(launcher, plan, todo, folder, batch_size, first_batch)


def runs_jobs_itself(launcher: Launcher) -> bool:
    """bilancio's launchers and Hydra's basic one run bilancio's jobs without Hydra's run_job
    (no per-job compose, no chdir, no per-job callbacks); generic launchers use run_job."""
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    return hasattr(launcher, "launch_specs") or isinstance(launcher, BasicLauncher)


class JobHooks:
    """Users' Hydra callbacks get ``on_job_start``/``on_job_end`` for every pair when bilancio
    runs the jobs itself, as Hydra's run_job would call them: the start when the pair is handed
    to the launcher, the end when its outcome is back (in this process, whatever the launcher)."""

    def __init__(self, callbacks: list[Any]):
        self.callbacks = callbacks
        self._running: dict[int, tuple[Any, JobSpec]] = {}

    def starting(self, specs: Iterator[JobSpec]) -> Iterator[JobSpec]:
        from omegaconf import OmegaConf

        for spec in specs:
            cfg = OmegaConf.create(spec.config)
            self._running[spec.job_num] = (cfg, spec)
            self._notify("on_job_start", config=cfg, task_function=None)
            yield spec

    def ended(self, outcome: JobOutcome) -> None:
        from hydra.core.utils import JobReturn

        cfg, spec = self._running.pop(outcome.job_num, (None, None))
        if spec is None:
            return
        ok = outcome.status == "completed"
        ret = JobReturn(
            overrides=list(spec.overrides),
            cfg=cfg,
            task_name="bilancio",
            status=JobStatus.COMPLETED if ok else JobStatus.FAILED,
            _return_value=outcome.to_dict() if ok else RuntimeError(outcome.error),
        )
        self._notify("on_job_end", config=cfg, job_return=ret)

    def _notify(self, name: str, **kwargs: Any) -> None:
        import warnings

        for callback in self.callbacks:
            try:
                getattr(callback, name)(**kwargs)
            except Exception as err:  # as Hydra does: a user's callback never stops the sweep
                warnings.warn(
                    f"Callback {type(callback).__name__}.{name} raised {type(err).__name__}: {err}",
                    stacklevel=1,
                )


WAVE = 8  # Hydra jobs handed to a generic launcher at a time: a launcher that raises loses one
# wave's unfinished pairs (recorded failed), never the sweep


def _public_storage(spec: JobSpec) -> dict[str, Any]:
    """The storage settings without secrets: batch files are plain files in the sweep folder,
    so a database URL travels to the workers through the environment instead."""
    return {k: v for k, v in spec.config["storage"].items() if k not in ("url", "key")}


def _through_hydra_launcher(
    launcher: Launcher,
    plan: Any,
    todo: list[int],
    folder: Path,
    batch_size: int | None,
    first_batch: int = 0,
) -> Iterator[JobOutcome]:
    if not todo:
        return
    first = plan.spec(todo[0])
    if first.config["storage"].get("url"):
        os.environ["BILANCIO_DATABASE_URL"] = first.config["storage"]["url"]
    if getattr(launcher, "config", None) is not None:  # what the launcher composes jobs from
        drop_secret_settings(launcher.config)
    size = batch_size or measured_batch_size(list(plan.specs(todo[:3])))
    batches = [todo[i : i + size] for i in range(0, len(todo), size)]
    where = (folder / "batches").absolute()  # a Hydra job may run in its own folder (chdir)
    where.mkdir(parents=True, exist_ok=True)
    print(
        f"bilancio: {len(todo)} pairs in {len(batches)} Hydra job(s) of up to {size} pairs "
        f"({type(launcher).__name__})",
        file=sys.stderr,
    )
    for offset in range(0, len(batches), WAVE):
        wave = batches[offset : offset + WAVE]
        start = first_batch + offset
        overrides = []
        for k, nums in enumerate(wave, start):
            specs = [
                {
                    **asdict(replace(spec, base=None)),  # batch files hold whole configs
                    "config": {**spec.config, "storage": _public_storage(spec)},
                    "overrides": [redact_override(o) for o in spec.overrides],
                }
                for spec in plan.specs(nums)
            ]
            path = write_atomically(where / f"{k}.json", json.dumps(specs))
            overrides.append([f"job.batch='{path}'"])
        try:
            returns = launcher.launch(overrides, initial_job_idx=start)
        except Exception:  # the launcher failed (a dead worker, a lost job): one at a time
            for k, (nums, job) in enumerate(zip(wave, overrides, strict=True), start):
                yield from _alone(launcher, nums, job, k)
            continue
        for nums, ret in zip(wave, returns, strict=True):
            yield from _outcomes(nums, ret)


MEASURE_SECONDS = 60.0  # longer than this for three pairs: each pair is a batch of its own


def measured_batch_size(sample: list[JobSpec]) -> int:
    """Pairs per batch for a few seconds of work, timed on ``sample`` in a forked child: a pair
    that ends its process (out of memory, a crash in a library) ends the child, not the sweep.
    If the child dies or takes too long, each pair is a batch of its own (a dead worker then
    fails one pair) and a warning says how to choose the size."""
    import multiprocessing

    from bilancio.sweep.job import compute_job
    from hydra_plugins.bilancio_modal_launcher._core import size_for

    def timing(conn: Any) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):  # the parent handles them, and kills us
            signal.signal(signum, signal.SIG_IGN)
        start = time.perf_counter()
        for spec in sample:
            compute_job(spec)
        conn.send((time.perf_counter() - start) / max(1, len(sample)))
        conn.close()

    from bilancio.model.kernel.loader import advance_fn

    advance_fn()  # loaded (or compiled) here, once: the timed pairs must not include it
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe(duplex=False)
    child = ctx.Process(target=timing, args=(theirs,), daemon=True)
    child.start()  # lease.FORK_GUARD (taken at every fork) keeps the heartbeat's requests whole
    theirs.close()
    per_pair = None
    try:
        if ours.poll(MEASURE_SECONDS):
            per_pair = float(ours.recv())
    except (EOFError, OSError):
        per_pair = None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        ours.close()
    if per_pair is None:
        why = (
            f"its process ended with code {child.exitcode}"
            if child.exitcode not in (None, 0, -9)
            else f"they took more than {MEASURE_SECONDS:.0f} s"
        )
        print(
            f"bilancio: warning: timing {len(sample)} pairs for the batch size failed ({why}); "
            "each pair is a Hydra job of its own (hydra.sweeper.batch_size=N chooses the size)",
            file=sys.stderr,
        )
        return 1
    return size_for(per_pair)


def _alone(launcher: Launcher, nums: list[int], job: list[str], k: int) -> Iterator[JobOutcome]:
    """One batch of a wave whose launch raised, launched again on its own: the batches that
    did nothing wrong complete, the one that kills its worker fails with the error."""
    try:
        (ret,) = launcher.launch([job], initial_job_idx=k)
    except Exception as err:
        yield from _unknown([nums], f"the launcher failed: {_describe(err)}")
        return
    yield from _outcomes(nums, ret)


def _outcomes(nums: list[int], ret: Any) -> Iterator[JobOutcome]:
    if ret.status == JobStatus.COMPLETED and isinstance(ret.return_value, list):
        yield from (JobOutcome(**o) for o in ret.return_value)
    else:
        error = getattr(ret, "_return_value", None)
        yield from _unknown([nums], f"its Hydra job failed: {_describe(error)}")


def _unknown(batches: list[list[int]], error: str) -> Iterator[JobOutcome]:
    """Pairs whose outcome never came back: failed unless the store holds them (the sweep
    checks), with the launcher's error."""
    for nums in batches:
        for num in nums:
            yield JobOutcome(num, "failed", error, False)


def _describe(err: Any) -> str:
    return redact(one_line(err, first_sentence=True))


def run_batch(path: str) -> list[dict[str, Any]]:
    """In a Hydra job of a generic launcher: run and store the pairs of one batch file."""
    with open(path, encoding="utf-8") as f:
        specs = [JobSpec(**{**d, "overrides": tuple(d["overrides"])}) for d in json.load(f)]
    if not specs:
        return []
    store = store_for(specs[0].config["storage"])  # one batch file: one storage
    return [o.to_dict() for o in saved_in_batches((compute_job(s) for s in specs), store)]
