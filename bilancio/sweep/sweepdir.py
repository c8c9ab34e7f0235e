"""The sweep's folder in Hydra's layout: ``multirun.yaml``, ``bilancio_job.json`` and one
``<job num>/.hydra/overrides.yaml`` per job (a large sweep: one ``jobs.jsonl`` instead).
Nothing written here holds a secret: the composed config and every override pass through
:mod:`bilancio.redaction` first.

A folder belongs to one job. Hydra names it after the second the command started, so two sweeps
started in the same second would share it; the second one writes into ``<folder>-<job id>``
instead. A sweep that is refused leaves no file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bilancio.redaction import known_secrets, redact_override, scrub
from bilancio.sweep.records import public_config

MARKER = "bilancio_job.json"


class SweepDirError(OSError):
    """The sweep folder cannot be written; the message names the folder and the cause."""


def _fail(folder: Path, err: OSError) -> SweepDirError:
    reason = err.strerror or str(err)
    return SweepDirError(
        f"cannot write the sweep folder {folder} (hydra.sweep.dir): {reason}"
        + (f" ({err.filename})" if err.filename else "")
    )


class SweepFolder:
    """The folder of one sweep: checked before anything is stored, claimed once the job id is
    known, removed again if the sweep is refused before it wrote anything."""

    def __init__(self, folder: Path):
        self.path = folder
        self._made: list[Path] = []  # folders this sweep created, innermost last
        self._wrote: list[Path] = []  # files claim() created (not those of a resumed job)

    def check_writable(self) -> None:
        """Create the folder if need be and prove it can be written (no file is left)."""
        try:
            missing = [p for p in (self.path, *self.path.parents) if not p.exists()]
            self.path.mkdir(parents=True, exist_ok=True)
            self._made = list(reversed(missing))
            fd, probe = tempfile.mkstemp(prefix=".bilancio-probe-", dir=self.path)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise _fail(self.path, err) from None

    def forget(self) -> None:
        """The sweep was refused: remove the files and the empty folders it created."""
        for path in self._wrote:
            with contextlib.suppress(OSError):
                path.unlink()
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty

    def claim(self, job_id: str, config: DictConfig, storage: dict[str, Any]) -> Path:
        """Write bilancio_job.json (claimed atomically) and multirun.yaml; the folder used."""
        for folder in (self.path, self.path.with_name(f"{self.path.name}-{job_id}")):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fresh = not (folder / MARKER).exists()
                if _take(folder / MARKER, job_id, storage):
                    if fresh:
                        self._wrote = [folder / MARKER, folder / "multirun.yaml"]
                    plain = scrub(OmegaConf.to_container(config, resolve=False))
                    OmegaConf.save(OmegaConf.create(plain), folder / "multirun.yaml")
                    self.path = folder
                    return folder
            except OSError as err:
                raise _fail(folder, err) from None
        raise SweepDirError(f"the sweep folders {self.path} and {folder} belong to other jobs")


def _take(marker: Path, job_id: str, storage: dict[str, Any]) -> bool:
    """Create the marker for ``job_id``; True if this job now owns the folder (or did)."""
    stored = public_config({"storage": storage})["storage"]
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        try:
            return json.loads(marker.read_text()).get("job_id") == job_id  # a resume
        except (OSError, ValueError):
            return False
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps({"job_id": job_id, "storage": stored}) + "\n")
    return True


DEFAULT_SUBDIR = "${hydra.job.num}"


def outside_the_sweep_folder(subdir: str) -> bool:
    """Whether a job folder (``hydra.sweep.subdir``, resolved or as written) is not a relative
    folder inside the sweep folder."""
    return not subdir or subdir.startswith("/") or ".." in Path(subdir).parts


class JobSubdirs:
    """Each job's folder inside the sweep folder, from ``hydra.sweep.subdir`` as Hydra would
    resolve it for that job: ``${hydra.job.num}`` (the default), ``${hydra.job.override_dirname}``,
    ``${hydra.job.name}``, ``${hydra.job.id}``, resolvers such as ``${now:…}``, and the job's own
    values (``${kappa}``)."""

    def __init__(self, config: DictConfig):
        hydra = config.hydra
        self.raw = OmegaConf.to_container(hydra.sweep, resolve=False).get("subdir")
        self.raw = DEFAULT_SUBDIR if self.raw is None else str(self.raw)
        self.name = str(OmegaConf.select(config, "hydra.job.name") or "bilancio")
        dirname = OmegaConf.to_container(hydra.job.config.override_dirname, resolve=True)
        self.kv_sep, self.item_sep = dirname["kv_sep"], dirname["item_sep"]
        self.exclude = set(dirname["exclude_keys"] or [])

    def _override_dirname(self, overrides: tuple[str, ...]) -> str:
        kept = []
        for o in (redact_override(o) for o in overrides):  # a folder name never holds a secret
            key, sep, value = o.partition("=")
            if key.lstrip("+~") not in self.exclude:
                kept.append(f"{key}{self.kv_sep}{value}" if sep else key)
        return self.item_sep.join(sorted(kept))

    def of(self, num: int, overrides: tuple[str, ...], values: dict[str, Any] | None = None) -> str:
        if self.raw == DEFAULT_SUBDIR:
            return str(num)
        job = {
            "num": num,
            "override_dirname": self._override_dirname(overrides),
            "name": self.name,
            "id": str(num),
        }
        node = OmegaConf.create({**(values or {}), "hydra": {"job": job}, "__subdir": self.raw})
        try:
            subdir = str(OmegaConf.select(node, "__subdir", throw_on_resolution_failure=True))
        except Exception as err:  # noqa: BLE001  an interpolation Hydra would also refuse
            raise SweepDirError(
                f"cannot resolve hydra.sweep.subdir={self.raw!r} for job {num}: {err}"
            ) from None
        if outside_the_sweep_folder(subdir):
            raise SweepDirError(
                f"invalid hydra.sweep.subdir={self.raw!r}: job {num} would write to {subdir!r}, "
                "outside the sweep folder"
            )
        return subdir


RECORDS = "jobs.jsonl"  # a large sweep's per-job Hydra records, one line per job


def write_job_overrides(
    folder: Path, jobs: Iterable[tuple[int, str, tuple[str, ...]]], *, one_file: bool = False
) -> None:
    """The Hydra record of each (job number, job folder, overrides): ``<subdir>/.hydra/
    overrides.yaml``, or with ``one_file`` a line ``{"num", "subdir", "overrides"}`` appended to
    ``<sweep dir>/jobs.jsonl`` (a folder per job costs about 12 KB of disk, a line about 60
    bytes). Each job's resolved config is stored with its runs, not written again here."""
    secrets = known_secrets()
    try:
        if one_file:
            with open(folder / RECORDS, "a", encoding="utf-8") as out:
                for num, subdir, overrides in jobs:
                    safe = [redact_override(o, secrets) for o in overrides]
                    line = {"num": num, "subdir": subdir, "overrides": safe}
                    out.write(json.dumps(line, separators=(",", ":")) + "\n")
            return
        for _, subdir, overrides in jobs:
            hydra_dir = folder / subdir / ".hydra"
            hydra_dir.mkdir(parents=True, exist_ok=True)
            safe = [redact_override(o, secrets) for o in overrides]
            (hydra_dir / "overrides.yaml").write_text(json.dumps(safe) + "\n")
    except SweepDirError:
        raise
    except OSError as err:
        raise _fail(folder, err) from None
