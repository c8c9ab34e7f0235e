"""The sweep's folder in Hydra's layout: ``multirun.yaml``, ``bilancio_job.json`` and one
``<job num>/.hydra/overrides.yaml`` per job. Nothing written here holds a secret: the composed
config and every override pass through :mod:`bilancio.redaction` first."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bilancio.redaction import redact_override, scrub
from bilancio.sweep.records import public_config


class SweepDirError(OSError):
    """The sweep folder cannot be written; the message names the folder and the cause."""


def _fail(folder: Path, err: OSError) -> SweepDirError:
    reason = err.strerror or str(err)
    return SweepDirError(
        f"cannot write the sweep folder {folder} (hydra.sweep.dir): {reason}"
        + (f" ({err.filename})" if err.filename else "")
    )


def write_multirun(folder: Path, config: DictConfig) -> None:
    """multirun.yaml, the sweep's composed config. Written first of all, so a folder that
    cannot be written stops the sweep before any database is opened or created."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        plain = scrub(OmegaConf.to_container(config, resolve=False))
        OmegaConf.save(OmegaConf.create(plain), folder / "multirun.yaml")
    except OSError as err:
        raise _fail(folder, err) from None


def write_job_marker(folder: Path, job_id: str, storage: dict[str, Any]) -> None:
    """bilancio_job.json: which job and database this folder belongs to, so that
    ``bilancio rerun <this folder>`` finds it."""
    try:
        stored = public_config({"storage": storage})["storage"]
        (folder / "bilancio_job.json").write_text(
            json.dumps({"job_id": job_id, "storage": stored}) + "\n"
        )
    except OSError as err:
        raise _fail(folder, err) from None


def write_job_overrides(folder: Path, jobs: Iterable[tuple[int, tuple[str, ...]]]) -> None:
    """<num>/.hydra/overrides.yaml for each (job number, overrides); each job's resolved config
    is stored with its runs (runs.config), not written again here."""
    try:
        for num, overrides in jobs:
            hydra_dir = folder / str(num) / ".hydra"
            hydra_dir.mkdir(parents=True, exist_ok=True)
            safe = [redact_override(o) for o in overrides]
            (hydra_dir / "overrides.yaml").write_text(json.dumps(safe) + "\n")
    except OSError as err:
        raise _fail(folder, err) from None
