"""bilancio 0.1's ``sweep balanced`` command line still works, as the equivalent Hydra sweep."""

from __future__ import annotations

import os
import subprocess

from bilancio.cli.compat import overrides_for
from bilancio.storage import open_store

from .sweep_helpers import SCRIPT, rows

DEPLOYMENT_PLAN = [
    "sweep",
    "balanced",
    "--cloud",
    "--out-dir",
    "out/experiments/test-metrics",
    "--n-agents",
    "50",
    "--maturity-days",
    "10",
    "--kappas",
    "0.5,1.0",
    "--concentrations",
    "1.0",
    "--mus",
    "0.5",
    "--outside-mid-ratios",
    "1.0",
]


def test_flags_map_to_overrides() -> None:
    assert overrides_for(DEPLOYMENT_PLAN[1:]) == [
        "-m",
        "n_agents=50",
        "maturity_days=10",
        "kappa=0.5,1.0",
        "concentration=1.0",
        "mu=0.5",
        "outside_mid_ratio=1.0",
        "+cloud=modal",
        "hydra.sweep.dir=out/experiments/test-metrics",
    ]
    assert overrides_for(
        [
            "balanced",
            "--q-total",
            "1000",
            "--face-value",
            "10",
            "--base-seed",
            "7",
            "--default-handling",
            "expel-agent",
            "--job-id",
            "j",
        ]
    ) == [
        "-m",
        "q_total=1000",
        "face_value=10",
        "seed=7",
        "default_handling=expel-agent",
        "job.id=j",
    ]


def test_local_sweep_into_out_dir(tmp_path) -> None:
    proc = subprocess.run(
        [str(SCRIPT), *[a for a in DEPLOYMENT_PLAN if a != "--cloud"]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("bilancio -m n_agents=50 maturity_days=10 kappa=0.5,1.0")
    db = tmp_path / "out/experiments/test-metrics/bilancio.db"
    assert rows(db, "SELECT count(*) AS n FROM metrics")[0]["n"] == 4
    assert (tmp_path / "out/experiments/test-metrics/multirun.yaml").is_file()


def test_the_deployment_plan_command_runs_as_written(supabase_env, tmp_path) -> None:
    # --cloud means +cloud=modal; the launcher's local executor stands in for Modal's cloud
    proc = subprocess.run(
        [str(SCRIPT), *DEPLOYMENT_PLAN, "hydra.launcher.executor=local"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    assert "+cloud=modal" in proc.stderr.splitlines()[0]
    store = open_store({"backend": "supabase"})
    assert len(store.table("metrics")) == 4 and len(store.table("job_metrics")) == 1
