"""Re-execute a stored job from its stored configs alone, and compare the results.

``bilancio rerun JOB_ID`` makes a new job (linked in its description) whose jobs are the original
job's runs' stored configs, runs it through the usual sweeper and launcher, then compares every
metric of every run. ``--failed-only`` re-runs just the failed runs, into the same job.
"""

from __future__ import annotations

import sys
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bilancio.config import params_from_config
from bilancio.model import ModelParams, ParameterError
from bilancio.storage import JobBusy, JobNotFound, StoreError, absolute_storage, open_store
from bilancio.sweep import lease
from bilancio.sweep.job import JobSpec
from bilancio.sweep.plan import SWEPT, SweepError
from bilancio.sweep.records import code_version, config_hash

VOLATILE = {"run_id", "created_at", "completed_at", "execution_time_ms"}


class StoredPlan:
    """A plan whose jobs are a stored job's runs (same job numbers, same configs)."""

    def __init__(
        self,
        configs: dict[int, dict[str, Any]],
        original: str,
        failed_only: bool,
        job_id: str | None = None,
        storage: dict[str, Any] | None = None,
        row_overrides: list[str] | None = None,
    ):
        self._configs = configs
        # --failed-only completes the job: its row keeps the overrides it was made with (a
        # design's ranges and settings, which its summaries read)
        self.row_overrides = list(row_overrides or []) if failed_only else None
        self._storage = storage  # this command's storage settings, not the stored ones
        self.nums = sorted(configs)
        self.n_jobs = len(self.nums)
        self.overrides = [f"rerun.of={original}"] + (
            ["rerun.failed_only=true"] if failed_only else []
        )
        # --failed-only completes the job itself; a plain rerun is a new job (job.id resumes it)
        self.job_id = original if failed_only else job_id
        self.description = None if failed_only else f"rerun of {original}"
        self.bind: dict[str, Any] = {}
        self._params = {n: params_from_config(c) for n, c in configs.items()}
        self.first: ModelParams = self._params[self.nums[0]]
        self.distinct = {k: {getattr(p, k) for p in self._params.values()} for k in SWEPT}

    def hash_of(self, num: int) -> str:
        return config_hash(self._params[num])

    def overrides_of(self, num: int) -> tuple[str, ...]:
        return (*self.overrides, f"#{num}")

    def spec(self, num: int) -> JobSpec:
        config = dict(self._configs[num])
        job_id = self.bind.get("job_id", "")
        if self._storage is not None:
            config["storage"] = self._storage
        if self.bind:
            config["job"] = {**config.get("job", {}), "id": job_id, "num": num}
            config["storage"] = self.bind["storage"]
        return JobSpec(job_id=job_id, job_num=num, config=config, overrides=self.overrides_of(num))

    def specs(self, nums: Any = None):
        for num in self.nums if nums is None else nums:
            yield self.spec(num)


def plan_rerun(config: DictConfig, swept: list[str]) -> StoredPlan:
    original, failed_only = config.rerun.of, bool(config.rerun.failed_only)
    try:
        settings = OmegaConf.to_container(config.storage, resolve=True)
        # read-only: a missing database is an error, never a new empty file
        store = open_store(absolute_storage(settings, config.hydra.runtime.cwd), read_only=True)
        try:
            stored = store.get_job(original)
            runs = store.job_runs(original)
        finally:
            store.close()
    except (JobNotFound, StoreError) as err:
        raise SweepError(str(err)) from None
    holder = lease.live_holder(stored)
    if failed_only and holder:  # it would write into a job another process is running
        raise SweepError(str(JobBusy(original, holder)))
    here = code_version()
    if stored.get("code_version") and stored["code_version"] != here:
        print(
            f"bilancio: warning: job {original} was computed by {stored['code_version']}; "
            f"this is {here}",
            file=sys.stderr,
        )
    from bilancio.sweep.designs import design_settings

    if failed_only and design_settings(stored.get("overrides")).get("design") == "frontier":
        raise SweepError(
            f"job {original} is a frontier search: --failed-only would run its failed pairs "
            "again but not the rounds after them. Resume it instead, with the command that "
            f"made it and job.id={original}: the search runs its failed pairs again and goes on "
            "from there"
        )
    configs: dict[int, dict[str, Any]] = {}
    for run in runs:
        if failed_only and run["status"] == "completed":
            continue
        if run.get("config"):
            configs.setdefault(run["job_num"], run["config"])
    if failed_only:  # a pair is re-run whole when either of its runs failed
        configs = {
            n: c
            for n, c in configs.items()
            if any(r["job_num"] == n and r["status"] != "completed" for r in runs)
        }
    if not configs:
        raise SweepError(f"job {original} has no {'failed ' if failed_only else ''}runs to re-run")
    if not failed_only and not any(r["status"] == "completed" for r in runs):
        raise SweepError(
            f"job {original} has no completed run to reproduce ({len(runs)} runs, none "
            f"completed); `bilancio rerun {original} --failed-only` runs them into the same job"
        )
    try:
        return StoredPlan(
            configs, original, failed_only, config.job.id, settings, stored.get("overrides")
        )
    except ParameterError as err:
        raise SweepError(f"a stored config no longer validates: {err}") from None


def compare(store: Any, original: str, rerun: str) -> list[str]:
    """Differences between the runs of two jobs, by job number and regime ([] if identical)."""

    def by_key(job_id: str) -> dict[tuple[int, str], dict[str, Any]]:
        return {(r["job_num"], r["regime"]): r for r in store.job_runs(job_id)}

    before, after = by_key(original), by_key(rerun)
    differences = []
    for key in sorted(after):
        old, new = before.get(key), after[key]
        if old is None:
            differences.append(f"#{key[0]} {key[1]}: not in {original}")
            continue
        if old["status"] != "completed":
            continue  # nothing to compare with (bilancio.cli.rerun counts these)
        if old["status"] != new["status"]:
            differences.append(f"#{key[0]} {key[1]}: status {old['status']} → {new['status']}")
        a, b = old.get("raw_metrics") or {}, new.get("raw_metrics") or {}
        # a metric this version adds (delta_ring, say) is not a difference from a job stored
        # before it existed; a metric the stored run has and the rerun lost is one
        for metric in sorted(a):
            if a.get(metric) != b.get(metric):
                differences.append(
                    f"#{key[0]} {key[1]}: {metric} {a.get(metric)!r} → {b.get(metric)!r}"
                )
    return differences
