"""Sending a plan's jobs to a launcher and getting one outcome per job back.

bilancio's own launchers (``pool``, ``modal``) take resolved job specs; Hydra's basic launcher
is replaced by running the jobs right here, one after another; any other Hydra launcher gets
one override list per job and composes and runs it itself (``bilancio.cli.hydra_app._task``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from hydra.core.utils import JobStatus
from hydra.plugins.launcher import Launcher

from bilancio.redaction import SECRET_SETTINGS
from bilancio.storage import Store
from bilancio.sweep.job import JobOutcome, JobSpec, run_job


def execute(launcher: Launcher, plan: Any, todo: list[int], store: Store) -> Iterator[JobOutcome]:
    """The outcomes of the jobs ``todo`` as they finish (in any order)."""
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    launch_specs = getattr(launcher, "launch_specs", None)
    if launch_specs is not None:  # bilancio's own launchers take resolved configs
        yield from launch_specs(plan.specs(todo), len(todo))
    elif isinstance(launcher, BasicLauncher):  # Hydra's default: run here, one after another
        for spec in plan.specs(todo):
            yield run_job(spec, store)
    else:  # any other Hydra launcher: let it compose and run each job itself
        yield from _through_hydra_launcher(launcher, list(plan.specs(todo)))


def _public_overrides(spec: JobSpec) -> list[str]:
    """The job's overrides without secret settings: a launcher logs and stores its overrides,
    so a database URL travels to its jobs through the environment instead."""
    out = []
    for override in spec.overrides:
        key = override.partition("=")[0].lstrip("+~")
        if key not in SECRET_SETTINGS:
            out.append(override)
    return out


def _through_hydra_launcher(launcher: Launcher, todo: list[JobSpec]) -> Iterator[JobOutcome]:
    if todo and todo[0].config["storage"].get("url"):
        os.environ["BILANCIO_DATABASE_URL"] = todo[0].config["storage"]["url"]
    batch = [
        [
            *_public_overrides(spec),
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
