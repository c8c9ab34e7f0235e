"""Sweeps run by another Hydra sweeper (``hydra/sweeper=basic``, ``optuna``, …).

bilancio's own sweeper plans the whole grid before anything runs. Another sweeper decides the
jobs as it goes (Optuna picks each trial from the ones before), so bilancio meets it at three
seams instead:

* the ``job_metrics`` callback's ``on_multirun_start`` checks the config, creates the job row
  (with its lease and heartbeat) and tells the tasks where it is through the environment
  (:data:`ENV`), which every Hydra launcher hands on to its workers;
* each task (:func:`run_task`) runs its pair, stores it, and leaves a small outcome file in
  ``<sweep dir>/.bilancio/``: written before the pair starts and again when it ends, so a pair
  whose worker died is known, and a pair that could not be stored is never lost silently;
* ``on_multirun_end`` (or the command itself, when the sweeper or launcher raised) reads the
  outcome files, records the failed pairs the workers could not record, sets the job's size and
  swept values, closes the job, writes ``job_metrics`` and prints the report.

With ``objective=<metric>`` a task returns that number, as optimising sweepers expect
(NaN for a failed pair: Optuna records the trial as failed and goes on).
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bilancio.files import write_atomically
from bilancio.redaction import drop_secret_settings, redact, redact_override
from bilancio.rows import JobRecord, run_id
from bilancio.storage import JobBusy, StoreError, absolute_storage, check_storage, open_store
from bilancio.sweep import lease

ENV = "BILANCIO_SWEEP"  # JSON: the job id, its storage settings, the outcome folder
OBJECTIVES = ("trading_effect", "delta_passive", "delta_active")
BILANCIO_SWEEPER = "hydra_plugins.bilancio_sweeper.sweeper.BilancioSweeper"
OUTCOMES = ".bilancio"  # inside the sweep folder


class TaskSetupError(RuntimeError):
    """A task cannot run: it was started outside a sweep bilancio knows about."""


def is_bilancio_sweeper(config: DictConfig) -> bool:
    return OmegaConf.select(config, "hydra.sweeper._target_") == BILANCIO_SWEEPER


def check_objective(value: Any) -> None:
    from bilancio.sweep.plan import SweepError

    if value is not None and value not in OBJECTIVES:
        raise SweepError(
            f"invalid objective={value!r}: allowed {', '.join(OBJECTIVES)} "
            "(or null: the task returns its outcome)"
        )


@dataclass
class _Pair:
    num: int
    overrides: tuple[str, ...]
    status: str  # started | completed | failed
    error: str | None
    saved: bool
    config: dict[str, Any]  # the job's resolved config, written by its task before the pair


OPEN: list[ForeignSweep] = []  # the sweep of this process run by another sweeper, if any


class ForeignSweep:
    """One sweep run by another Hydra sweeper, from its job row to its report."""

    def __init__(self, config: DictConfig):
        self.config = config
        self.sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_") or "?")
        self.finished = False

    # -- on_multirun_start --------------------------------------------------------------------

    def start(self) -> None:
        """Check everything, create the job row, start the heartbeat; exit 2 if refused."""
        from bilancio.config import params_from_config
        from bilancio.model import ParameterError
        from bilancio.sweep.jobrow import fresh_id
        from bilancio.sweep.orchestrate import (
            LAST_SWEEP,
            SweepSummary,
            _check_heartbeat,
            _check_job_id,
            refuse,
        )
        from bilancio.sweep.plan import SweepError
        from bilancio.sweep.records import code_version, public_config

        config = self.config
        cwd = str(OmegaConf.select(config, "hydra.runtime.cwd") or Path.cwd())
        try:
            check_objective(OmegaConf.select(config, "objective"))
            job = {  # only what the job row needs: job.num may be ${hydra:job.num}
                k: OmegaConf.select(config, f"job.{k}")
                for k in ("id", "description", "heartbeat_seconds")
            }
            _check_job_id(job.get("id"))
            _check_heartbeat(job.get("heartbeat_seconds"))
            params = params_from_config(_model_values(config))
            storage = absolute_storage(OmegaConf.to_container(config.storage, resolve=True), cwd)
            check_storage(storage)
            store = open_store(storage)
            job_id = job.get("id") or fresh_id(store)
            existing = store.job_lease(job_id)
            holder = lease.live_holder(existing)
            if holder:
                raise JobBusy(job_id, holder)
            sweep_dir = Path(cwd, str(config.hydra.sweep.dir))
            outcomes = sweep_dir / OUTCOMES
            outcomes.mkdir(parents=True, exist_ok=True)
        except (SweepError, ParameterError, ValueError, StoreError, OSError) as err:
            raise refuse(str(err)) from None
        self.store, self.job_id, self.storage = store, job_id, storage
        self.outcomes, self.owner = outcomes, lease.me().text()
        self.beat = float(job.get("heartbeat_seconds") or lease.BEAT_SECONDS)
        base = OmegaConf.to_container(config, resolve=False)
        base.pop("hydra", None)
        overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        record = JobRecord(
            job_id=job_id,
            sweep_type=f"hydra:{self.sweeper.rsplit('.', 1)[-1]}",
            n_agents=params.n_agents,
            maturity_days=params.maturity_days,
            kappas=[],
            concentrations=[],
            mus=[],
            outside_mid_ratios=[],
            seeds=[],
            total_runs=0,
            overrides=[redact_override(o) for o in overrides],
            config=public_config(base),
            code_version=code_version(),
            description=job.get("description"),
            lease_owner=self.owner,
            lease_expires_at=lease.expires_at(lease.lease_seconds(self.beat)),
        )
        try:
            resumed = not store.create_job(
                record, expected_owner=existing.get("lease_owner") if existing else None
            )
        except (StoreError, JobBusy) as err:
            raise refuse(str(err)) from None
        self.summary = SweepSummary(job_id, storage, str(sweep_dir), 0)
        LAST_SWEEP.append(self.summary)
        OPEN.append(self)
        store.add_event(job_id, "resumed" if resumed else "created", {"sweeper": self.sweeper})
        self.heartbeat = lease.Heartbeat(storage, job_id, self.owner, self.beat).start()
        if storage.get("url"):  # the workers read it from the environment, as the store does
            os.environ["BILANCIO_DATABASE_URL"] = storage["url"]
        public = {k: v for k, v in storage.items() if k != "url"}
        os.environ[ENV] = json.dumps(
            {"job_id": job_id, "storage": public, "outcomes": str(outcomes)}
        )
        drop_secret_settings(config)  # the sweeper composes (and may pickle) jobs from it
        print(
            f"bilancio: job {job_id}: pairs chosen by {self.sweeper.rsplit('.', 1)[-1]} → "
            f"{storage.get('path') if storage.get('backend') == 'sqlite' else 'the database'}",
            file=sys.stderr,
        )

    # -- on_multirun_end, or the command when the sweep raised ----------------------------------

    def finish(self, error: str | None = None) -> None:
        """Record what the outcome files say, close the job, write job_metrics, report."""
        if self.finished:
            return
        self.finished = True
        os.environ.pop(ENV, None)
        if self in OPEN:
            OPEN.remove(self)
        self.heartbeat.stop()
        try:
            self._close(error)
        except StoreError as err:
            self.summary.interrupted = str(err)
            print(
                f"bilancio: the results database failed while closing job {self.job_id}: "
                f"{redact(str(err))}; the pairs stored so far are kept (resume with "
                f"job.id={self.job_id})",
                file=sys.stderr,
            )

    def _close(self, error: str | None) -> None:
        from bilancio.sweep.callbacks import report_sweep
        from bilancio.sweep.job import JobSpec, failure_records

        summary, store = self.summary, self.store
        pairs = self._read_outcomes()
        done = store.completed_runs(self.job_id)
        for pair in pairs:
            ids = [run_id(self.job_id, pair.num, r) for r in ("passive", "active")]
            if all(i in done for i in ids):
                summary.completed += 1
                continue
            reason = pair.error or (
                f"the pair never finished: {error}"
                if error
                else "the pair never finished (its worker died, was killed, or the launcher failed)"
            )
            reason = redact(reason)
            summary.failures.append((pair.num, pair.overrides, reason))
            if not pair.saved:
                spec = JobSpec(self.job_id, pair.num, self._config_of(pair), pair.overrides)
                store.save_runs(failure_records(spec, None, reason), [])
        summary.total = len(pairs)
        if error:
            summary.interrupted = error
        store.set_job_grid(self.job_id, self._grid(summary.total))
        failed = len(summary.failures)
        note = error or (f"{failed} of {summary.total} jobs failed" if failed else None)
        status = "failed" if note else "completed"
        counts = store.finish_job(self.job_id, status, note, owner=self.owner)
        store.add_event(self.job_id, status, {**counts, "failed_jobs": failed})
        summary.finished = True
        report_sweep(summary)

    def _read_outcomes(self) -> list[_Pair]:
        pairs = []
        for path in sorted(self.outcomes.glob("*.json")):
            try:  # written atomically: a file is whole or absent
                data = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                print(f"bilancio: warning: unreadable outcome file {path}: {err}", file=sys.stderr)
                continue
            pairs.append(
                _Pair(
                    int(data["job_num"]),
                    tuple(data.get("overrides") or ()),
                    data.get("status", "started"),
                    data.get("error"),
                    bool(data.get("saved")),
                    data["config"],
                )
            )
        return sorted(pairs, key=lambda p: p.num)

    def _config_of(self, pair: _Pair) -> dict[str, Any]:
        """The job's own resolved config, as its task wrote it before running the pair."""
        return {**pair.config, "storage": self.storage}

    def _grid(self, pairs: int) -> dict[str, Any]:
        grid: dict[str, Any] = {"total_runs": 2 * pairs}
        for run in self.store.job_runs(self.job_id):
            for column, key in (
                ("kappas", "kappa"),
                ("concentrations", "concentration"),
                ("mus", "mu"),
                ("outside_mid_ratios", "outside_mid_ratio"),
                ("seeds", "seed"),
            ):
                value = run.get(key)
                if value is not None:
                    grid.setdefault(column, set()).add(value if key == "seed" else float(value))
        return {k: sorted(v) if isinstance(v, set) else v for k, v in grid.items()}


