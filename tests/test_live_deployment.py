"""The deployment plan's five steps against a real Modal account and Supabase project.

Skipped unless ``--live`` is given (``uv run pytest --live tests/test_live_deployment.py``). It
needs what docs/cloud.md's runbook sets up: a Modal token (``modal token new``), the Modal
secret ``supabase``, and in this shell ``BILANCIO_SUPABASE_URL`` with
``BILANCIO_SUPABASE_SERVICE_KEY``. It deploys the app ``bilancio`` to your Modal workspace and
writes one small job (2 pairs) to your Supabase project; the Modal cost is well under a cent.
The steps run in order, as the runbook gives them; a failing step stops the rest.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.live
REPO = Path(__file__).resolve().parents[1]
SWEEP = ["-m", "kappa=0.5,1.0", "n_agents=20", "maturity_days=5", "seed=1", "+cloud=modal"]


def _run(*args: str, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["uv", "run", "--project", str(REPO), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(done.stdout[-4000:], done.stderr[-4000:])
    return done


@pytest.fixture(scope="module")
def state() -> dict:
    for name in ("BILANCIO_SUPABASE_URL", "BILANCIO_SUPABASE_SERVICE_KEY"):
        if not os.environ.get(name):
            pytest.fail(f"{name} must be set in this shell (docs/cloud.md, step 3)")
    return {}


def test_step_1_the_tables_exist(state) -> None:
    from bilancio.storage.migrations import migrations
    from bilancio.storage.supabase import SupabaseStore

    applied = {r["name"] for r in SupabaseStore(write=False).table("bilancio_migrations")}
    assert applied >= {m.name for m in migrations()}, "run `bilancio db sql` in the SQL editor"
    SupabaseStore(write=False).table("job_metrics")  # the deployment plan's table answers


def test_step_2_the_modal_secret_exists(state) -> None:
    done = _run("modal", "secret", "list")
    assert done.returncode == 0, done.stderr
    assert re.search(r"\bsupabase\b", done.stdout), "create it: docs/cloud.md, step 3"


def test_step_3_deploy_shows_three_functions(state) -> None:
    done = _run("modal", "deploy", "bilancio/cloud/modal_app.py")
    assert done.returncode == 0, done.stderr
    for name in ("run_simulation", "compute_aggregate_metrics", "health_check"):
        assert name in done.stdout + done.stderr


def test_step_4_a_test_sweep_runs_on_the_deployed_app(state, tmp_path: Path) -> None:
    done = _run("bilancio", *SWEEP, "hydra.launcher.mode=deployed", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = re.search(r"job (\d{8}-\d{6}-[a-z0-9]{4})", done.stdout + done.stderr)
    assert found, "the sweep names its job"
    state["job_id"] = found.group(1)


def test_step_5_the_job_is_in_supabase(state) -> None:
    job_id = state.get("job_id")
    if not job_id:
        pytest.fail("step 4 did not run")
    listed = _run("bilancio", "jobs", "ls", "--cloud")
    assert listed.returncode == 0 and job_id in listed.stdout
    from bilancio.storage.supabase_client import get_supabase_client

    client = get_supabase_client()  # the deployment plan's snippet
    result = (
        client.table("job_metrics").select("*").order("created_at", desc=True).limit(5).execute()
    )
    rows = {row["job_id"]: row for row in result.data}
    assert job_id in rows and rows[job_id]["n_pairs"] == 2
