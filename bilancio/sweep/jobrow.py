"""The job's row (what ``jobs`` stores about a sweep) and how a sweep is named and resumed."""

from __future__ import annotations

import shlex
import sys
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bilancio.redaction import redact_override
from bilancio.rows import JobRecord, new_job_id
from bilancio.storage import Store
from bilancio.sweep import lease
from bilancio.sweep.records import code_version, public_config


def job_record(
    plan: Any,
    config: DictConfig,
    job_id: str,
    owner: str,
    beat: float,
    version: str | None = None,
) -> JobRecord:
    """The jobs row of a sweep about to start: what was swept, how, by which code and process.
    ``version``: the code that computes the runs when it is not this process's (a deployed
    Modal app)."""
    base = OmegaConf.to_container(config, resolve=False)
    base.pop("hydra", None)
    first = plan.first
    description = plan.description or plan.spec(plan.nums[0]).config["job"].get("description")
    return JobRecord(
        job_id=job_id,
        sweep_type="balanced",
        n_agents=first.n_agents,
        maturity_days=first.maturity_days,
        kappas=sorted(plan.distinct["kappa"]),
        concentrations=sorted(plan.distinct["concentration"]),
        mus=sorted(plan.distinct["mu"]),
        outside_mid_ratios=sorted(plan.distinct["outside_mid_ratio"]),
        seeds=sorted(plan.distinct["seed"]),
        total_runs=2 * plan.n_jobs,
        overrides=[
            redact_override(o) for o in getattr(plan, "row_overrides", None) or plan.overrides
        ],
        config=public_config(base),
        code_version=version or code_version(),
        description=description,
        lease_owner=owner,
        lease_expires_at=lease.expires_at(lease.lease_seconds(beat)),
    )


def fresh_id(store: Store) -> str:
    """A new job id that the store does not hold yet."""
    while True:
        job_id = new_job_id()
        if store.job_lease(job_id) is None:
            return job_id


def resume_command(job_id: str) -> str:
    """The command line that resumes this job: this one, with ``job.id=<job_id>``."""
    args = [a for a in sys.argv[1:] if not a.startswith("job.id=")]
    return shlex.join(["bilancio", *(redact_override(a) for a in args), f"job.id={job_id}"])
