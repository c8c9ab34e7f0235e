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

With ``objective=<metric>`` a task returns that number, as optimising sweepers expect. A failed
pair returns a sentence saying so instead: it is not a number, so Optuna records the trial as
failed and goes on (optuna 2.x raises on a NaN told as the value of a failed trial).

Resuming a job (``job.id=``) must be the same sweep: a job made by another sweeper or with other
swept values is refused before anything runs, and a task whose pair number the job already holds
completed, with the same parameters, is skipped; with other parameters (an optimiser that chose
differently) it is a failed pair and the stored one is kept.
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
from bilancio.interrupts import deferred
from bilancio.redaction import drop_secret_settings, redact, redact_override
from bilancio.rows import JobRecord, run_id
from bilancio.storage import (
    JobBusy,
    NewDatabase,
    StoreError,
    absolute_storage,
    check_storage,
    open_store,
)
from bilancio.sweep import lease

ENV = "BILANCIO_SWEEP"  # JSON: the job id, its storage settings, the outcome folder
OBJECTIVES = ("trading_effect", "delta_passive", "delta_active")
BILANCIO_SWEEPER = "hydra_plugins.bilancio_sweeper.sweeper.BilancioSweeper"
OUTCOMES = ".bilancio"  # inside the sweep folder
RESUME = "resume.json"  # in OUTCOMES: the completed pairs of a resumed job (num → hash, δ)
# the sweeper's settings that do not change which pair a job number is (a resume may extend a
# study with more trials: its first trials are then the stored ones)
SWEEPER_BUDGET = (
    "n_trials",
    "n_jobs",
    "max_batch_size",
    "storage",
    "study_name",
    "max_failure_rate",
)
OPTIMISER_KEYS = ("direction", "optim", "ax_config")  # Optuna, Nevergrad, Ax: they need a number


class TaskSetupError(RuntimeError):
    """A task cannot run: it was started outside a sweep bilancio knows about."""


def is_bilancio_sweeper(config: DictConfig) -> bool:
    return OmegaConf.select(config, "hydra.sweeper._target_") == BILANCIO_SWEEPER


def check_optimiser(config: DictConfig) -> None:
    """An optimising sweeper needs a number from every job: refuse it without an objective."""
    from bilancio.sweep.plan import SweepError

    sweeper = OmegaConf.select(config, "hydra.sweeper") or {}
    if OmegaConf.select(config, "objective") is None and any(k in sweeper for k in OPTIMISER_KEYS):
        name = str(OmegaConf.select(config, "hydra.sweeper._target_") or "?").rsplit(".", 1)[-1]
        raise SweepError(
            f"the {name} optimises the number each job returns: choose it with "
            f"objective={'|'.join(OBJECTIVES)} (and hydra.sweeper.direction=maximize or "
            "minimize), e.g. objective=trading_effect"
        )


