"""The deployment plan's sweep into PostgreSQL and into Supabase leaves the same rows as SQLite."""

from __future__ import annotations

import os
import subprocess

import pytest

from bilancio.storage import open_store

from .conftest import SERVICE_KEY
from .sweep_helpers import PLAN as BASE_PLAN
from .sweep_helpers import SCRIPT

PLAN = [*BASE_PLAN, "job.id=plan-sweep"]
VOLATILE = {"id", "created_at", "completed_at", "timestamp", "execution_time_ms", "code_version"}


def _comparable(store, table: str) -> list[dict]:
    from bilancio.rows import full_config

    jobs = {j["job_id"]: j["config"] for j in store.table("jobs")}
    out = []
    for row in store.table(table):
        row = {k: v for k, v in row.items() if k not in VOLATILE}
        if table == "runs":  # each store's run config is what differs from its own job row's
            config = full_config(row["config"], jobs[row["job_id"]])
            row["config"] = {k: v for k, v in config.items() if k != "storage"}
        if table == "jobs":
            row["overrides"] = [o for o in row["overrides"] if not o.startswith("storage")]
            row["config"] = {k: v for k, v in row["config"].items() if k != "storage"}
        out.append(row)
    return sorted(out, key=lambda r: (r.get("run_id") or "", r.get("event_type") or ""))


def test_same_rows_as_sqlite(migrated_url: str, tmp_path) -> None:
    env = {**os.environ, "BILANCIO_DATABASE_URL": migrated_url}
    pg = subprocess.run(
        [str(SCRIPT), *PLAN, "storage=postgres"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pg.returncode == 0, pg.stderr
    assert "postgres database" in pg.stdout
    lite = subprocess.run(
        [str(SCRIPT), *PLAN], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert lite.returncode == 0, lite.stderr
    a = open_store({"backend": "postgres", "url": migrated_url})
    b = open_store({"backend": "sqlite", "path": str(tmp_path / "bilancio.db")})
    for table in ("jobs", "runs", "metrics", "job_events", "job_metrics", "cell_metrics"):
        assert _comparable(a, table) == _comparable(b, table), table
    assert len(a.table("runs")) == 4 and len(a.table("metrics")) == 4
    assert len(a.table("cell_metrics")) == 2
    # the results API reads either, given a URL or a file
    from bilancio import results

    frames = [results.cells("plan-sweep", storage=w) for w in (migrated_url, b.path)]
    assert frames[0].equals(frames[1]) and list(frames[0].kappa) == [0.5, 1.0]
    pairs = [results.pairs("plan-sweep", storage=w) for w in (migrated_url, b.path)]
    assert pairs[0].equals(pairs[1]) and len(pairs[0]) == 2
    # the database URL is never stored with the results
    for table in ("jobs", "runs", "metrics", "job_events", "job_metrics"):
        assert migrated_url not in repr(a.table(table))
    # the sweep's closing hint works as printed: the read commands read PostgreSQL too
    assert "pairs: bilancio jobs show plan-sweep --postgres --pairs;" in pg.stdout
    for args in (
        ("jobs", "ls", "--postgres"),
        ("jobs", "show", "plan-sweep", "--postgres"),
        ("jobs", "export", "plan-sweep", "-o", "pg.csv", "--postgres"),
        ("jobs", "ls", "--postgres", migrated_url),
    ):
        read = subprocess.run(
            [str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert read.returncode == 0, (args, read.stderr)
        assert "plan-sweep" in read.stdout or args[1] == "export"
    assert (
        "job plan-sweep: completed"
        in subprocess.run(
            [str(SCRIPT), "jobs", "show", "plan-sweep", "--postgres"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        ).stdout
    )
    lite_csv = subprocess.run(
        [str(SCRIPT), "jobs", "export", "plan-sweep", "-o", "lite.csv"], cwd=tmp_path
    )
    assert lite_csv.returncode == 0
    assert (tmp_path / "pg.csv").read_text() == (tmp_path / "lite.csv").read_text()
    refused = subprocess.run(
        [str(SCRIPT), "jobs", "ls", "--db", migrated_url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "use --postgres" in refused.stderr


def test_supabase_same_rows_as_sqlite(supabase_env, tmp_path) -> None:
    env = {**os.environ}
    sb = subprocess.run(
        [str(SCRIPT), *PLAN, "storage=supabase"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sb.returncode == 0, sb.stderr
    assert "supabase database" in sb.stdout
    lite = subprocess.run(
        [str(SCRIPT), *PLAN], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert lite.returncode == 0, lite.stderr
    a = open_store({"backend": "supabase"})
    b = open_store({"backend": "sqlite", "path": str(tmp_path / "bilancio.db")})
    for table in ("jobs", "runs", "metrics", "job_events", "job_metrics", "cell_metrics"):
        assert _comparable(a, table) == _comparable(b, table), table
    for table in ("jobs", "runs", "metrics", "job_events", "job_metrics"):
        assert SERVICE_KEY not in repr(a.table(table))
    assert SERVICE_KEY not in sb.stdout + sb.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("postgres:@", "nosuchrole:@"), 'role "nosuchrole" does not exist'),
        (("?host=", "?sslmode=bogus&host="), 'invalid sslmode value: "bogus"'),
    ],
)
def test_a_connection_the_server_refuses_is_not_retried(migrated_url, tmp_path, change, expected):
    import time

    url = migrated_url.replace(*change)
    env = {**os.environ, "BILANCIO_DATABASE_URL": url}
    start = time.monotonic()
    proc = subprocess.run(
        [str(SCRIPT), "-m", "kappa=0.5,1", "n_agents=20", "storage=postgres"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "PostgreSQL refused the connection" in proc.stderr and expected in proc.stderr
    assert "not answering" not in proc.stderr  # said at once, not after retries
    assert time.monotonic() - start < 15
