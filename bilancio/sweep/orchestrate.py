"""A sweep from start to end: plan, check, record the job, launch, follow progress, finish.

Called by the ``bilancio`` Hydra sweeper. Everything that can refuse a sweep — its values, the
launcher's options, the database, a live job with the same id, a resume with other parameters,
an unwritable sweep folder — is checked before the job row is written (exit 2, nothing
changed). From the job row on, the sweep always ends with the job marked: completed; failed with
the failed pairs listed (exit 1); stopped because the database failed (exit 1); or interrupted
by SIGINT/SIGTERM (exit 130/143) — whatever instant the signal lands.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf

from bilancio.config import record_trades
from bilancio.interrupts import Interrupted, deferred, raised_in_this_command, raised_since
from bilancio.redaction import redact, redact_override
from bilancio.rows import run_id
from bilancio.storage import (
    JobBusy,
    NewDatabase,
    Store,
    StoreError,
    absolute_storage,
    check_storage,
    open_store,
)
from bilancio.sweep import lease
from bilancio.sweep.job import SAVE_FAILED, JobOutcome, failure_records
from bilancio.sweep.jobrow import fresh_id, job_record, resume_command
from bilancio.sweep.launching import JobHooks, execute, runs_jobs_itself
from bilancio.sweep.plan import LARGE_SWEEP, SweepError, plan_sweep
from bilancio.sweep.progress import Progress
from bilancio.sweep.records import JobBase
from bilancio.sweep.reuse import reuse_completed
from bilancio.sweep.sweepdir import JobSubdirs, SweepDirError, SweepFolder, write_job_overrides


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
    finished: bool = False  # every pair ran and the job row was closed
    aggregated: bool = False  # job_metrics were written (the callback)


LAST_SWEEP: list[SweepSummary] = []  # the sweeps of this process, newest last


def refuse(message: str) -> BaseException:
    """Exit 2: the sweep was refused before anything was written. If a signal arrived during
    the command, the refusal is its echo (a library caught the interrupt and raised something
    else, e.g. OmegaConf mid-compose): the interrupt is what is raised instead."""
    signum = raised_in_this_command()
    if signum is not None:
        return Interrupted(signum)
    print(f"bilancio: {redact(message)}\nNothing was run or written.", file=sys.stderr)
    return SystemExit(2)


def run_sweep(
    config: DictConfig,
    hydra_context: Any,
    launcher: Launcher,
    swept: list[str],
    max_pairs: int | None = None,
    batch_size: int | None = None,
    design: dict[str, Any] | None = None,
) -> list[list[JobReturn]]:
    try:
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise SweepError(
                f"invalid hydra.sweeper.batch_size={batch_size!r}: allowed null (automatic) or "
                "an integer >= 1"
            )
        if OmegaConf.select(config, "rerun.of"):
            from bilancio.sweep.rerun import plan_rerun

            plan = plan_rerun(config, swept)
        else:
            plan = plan_sweep(
                config, hydra_context.config_loader, swept, max_pairs=max_pairs, design=design
            )
        from bilancio.sweep.foreign import check_objective

        check_objective(OmegaConf.select(config, "objective"))
        _check_scheduler(launcher)
        _check_job_settings(config, launcher)
        check_options = getattr(launcher, "check_options", None)
        if check_options is not None:
            check_options()
        _check_job_id(plan.job_id)
        first = plan.spec(plan.nums[0]).config
        storage = absolute_storage(first["storage"], _cwd(config))
        check_storage(storage)
        _check_heartbeat(first["job"].get("heartbeat_seconds"))
    except (SweepError, ValueError, StoreError) as err:
        raise refuse(str(err)) from None
    if getattr(launcher, "dry_run", False):  # e.g. hydra.launcher.dry_run=true on Modal
        plan.bind = {"job_id": plan.job_id or "dry-run", "storage": storage}
        print(launcher.dry_run_report(plan.specs(plan.nums), plan.n_jobs))
        return [[]]
    preflight = getattr(launcher, "preflight", None)
    if preflight is not None:  # launcher-specific checks, before anything is written
        preflight(storage)
    users = _user_callbacks(hydra_context)
    hooks = JobHooks(users) if users and runs_jobs_itself(launcher) else None  # else run_job's
    sweep = Sweep(config, plan, launcher, storage, batch_size=batch_size, hooks=hooks)
    try:
        sweep.run()
    finally:
        release = getattr(launcher, "release", None)  # e.g. the Modal app the preflight began
        if release is not None:
            release()
    from bilancio.sweep import callbacks

    if not callbacks.configured(config):  # a hand-built config without bilancio's callback
        callbacks.report_sweep(sweep.summary)
    return [[]]


def _user_callbacks(hydra_context: Any) -> list[Any]:
    from bilancio.sweep.callbacks import JobMetricsCallback

    found = getattr(getattr(hydra_context, "callbacks", None), "callbacks", None) or []
    return [c for c in found if not isinstance(c, JobMetricsCallback)]


def env_set(config: DictConfig) -> dict[str, str]:
    env = OmegaConf.select(config, "hydra.job.env_set")
    if not OmegaConf.is_config(env):
        return {}
    return {str(k): str(v) for k, v in OmegaConf.to_container(env, resolve=True).items()}


def _check_job_settings(config: DictConfig, launcher: Launcher) -> None:
    """Hydra job settings this launcher cannot honour: refused before anything runs."""
    if env_set(config) and type(launcher).__name__ == "ModalLauncher":
        raise SweepError(
            "hydra.job.env_set is not sent to Modal's containers (their environment is the "
            "Modal secret's); set those variables in the secret instead"
        )
    if OmegaConf.select(config, "hydra.job.chdir") and runs_jobs_itself(launcher):
        raise SweepError(
            "invalid hydra.job.chdir=true: this launcher runs bilancio's pairs without a working "
            "folder per job (results go to the database; storage.path is relative to where "
            "bilancio was started); allowed false, or a generic Hydra launcher "
            "(hydra/launcher=joblib, submitit_local, …), where each Hydra job runs in its folder"
        )


def _check_scheduler(launcher: Launcher) -> None:
    """A SLURM launcher on a machine without SLURM fails every job at once: refuse it first."""
    import shutil

    if type(launcher).__name__ == "SlurmLauncher" and shutil.which("sbatch") is None:
        raise SweepError(NO_SBATCH)


NO_SBATCH = (
    "hydra/launcher=submitit_slurm (or +cloud=slurm) needs SLURM's sbatch, which is not on PATH "
    "here; run on the cluster's login node, or use hydra/launcher=submitit_local to run the same "
    "path on this machine"
)


JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,99}")


def _check_job_id(job_id: str | None) -> None:
    """A job id is typed in commands and names folders: keep it to a safe alphabet."""
    if job_id is not None and not JOB_ID.fullmatch(str(job_id)):
        raise SweepError(
            f"invalid job.id={job_id!r}: allowed 1 to 100 letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )


def _check_heartbeat(value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise SweepError(
            f"invalid job.heartbeat_seconds={value!r}: allowed a number of seconds in (0, 10^6)"
        )


def _cwd(config: DictConfig) -> str:
    return str(OmegaConf.select(config, "hydra.runtime.cwd") or Path.cwd())


class Sweep:
    def __init__(
        self,
        config: DictConfig,
        plan: Any,
        launcher: Launcher,
        storage: dict,
        *,
        batch_size: int | None = None,
        hooks: JobHooks | None = None,
    ):
        self.config, self.plan, self.launcher, self.storage = config, plan, launcher, storage
        self.owner = lease.me().text()
        job = plan.spec(plan.nums[0]).config["job"]
        self.beat = float(job.get("heartbeat_seconds") or lease.BEAT_SECONDS)
        self.progress: Progress | None = None
        self.heartbeat: lease.Heartbeat | None = None
        self.todo: list[int] = []
        self.skipped = 0
        self.env_set = env_set(config)
        self.batch_size, self.hooks = batch_size, hooks
        self.reused = 0  # runs copied from other jobs (job.skip_completed)

    # -- before the job row: every refusal ----------------------------------------------------

    def _prepare(self) -> tuple[Store, str, dict[str, Any] | None]:
        """Every check that can refuse the sweep, and every file it writes, before the job
        row: a refusal (exit 2) leaves the database and the sweep folder as they were."""
        folder = SweepFolder(Path(str(self.config.hydra.sweep.dir)))
        new_db = NewDatabase(self.storage)
        store: Store | None = None
        try:
            subdirs = JobSubdirs(self.config)  # every job's folder, checked before any write
            where = {
                n: subdirs.of(n, self.plan.overrides_of(n), self._values_for(subdirs, n))
                for n in self.plan.nums
            }
            folder.check_writable()
            store = open_store(self.storage)
            job_id = self.plan.job_id or fresh_id(store)
            existing = store.job_lease(job_id) if self.plan.job_id else None
            holder = lease.live_holder(existing)
            if holder:
                raise JobBusy(job_id, holder)
            if existing:
                self._refuse_other_design(store, job_id)
                self._refuse_conflicts(store, job_id)
            self.todo, self.skipped = self._pending(store, job_id)
            self.folder = folder.claim(job_id, self.config, self.storage)
            self.subdirs = subdirs
            write_job_overrides(
                self.folder,
                ((n, where[n], self.plan.overrides_of(n)) for n in self.todo),
                one_file=self._one_file(),
            )
        except KeyboardInterrupt:  # before the job row: leave nothing behind
            with deferred():
                folder.forget()
                new_db.forget(store)
            raise
        except (StoreError, SweepDirError, SweepError) as err:
            folder.forget()
            new_db.forget(store)
            raise refuse(str(err)) from None
        return store, job_id, existing

    def _one_file(self) -> bool:
        """A large sweep's Hydra records go in one file, not a folder per job."""
        plan = self.plan
        return getattr(plan, "max_pairs", plan.n_jobs) > LARGE_SWEEP

    def _values_for(self, subdirs: JobSubdirs, num: int) -> dict[str, Any] | None:
        """The job's values, only when a custom subdir may refer to them (cheap otherwise)."""
        if subdirs.raw == "${hydra.job.num}":
            return None
        config = self.plan.spec(num).config
        return {k: v for k, v in config.items() if k not in ("storage", "hydra")}

    def _refuse_other_design(self, store: Store, job_id: str) -> None:
        """A resumed design job must be drawn or searched as before: its row's
        ``hydra.sweeper.*`` settings (design, samples, seed, frontier) are this sweep's. A
        frontier's cells must be the same too: its later rounds are numbered after all of
        them, so a sweep over fewer cells would leave the others' searches unfinished."""
        from bilancio.sweep.designs import design_settings

        plan = self.plan
        now_said = getattr(plan, "row_overrides", None)
        if now_said is None and plan.overrides[:1] and plan.overrides[0].startswith("rerun.of="):
            return  # a plain rerun: a new job of reproduced runs
        now_said = now_said if now_said is not None else plan.overrides
        stored = store.get_job(job_id).get("overrides") or []
        before, now = design_settings(stored), design_settings(now_said)
        if before != now:
            differ = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
            said = ", ".join(
                f"hydra.sweeper.{k}: {before.get(k, '(unset)')} then, {now.get(k, '(unset)')} now"
                for k in differ
            )
            raise SweepError(
                f"job {job_id} was made with other design settings ({said}); a resumed sweep "
                "must be the same sweep (use a new job.id for a different one)"
            )
        if now.get("design") == "frontier":
            swept = [o for o in stored if not o.startswith(("job.id=", "hydra.sweeper."))]
            asked = [o for o in now_said if not o.startswith(("job.id=", "hydra.sweeper."))]
            if swept != asked:
                raise SweepError(
                    f"job {job_id} is a frontier over {' '.join(swept) or '(no overrides)'}; "
                    f"this sweep is over {' '.join(asked) or '(no overrides)'}. A frontier "
                    "resumes only as the same sweep (the same command and job.id), or its "
                    "other cells' searches would be left unfinished"
                )

    def _refuse_conflicts(self, store: Store, job_id: str) -> None:
        """A resumed sweep must be the same sweep: refuse it, unchanged, if a completed pair of
        the job has other parameters than this sweep's pair with the same number."""
        done = store.completed_runs(job_id)
        for num in self.plan.nums:
            hashes = {done.get(run_id(job_id, num, r)) for r in ("passive", "active")} - {None}
            if hashes and hashes != {self.plan.hash_of(num)}:
                overrides = " ".join(self.plan.overrides_of(num)) or "(no overrides)"
                raise SweepError(
                    f"job {job_id} already holds a completed pair #{num} with other parameters "
                    f"than this sweep's pair #{num} ({overrides}); a resumed sweep must be the "
                    "same sweep (use a new job.id for a different one)"
                )

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        store, job_id, existing = self._prepare()
        plan = self.plan
        plan.bind = {"job_id": job_id, "storage": self.storage}
        summary = SweepSummary(job_id, self.storage, str(self.folder), plan.n_jobs, self.skipped)
        self.summary, self.store = summary, store
        written, began = False, time.monotonic()
        try:
            with deferred():  # the row and the knowledge that it exists go together
                resumed = not store.create_job(
                    job_record(
                        self.plan,
                        self.config,
                        job_id,
                        self.owner,
                        self.beat,
                        getattr(self.launcher, "code_version", None),
                    ),
                    expected_owner=existing.get("lease_owner") if existing else None,
                )
                written = True
                LAST_SWEEP.append(summary)
            # runs store what differs from the job row's config, as the store holds it
            plan.bind = {**plan.bind, "base": JobBase.of(store.get_job(job_id).get("config"))}
            self.heartbeat = lease.Heartbeat(self.storage, job_id, self.owner, self.beat).start()
            self._start(resumed)
            if hasattr(self.plan, "search"):
                self._search()
            else:
                self._follow()
            self._finish()
        except LeaseLost as err:
            print(f"bilancio: {err}", file=sys.stderr)  # the job is the other process's now
            summary.interrupted = str(err)
            raise SystemExit(1) from None
        except JobBusy as err:
            if not written:  # another process created or took the job a moment ago
                raise refuse(str(err)) from None
            print(f"bilancio: {err}; this process stops and leaves the job to it", file=sys.stderr)
            summary.interrupted = str(err)
            raise SystemExit(1) from None
        except StoreError as err:
            if not written:  # the job was never ours: nothing to mark
                raise refuse(str(err)) from None
            self._database_failed(err)
            raise SystemExit(1) from None
        except (KeyboardInterrupt, Interrupted) as err:
            if written:
                self._interrupted(err)
            raise
        except BaseException as err:  # a bug: the job is still marked, then it propagates
            signum = raised_since(began)
            if signum is not None and not isinstance(err, SystemExit):
                # a library caught the interrupt and raised something else in its place
                interrupt = Interrupted(signum)
                if written:
                    self._interrupted(interrupt)
                raise interrupt from None
            if written and not isinstance(err, SystemExit):
                self._stopped(f"stopped by an internal error: {_describe(err)}", "failed")
            raise
        finally:
            self._stop_heartbeat()

    def _stop_heartbeat(self) -> None:
        """Before the job is finished or marked, so that no beat comes after the release."""
        beat = getattr(self, "heartbeat", None)
        if beat is not None:
            beat.stop()

    def _start(self, resumed: bool) -> None:
        store, plan, summary = self.store, self.plan, self.summary
        store.add_event(summary.job_id, "resumed" if resumed else "created", {"jobs": plan.n_jobs})
        todo = self.todo
        first = plan.spec(plan.nums[0]).config
        if first["job"].get("skip_completed"):
            if record_trades(first):
                # another job's runs bring no trades into this one: run every pair here
                print(
                    "bilancio: record.trades=true: pairs completed by other jobs are run again "
                    "to record their trades (job.skip_completed reuses nothing)",
                    file=sys.stderr,
                )
            else:
                todo, copied = reuse_completed(store, plan, summary.job_id, todo)
                summary.skipped += copied
                self.reused = 2 * copied
        store.add_event(
            summary.job_id,
            "started",
            {
                "to_run": len(todo),
                "already_done": summary.skipped,
                "launcher": type(self.launcher).__name__,
            },
        )
        if hasattr(plan, "search"):
            f = plan.search
            print(
                f"bilancio: job {summary.job_id}: the frontier of {f.param} in [{f.low:g}, "
                f"{f.high:g}] where {f.metric} ≤ {f.target:g}, for {plan.cells} "
                f"cell{'s' * (plan.cells != 1)}: up to "
                f"{plan.max_pairs} pairs in {f.iterations + 1} rounds → {_where(self.storage)}",
                file=sys.stderr,
            )
        else:
            print(
                f"bilancio: job {summary.job_id}: {plan.n_jobs} pairs ({summary.skipped} "
                f"already done) → {_where(self.storage)}",
                file=sys.stderr,
            )
        self.todo = todo

    def _pending(self, store: Store, job_id: str) -> tuple[list[int], int]:
        """(the job numbers still to run, how many pairs are already completed)."""
        done = store.completed_runs(job_id)
        todo, skipped = [], 0
        for num in self.plan.nums:
            ids = [run_id(job_id, num, r) for r in ("passive", "active")]
            if any(i not in done for i in ids):
                todo.append(num)
            else:
                skipped += 1
        return todo, skipped

    def _follow(self, label: str = "pairs", total: int | None = None, skipped: int = -1) -> None:
        skipped = self.summary.skipped if skipped < 0 else skipped
        total = self.plan.n_jobs if total is None else total
        self.progress = Progress(total, skipped=skipped, label=label)
        outcomes: Iterator[JobOutcome] = execute(
            self.launcher,
            self.plan,
            self.todo,
            self.store,
            folder=self.folder,
            batch_size=self.batch_size,
            hooks=self.hooks,
            first_batch=self.todo[0] if self.todo else 0,
        )
        saved_env = {k: os.environ.get(k) for k in self.env_set}
        os.environ.update(self.env_set)  # hydra.job.env_set, inherited by the workers
        try:
            for outcome in outcomes:
                if self.hooks is not None:
                    self.hooks.ended(outcome)
                self._record(outcome)
                self.progress.update(outcome.status != "completed")
                if self.heartbeat.lost:
                    raise LeaseLost(
                        f"job {self.summary.job_id} was taken over by another process (this "
                        "one's lease was not renewed in time, e.g. while it was stopped); "
                        "stopping here and leaving the job to it. The pairs stored so far are "
                        "kept."
                    )
        finally:
            with deferred():
                outcomes.close()  # stop the workers before the job is marked
                self.progress.close()
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    def _search(self) -> None:
        """A frontier job: round after round, replay every cell's search on the stored pairs,
        run the evaluations it asks for as one batch, until no cell asks for more."""
        from bilancio.sweep.frontier import replay

        plan, store, job_id = self.plan, self.store, self.summary.job_id
        f = plan.search
        tried: set[int] = set()  # pairs run by this process: a failure here ends the search
        todo, round_no = self.todo, 0
        while True:
            if todo:
                self._round(todo, round_no)
                tried.update(todo)
            runs = self._runs_by_num(store.job_runs(job_id))
            stored = {
                r["config_hash"]: num
                for num, both in runs.items()
                for r in both.values()
                if r.get("config_hash")
            }
            plan.adopt(stored)
            while True:  # until the next round has pairs to run, or the search is over
                wanted, new = [], []
                for cell in range(plan.cells):
                    found = replay(f, self._lookup(cell, runs, tried))
                    for value in found.wanted:
                        known = plan.num_of(cell, value) is not None
                        num = plan.evaluate(cell, value, stored)
                        wanted.append((num, found.rounds))
                        if not known:
                            new.append(num)
                todo = [n for n, _ in wanted if not self._complete(runs.get(n))]
                if todo or not new:
                    break  # a stored pair newly known changes the replay: replay again
            if not todo:
                break
            round_no = max(r for n, r in wanted if n in set(todo))
        self._grown()

    def _grown(self) -> None:
        """The job row's size and values as far as the search has gone."""
        plan = self.plan
        self.summary.total = plan.n_jobs
        self.store.set_job_grid(
            self.summary.job_id,
            {
                "total_runs": 2 * plan.n_jobs,
                "kappas": sorted(plan.distinct["kappa"]),
                "concentrations": sorted(plan.distinct["concentration"]),
                "mus": sorted(plan.distinct["mu"]),
                "outside_mid_ratios": sorted(plan.distinct["outside_mid_ratio"]),
            },
        )

    def _round(self, todo: list[int], round_no: int) -> None:
        """One round of a frontier search: its pairs as one batch through the launcher."""
        f = self.plan.search
        if round_no:
            self._grown()
            first = self.plan.spec(todo[0]).config
            if first["job"].get("skip_completed") and not record_trades(first):
                todo, copied = reuse_completed(
                    self.store, self.plan, self.summary.job_id, todo, already=self.reused
                )
                self.summary.skipped += copied
                self.reused += 2 * copied
                if not todo:
                    return
        if round_no:  # round 0's folders were written before the job row
            subdirs, plan = self.subdirs, self.plan
            write_job_overrides(
                self.folder,
                (
                    (n, subdirs.of(n, plan.overrides_of(n), self._values_for(subdirs, n)),
                     plan.overrides_of(n))
                    for n in todo
                ),
                one_file=self._one_file(),
            )  # fmt: skip
        self.store.add_event(self.summary.job_id, "round", {"round": round_no, "pairs": len(todo)})
        print(
            f"bilancio: round {round_no} of {f.iterations}: {len(todo)} pairs",
            file=sys.stderr,
        )
        self.todo = todo
        self._follow(label=f"pairs of round {round_no}", total=len(todo), skipped=0)

    def _lookup(self, cell: int, runs: dict[int, dict], tried: set[int]) -> Any:
        """What the search of ``cell`` knows of a value: its stored pair's metrics, a failure
        of this process's (a failure stored by an earlier process is run again), or MISSING."""
        from bilancio.sweep.frontier import MISSING

        def lookup(value: float) -> Any:
            num = self.plan.num_of(cell, value)
            both = runs.get(num) if num is not None else None
            got = self._evaluation(both) if both else MISSING
            return MISSING if isinstance(got, str) and num not in tried else got

        return lookup

    @staticmethod
    def _runs_by_num(runs: list[dict[str, Any]]) -> dict[int, dict[str, dict[str, Any]]]:
        out: dict[int, dict[str, dict[str, Any]]] = {}
        for run in runs:
            if run.get("job_num") is not None:
                out.setdefault(int(run["job_num"]), {})[run["regime"]] = run
        return out

    def _evaluation(self, both: dict[str, dict[str, Any]]) -> Any:
        from bilancio.analysis.frontier import _evaluation

        return _evaluation(self.plan.search, both)

    @staticmethod
    def _complete(both: dict[str, dict[str, Any]] | None) -> bool:
        return bool(both) and all(
            both.get(r, {}).get("status") == "completed" for r in ("passive", "active")
        )

    def _record(self, outcome: JobOutcome) -> None:
        """Count an outcome. A pair whose rows could not be stored stops the sweep (StoreError):
        running on would compute results that are then lost."""
        if outcome.status == "completed":
            self.summary.completed += 1
            return
        if outcome.error and outcome.error.startswith(SAVE_FAILED):
            raise StoreError(outcome.error.removeprefix(SAVE_FAILED).strip(": "))
        spec = self.plan.spec(outcome.job_num)
        if not outcome.saved and self._stored_whole(outcome.job_num):
            # a worker that died after committing the pair but before saying so: it is done
            self.summary.completed += 1
            return
        error = redact(outcome.error or "unknown error")
        shown = tuple(redact_override(o) for o in spec.overrides)
        self.summary.failures.append((spec.job_num, shown, error))
        if not outcome.saved:  # the worker could not write its failure: write it from here
            self.store.save_runs(failure_records(spec, None, error), [])

    def _stored_whole(self, num: int) -> bool:
        done = self.store.completed_runs(self.summary.job_id)
        ids = [run_id(self.summary.job_id, num, r) for r in ("passive", "active")]
        return all(done.get(i) == self.plan.hash_of(num) for i in ids)

    def _finish(self) -> None:
        summary, failed = self.summary, len(self.summary.failures)
        error = f"{failed} of {self.plan.n_jobs} jobs failed" if failed else None
        self._stop_heartbeat()
        with deferred():
            counts = self.store.finish_job(
                summary.job_id, "failed" if failed else "completed", error, owner=self.owner
            )
            self.store.add_event(
                summary.job_id,
                "failed" if failed else "completed",
                {**counts, "failed_jobs": failed},
            )
            summary.finished = True

    # -- the ways a sweep stops early ---------------------------------------------------------

    def _done(self) -> int:
        return self.progress.done if self.progress else 0

    def _database_failed(self, err: Exception) -> None:
        job_id = self.summary.job_id
        self.summary.interrupted = str(err)
        print(
            f"bilancio: the results database failed after {self._done()} of {len(self.todo)} "
            f"pairs: {redact(str(err))}\nThe sweep was stopped. When the database is back, "
            f"{self._resume_hint()}",
            file=sys.stderr,
        )
        self._stopped(f"stopped: {err}; resume with job.id={job_id}", "interrupted")

    def _resume_hint(self) -> str:
        job_id = self.summary.job_id
        return (
            f"resume it with job.id={job_id} (completed pairs are kept and skipped): "
            f"{resume_command(job_id)}"
        )

    def _interrupted(self, err: BaseException) -> None:
        name = err.name if isinstance(err, Interrupted) else "SIGINT"
        job_id = self.summary.job_id
        self.summary.interrupted = name
        note = (
            f"interrupted ({name}) after {self._pairs_stored()} of {self.plan.n_jobs} pairs; "
            f"resume with job.id={job_id}"
        )
        self._stopped(note, "interrupted")
        print(f"\nbilancio: {note}: {resume_command(job_id)}", file=sys.stderr)
        if isinstance(err, Interrupted):
            err.reported = True

    def _pairs_stored(self) -> int:
        """Pairs completed in the store (workers may have stored pairs the main process had not
        heard of yet); what this process counted if the database cannot say quickly."""
        counted = self.summary.skipped + self.summary.completed
        try:
            with _urgent(self.store):
                return max(counted, self.store.run_counts(self.summary.job_id)["completed"] // 2)
        except (StoreError, KeyboardInterrupt):
            return counted

    def _stopped(self, note: str, event: str) -> bool:
        """Mark the job failed with ``note``: one quick try (the sweep is stopping); a second
        Ctrl-C abandons it. True if the job was marked; otherwise say what is left."""
        self._stop_heartbeat()
        job_id = self.summary.job_id
        try:
            with _urgent(self.store):
                self.store.finish_job(job_id, "failed", note, owner=self.owner)
                self.store.add_event(job_id, event, {"reason": redact(note)})
            return True
        except StoreError as err:
            reason = f"could not record the stop in the database ({redact(str(err))})"
        except KeyboardInterrupt:
            reason = "interrupted again while recording the stop"
        print(
            f"\nbilancio: {reason}; job {job_id} stays 'running' there until it is resumed "
            f"(its lease ends within {lease.lease_seconds(self.beat):.0f} s, at once on this "
            "machine).",
            file=sys.stderr,
        )
        return False


def _urgent(store: Store) -> Any:
    """The store's quick mode for a stopping sweep's last writes (one short try)."""
    urgent = getattr(store, "urgent", None)
    return urgent() if urgent is not None else contextlib.nullcontext()


class LeaseLost(RuntimeError):
    """Another process took the job over while this one was running it."""


def _where(storage: dict[str, Any]) -> str:
    if storage.get("backend") == "sqlite":
        return storage["path"]
    return f"{storage.get('backend')} database"


def _describe(err: BaseException) -> str:
    return redact(f"{type(err).__name__}: {err}".rstrip(": "))