def _check_launcher_and_folders(config: DictConfig) -> None:
    """What bilancio's sweeper refuses before anything runs, refused here too: SLURM without
    its scheduler, and job folders outside the sweep folder."""
    import shutil

    from bilancio.sweep.plan import SweepError

    launcher = str(OmegaConf.select(config, "hydra.launcher._target_") or "")
    if launcher.endswith("SlurmLauncher") and shutil.which("sbatch") is None:
        from bilancio.sweep.orchestrate import NO_SBATCH

        raise SweepError(NO_SBATCH)
    from bilancio.sweep.sweepdir import outside_the_sweep_folder

    raw = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")
    if raw is not None:
        text = str(raw)
        if outside_the_sweep_folder(text):  # as written: Hydra resolves it in each job
            raise SweepError(
                f"invalid hydra.sweep.subdir={text!r}: allowed a relative folder inside the "
                "sweep folder (hydra.sweep.dir), e.g. ${hydra.job.num} or "
                "${hydra.job.override_dirname}"
            )


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
    status: str  # started | completed | failed | conflict (another pair has its number)
    error: str | None
    saved: bool
    config: dict[str, Any]  # the job's resolved config, written by its task before the pair
    skipped: bool = False  # completed in an earlier run of the job (a resume)


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
        from bilancio.config import params_from_config, record_trades
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
        sweep_type = f"hydra:{self.sweeper.rsplit('.', 1)[-1]}"
        overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        shown = [redact_override(o) for o in overrides]
        store = None
        new_db = NewDatabase({})
        try:
            check_objective(OmegaConf.select(config, "objective"))
            check_optimiser(config)
            _check_launcher_and_folders(config)
            job = {  # only what the job row needs; a value only a job resolves is left out
                k: OmegaConf.select(config, f"job.{k}", throw_on_resolution_failure=False)
                for k in ("id", "description", "heartbeat_seconds")
            }
            _check_job_id(job.get("id"))
            _check_heartbeat(job.get("heartbeat_seconds"))
            record_trades(config)
            params = params_from_config(_model_values(config))
            defined = definition(config)
            storage = absolute_storage(OmegaConf.to_container(config.storage, resolve=True), cwd)
            check_storage(storage)
            new_db = NewDatabase(storage)
            store = open_store(storage)
            job_id = job.get("id") or fresh_id(store)
            existing = store.job_lease(job_id)
            holder = lease.live_holder(existing)
            if holder:
                raise JobBusy(job_id, holder)
            resume = {}
            if existing:
                _refuse_other_sweep(store.get_job(job_id), sweep_type, defined)
                resume = _completed_pairs(store, job_id)
            sweep_dir = Path(cwd, str(config.hydra.sweep.dir))
            outcomes = sweep_dir / OUTCOMES
            outcomes.mkdir(parents=True, exist_ok=True)
            for stale in outcomes.glob("[0-9]*.json"):  # an earlier sweep in the same folder
                stale.unlink()
            write_atomically(outcomes / RESUME, json.dumps(resume))
        except (SweepError, ParameterError, ValueError, StoreError, OSError) as err:
            new_db.forget(store)
            raise refuse(str(err)) from None
        except KeyboardInterrupt:  # before the job row: leave no empty database behind
            with deferred():
                new_db.forget(store)
            raise
        self.store, self.job_id, self.storage = store, job_id, storage
        self.outcomes, self.owner = outcomes, lease.me().text()
        self.beat = float(job.get("heartbeat_seconds") or lease.BEAT_SECONDS)
        base = OmegaConf.to_container(config, resolve=False)
        base.pop("hydra", None)
        record = JobRecord(
            job_id=job_id,
            sweep_type=sweep_type,
            n_agents=params.n_agents,
            maturity_days=params.maturity_days,
            kappas=[],
            concentrations=[],
            mus=[],
            outside_mid_ratios=[],
            seeds=[],
            total_runs=0,
            overrides=shown,
            config=public_config(base),
            code_version=code_version(),
            description=job.get("description"),
            lease_owner=self.owner,
            lease_expires_at=lease.expires_at(lease.lease_seconds(self.beat)),
        )
        with deferred():  # the job row and this process's knowledge of it go together
            try:
                resumed = not store.create_job(
                    record, expected_owner=existing.get("lease_owner") if existing else None
                )
            except (StoreError, JobBusy) as err:
                if not existing:
                    new_db.forget(store)
                raise refuse(str(err)) from None
            self.summary = SweepSummary(job_id, storage, str(sweep_dir), 0)
            LAST_SWEEP.append(self.summary)
            OPEN.append(self)
        store.add_event(
            job_id,
            "resumed" if resumed else "created",
            {"sweeper": self.sweeper, "definition": defined},
        )
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
            f"{storage.get('path') if storage.get('backend') == 'sqlite' else 'the database'}"
            + (f" ({len(resume)} pairs already done)" if existing else ""),
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
            with deferred():  # a Ctrl-C now waits until the job is closed
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
            if pair.status == "conflict":  # the job's stored pair with this number is kept
                summary.failures.append((pair.num, pair.overrides, redact(pair.error or "?")))
                continue
            if pair.skipped:
                summary.skipped += 1
                continue
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
        count = f"{failed} of {summary.total} jobs failed" if failed else None
        note = f"{error} ({count})" if error and count else error or count
        status = "failed" if note else "completed"
        counts = store.finish_job(self.job_id, status, note, owner=self.owner)
        store.add_event(self.job_id, status, {**counts, "failed_jobs": failed})
        summary.finished = True
        report_sweep(summary)

    def _read_outcomes(self) -> list[_Pair]:
        pairs = []
        for path in sorted(self.outcomes.glob("[0-9]*.json")):
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
                    bool(data.get("skipped")),
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
    """The model's values of the sweep's config, each resolved on its own. A value that only a
    job can resolve (``seed=${hydra:job.num}``) is left out here (the defaults stand in for the
    job row's checks) and is checked in each job, as Hydra resolves it there."""
    from omegaconf.errors import InterpolationResolutionError

    from bilancio.model import ModelParams

    out = {}
    for name in ModelParams.field_names():
        if name in config:
            try:
                value = OmegaConf.select(config, name, throw_on_resolution_failure=True)
                out[name] = (
                    OmegaConf.to_container(value, resolve=True)
                    if OmegaConf.is_config(value)
                    else value
                )
            except InterpolationResolutionError:
                continue
    return out