def _model_values(config: DictConfig) -> dict[str, Any]:
    """The model's values of the sweep's config, each resolved on its own (other keys may hold
    ``${hydra:job.…}`` interpolations, which only a job can resolve)."""
    from bilancio.model import ModelParams

    out = {}
    for name in ModelParams.field_names():
        if name in config:
            value = OmegaConf.select(config, name)
            out[name] = (
                OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            )
    return out


def start(config: DictConfig) -> None:
    ForeignSweep(config).start()


def finish_open(error: str | None = None) -> None:
    """Close the sweep of this process run by another sweeper, if one is still open."""
    while OPEN:
        OPEN[-1].finish(error)


# -- the task, in whichever process the launcher runs it ---------------------------------------


def run_task(cfg: DictConfig) -> Any:
    """One job of another sweeper: run and store its pair; the objective or the outcome."""
    from hydra.core.hydra_config import HydraConfig

    from bilancio.sweep.job import JobSpec, run_job
    from bilancio.sweep.records import public_config

    where = os.environ.get(ENV)
    if not where:
        raise TaskSetupError(
            "this Hydra job belongs to a sweep that bilancio did not open: the sweeper "
            f"{OmegaConf.select(cfg, 'hydra.sweeper._target_')} runs without bilancio's "
            "job_metrics callback (hydra.callbacks.job_metrics), so there is no job row to "
            "store its pair in; start from bilancio's config (defaults: [config, _self_])"
        )
    info = json.loads(where)
    hydra = HydraConfig.get()
    num = int(hydra.job.num)
    overrides = tuple(hydra.overrides.task)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["job"] = {**config["job"], "id": info["job_id"], "num": num}
    config["storage"] = info["storage"]
    marker = Path(info["outcomes"]) / f"{num}.json"
    shown = [redact_override(o) for o in overrides]
    started = {"job_num": num, "overrides": shown, "status": "started"}
    started["config"] = public_config(config)  # for a failed row if the pair leaves none
    write_atomically(marker, json.dumps(started))
    outcome = run_job(JobSpec(info["job_id"], num, config, overrides))
    write_atomically(marker, json.dumps({**started, **outcome.to_dict()}))
    if outcome.status != "completed":
        print(
            f"bilancio: pair #{num} ({' '.join(shown) or 'no overrides'}) failed: "
            f"{redact(outcome.error or 'unknown error')}",
            file=sys.stderr,
        )
    objective = cfg.get("objective")
    if objective is None:
        return outcome.to_dict()
    value = getattr(outcome, objective)
    return math.nan if value is None else float(value)