def _normal(value: Any) -> Any:
    """A parsed override value in a form that compares as the pairs do: numbers as floats,
    quoted strings as their text, sweeps as what they sweep (so ``0.5,1.0`` equals ``0.5,1`` and
    ``range(1, 3)`` equals ``range(1,3)``)."""
    from hydra.core.override_parser.types import (
        ChoiceSweep,
        Glob,
        IntervalSweep,
        QuotedString,
        RangeSweep,
    )

    if isinstance(value, QuotedString):
        return value.text
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, ChoiceSweep):
        return {"choice": _normal(value.list), "shuffle": value.shuffle, "tags": sorted(value.tags)}
    if isinstance(value, RangeSweep):
        bounds = [value.start, value.stop, value.step]
        return {"range": _normal(bounds), "shuffle": value.shuffle, "tags": sorted(value.tags)}
    if isinstance(value, IntervalSweep):
        return {"interval": _normal([value.start, value.end]), "tags": sorted(value.tags)}
    if isinstance(value, Glob):
        return {"glob": [list(value.include), list(value.exclude)]}
    return str(value)


def definition(config: DictConfig) -> dict[str, Any]:
    """What decides which pair each job number of this sweep is, in command-line order (Hydra
    numbers the jobs in that order): every swept override, the overrides of model values, of the
    experiment, the sweeper's settings (not its budget, :data:`SWEEPER_BUDGET`), its ``params``
    (an experiment's grid) and the model values of the config as written
    (interpolations unresolved). Launcher, storage, budget and objective settings are left out:
    they do not change which pair a job number is."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from bilancio.model import ModelParams

    keys = {*ModelParams.field_names(), "experiments"}
    parser = OverridesParser.create()
    overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    swept = []
    for text in overrides:
        (override,) = parser.parse_overrides([text])
        key = override.key_or_group
        if override.is_sweep_override() or key in keys:
            swept.append([key, _normal(override.value())])
    params = OmegaConf.select(config, "hydra.sweeper.params")
    grid, grid_text = {}, []
    if params is not None:
        for key, value in OmegaConf.to_container(params, resolve=False).items():
            (override,) = parser.parse_overrides([f"{key}={value}"])
            grid[str(key)] = _normal(override.value())
            grid_text.append(redact_override(f"{key}={value}"))
    sweeper = OmegaConf.to_container(config.hydra.sweeper, resolve=False)
    settings = {
        k: v for k, v in sweeper.items() if k not in (*SWEEPER_BUDGET, "params", "_target_")
    }
    written = OmegaConf.to_container(config, resolve=False)
    values = {k: _normal(written[k]) for k in ModelParams.field_names() if k in written}
    return {
        "swept": swept,
        "sweeper_params": grid,
        "sweeper_settings": json.loads(json.dumps(settings, default=str)),
        "values": values,
        "shown": [redact_override(o) for o in overrides],  # for messages only
        "sweeper_params_shown": grid_text,
    }


def _differing(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def _refuse_other_sweep(old: dict[str, Any], sweep_type: str, now: dict[str, Any]) -> None:
    """A resumed job must be resumed by the same sweep: the same sweeper and the same
    :func:`definition` (the SweepError names what differs)."""
    from bilancio.sweep.plan import SweepError

    job_id = old["job_id"]
    again = "resume it with the command that made it, or use a new job.id for a different sweep"
    if old.get("sweep_type") != sweep_type:
        made = str(old.get("sweep_type"))
        made = "bilancio's sweeper" if made == "balanced" else made.removeprefix("hydra:")
        raise SweepError(
            f"job {job_id} was made by {made}, not by {sweep_type.removeprefix('hydra:')}; {again}"
        )
    stored = [
        e["details"]["definition"]
        for e in old.get("events") or []
        if isinstance(e.get("details"), dict) and "definition" in e["details"]
    ]
    if not stored:
        return  # a job from before definitions were recorded: its pairs are checked one by one
    before = stored[-1]
    made_with = " ".join(before.get("shown") or []) or "no overrides"
    typed = " ".join(now["shown"]) or "no overrides"
    if before["swept"] != now["swept"]:
        same_set = sorted(map(json.dumps, before["swept"])) == sorted(map(json.dumps, now["swept"]))
        order = (
            " (the same overrides in another order: Hydra numbers the pairs in command-line "
            "order, so give them in the order of the first run)"
            if same_set
            else ""
        )
        raise SweepError(
            f"job {job_id} was swept with {made_with}, not with {typed}{order}; {again}"
        )
    if before["sweeper_params"] != now["sweeper_params"]:
        raise SweepError(
            f"job {job_id} was swept with the sweeper's params "
            f"{' '.join(before.get('sweeper_params_shown') or []) or '(none)'}, not "
            f"{' '.join(now['sweeper_params_shown']) or '(none)'} (did the experiment's grid "
            f"change?); {again}"
        )
    if before.get("sweeper_settings") != now["sweeper_settings"]:
        changed = _differing(before.get("sweeper_settings") or {}, now["sweeper_settings"])
        raise SweepError(
            f"job {job_id} was swept with other sweeper settings (hydra.sweeper."
            f"{', hydra.sweeper.'.join(changed)}), which choose other pairs; {again}"
        )
    if before["values"] != now["values"]:
        differ = _differing(before["values"], now["values"])
        shown_values = ", ".join(
            f"{k}={before['values'].get(k)!r} (now {now['values'].get(k)!r})" for k in differ
        )
        raise SweepError(f"job {job_id} was made with {shown_values}; {again}")


def _completed_pairs(store: Any, job_id: str) -> dict[str, dict[str, Any]]:
    """num → the config hash and δ of both regimes, for every pair the job holds completed."""
    hashes = store.completed_runs(job_id)
    by_num: dict[int, dict[str, Any]] = {}
    for row in store.job_deltas(job_id):
        if row["status"] == "completed":
            digest = hashes.get(run_id(job_id, row["job_num"], row["regime"]))
            delta = None if row["delta_total"] is None else float(row["delta_total"])  # NUMERIC
            by_num.setdefault(int(row["job_num"]), {})[row["regime"]] = (digest, delta)
    out = {}
    for num, both in by_num.items():
        if set(both) == {"passive", "active"} and both["passive"][0] == both["active"][0]:
            passive, active = both["passive"][1], both["active"][1]
            out[str(num)] = {
                "hash": both["passive"][0],
                "delta_passive": passive,
                "delta_active": active,
                "trading_effect": None if passive is None or active is None else passive - active,
            }
    return out


_RESUME_CACHE: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}  # read once per process


def _resumed(outcomes: str) -> dict[str, dict[str, Any]]:
    """The completed pairs the job held when this sweep started (written by ``start``)."""
    path = Path(outcomes) / RESUME
    key = (str(path), path.stat().st_mtime_ns)  # a later sweep in the same folder rewrites it
    if key not in _RESUME_CACHE:
        _RESUME_CACHE[key] = json.loads(path.read_text())
    return _RESUME_CACHE[key]


def _digest(config: dict[str, Any]) -> str | None:
    from bilancio.config import params_from_config
    from bilancio.model import ParameterError
    from bilancio.sweep.records import config_hash

    try:
        return config_hash(params_from_config(config))
    except (ParameterError, ValueError):
        return None


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
        sweeper = OmegaConf.select(HydraConfig.get(), "sweeper._target_") or "?"
        raise TaskSetupError(
            "this Hydra job belongs to a sweep that bilancio did not open: the sweeper "
            f"{str(sweeper).rsplit('.', 1)[-1]} runs without bilancio's job_metrics callback "
            "(hydra.callbacks.job_metrics), so there is no job row to store its pair in; start "
            "from bilancio's config (defaults: [config, _self_]). Nothing was stored"
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
    described = " ".join(shown) or "no overrides"
    started = {"job_num": num, "overrides": shown, "status": "started"}
    started["config"] = public_config(config)  # for a failed row if the pair leaves none
    objective = cfg.get("objective")
    stored = _resumed(info["outcomes"]).get(str(num))
    if stored is not None:  # a resumed job holds this pair number completed already
        if _digest(config) == stored["hash"]:
            done = {"status": "completed", "error": None, "saved": True, "skipped": True}
            write_atomically(marker, json.dumps({**started, **done, **stored}))
            if objective is None:
                return {"job_num": num, **done, **stored}
            return _objective(stored.get(objective), num, "its stored value is missing")
        error = (
            f"job {info['job_id']} already holds a completed pair #{num} with other parameters "
            f"than this one ({described}); the stored pair is kept and this one was not run "
            "(a resumed sweep must choose the same pairs: fix the sweeper's seed, or use a new "
            "job.id)"
        )
        write_atomically(
            marker, json.dumps({**started, "status": "conflict", "error": error, "saved": True})
        )
        print(f"bilancio: pair #{num}: {error}", file=sys.stderr)
        return (
            {"job_num": num, "status": "conflict", "error": error}
            if objective is None
            else (f"pair #{num} was not run: {error}")
        )
    write_atomically(marker, json.dumps(started))
    outcome = run_job(JobSpec(info["job_id"], num, config, overrides))
    write_atomically(marker, json.dumps({**started, **outcome.to_dict()}))
    if outcome.status != "completed":
        print(
            f"bilancio: pair #{num} ({described}) failed: "
            f"{redact(outcome.error or 'unknown error')}",
            file=sys.stderr,
        )
    if objective is None:
        return outcome.to_dict()
    if outcome.status != "completed":
        return f"pair #{num} failed: {redact(outcome.error or 'unknown error')}"
    return _objective(getattr(outcome, objective), num, "the metric is undefined")


def _objective(value: Any, num: int, why: str) -> float | str:
    """The objective's number; for a value that cannot be one, a sentence saying why. An
    optimising sweeper records a job that returns a sentence as a failed trial (Optuna: "Return
    value must be float-castable") and goes on; it cannot tell a NaN from a real value in all
    versions (optuna 2.x raises on it)."""
    if value is None or not math.isfinite(float(value)):
        return f"pair #{num} has no objective value: {why}"
    return float(value)
