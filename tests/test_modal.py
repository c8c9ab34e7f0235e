"""Sweeps on Modal, without network: the real modal_app module and the real launcher, with the
batches executed through the Modal functions' local path (the launcher's ``local`` executor,
its one seam) and results written to the Supabase test server over a real PostgreSQL."""

from __future__ import annotations

import os
import pickle
import re
import subprocess

import modal
import pytest

from bilancio.cloud import modal_app, worker
from bilancio.storage import open_store
from bilancio.sweep.job import JobSpec

from .conftest import ANON_KEY
from .sweep_helpers import SCRIPT, rows
from .test_storage import _job
from .test_sweep_postgres import PLAN, _comparable

LOCAL = ["+cloud=modal", "hydra.launcher.executor=local"]


def test_app_defines_the_three_functions_with_image_secret_timeout_retries() -> None:
    assert modal_app.APP_NAME == "bilancio" and modal_app.app.name == "bilancio"
    images = set()
    for name in ("run_simulation", "compute_aggregate_metrics", "health_check"):
        fn = getattr(modal_app, name)
        assert isinstance(fn, modal.Function)
        # modal_app.image, with the local package it adds mounted into the function
        images.add(id(fn._spec_.image))
        assert "module_name='bilancio'" in repr(fn._spec_.mounts)
        assert [repr(s) for s in fn._spec_.secrets] == ["modal.Secret.from_name('supabase')"]
    assert len(images) == 1
    assert modal_app.SECRET_NAME == "supabase"
    assert modal_app.FUNCTION_OPTIONS["run_simulation"] == {"timeout": 600, "retries": 2}
    assert (modal_app.PROJECT_DIR / "uv.lock").is_file()  # the image is built from it


@pytest.fixture
def base_config(hydra_restore_singletons) -> dict:
    return _config()


def test_payload_is_small(base_config) -> None:
    spec = JobSpec("20261126-000000-abcd", 12345, base_config, ("kappa=0.5", "mu=0.25"))
    assert len(pickle.dumps(worker.payload(spec))) <= 2048


def _config() -> dict:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from bilancio.config import register_configs

    register_configs()
    with initialize_config_module(version_base="1.3", config_module="bilancio.conf"):
        cfg = OmegaConf.to_container(compose(config_name="config"), resolve=True)
    cfg["n_agents"] = 20
    return cfg


def test_sweep_on_modal_writes_the_same_rows_to_supabase(supabase_env, tmp_path) -> None:
    proc = subprocess.run(
        [str(SCRIPT), *PLAN, *LOCAL],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    lite = subprocess.run(
        [str(SCRIPT), *PLAN], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert lite.returncode == 0, lite.stderr
    a = open_store({"backend": "supabase"})
    b = open_store({"backend": "sqlite", "path": str(tmp_path / "bilancio.db")})
    for table in ("runs", "metrics", "job_metrics"):
        assert _comparable(a, table) == _comparable(b, table), table


def test_storage_sqlite_gets_the_results_back(tmp_path) -> None:
    proc = subprocess.run(
        [str(SCRIPT), *PLAN, *LOCAL, "storage=sqlite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "bilancio.db"
    assert rows(db, "SELECT count(*) AS n FROM metrics")[0]["n"] == 4
    assert rows(db, "SELECT status FROM jobs")[0]["status"] == "completed"


def test_a_batch_run_twice_never_duplicates(supabase_env, base_config) -> None:
    store = open_store({"backend": "supabase"})
    store.create_job(_job("twice"))
    config = {**base_config, "storage": {"backend": "supabase", "path": "x", "url": None}}
    batch = [worker.payload(JobSpec("twice", n, {**config, "seed": n}, ())) for n in range(3)]
    first = modal_app.run_simulation.local(batch)
    again = modal_app.run_simulation.local(batch)  # a Modal retry of the same batch
    assert [r["outcome"]["status"] for r in first + again] == ["completed"] * 6
    assert len(store.table("runs")) == 6 and len(store.table("metrics")) == 6


def test_a_500_job_batch_is_one_request_per_table(supabase_env, base_config) -> None:
    # issue 12 item 4: one write per table per batch, and no rows sent back (return=minimal).
    # Before: 2 POSTs per job (1,000 for this batch), each answered with its rows.
    store = open_store({"backend": "supabase"})
    store.create_job(_job("big"))
    config = {**base_config, "n_agents": 3, "storage": {"backend": "supabase", "path": "x"}}
    batch = [worker.payload(JobSpec("big", n, {**config, "seed": n}, ())) for n in range(500)]
    supabase_env.traffic.clear()
    results = modal_app.run_simulation.local(batch)
    assert [r["outcome"]["status"] for r in results] == ["completed"] * 500
    writes = [t for t in supabase_env.traffic if t[0] == "POST"]
    tables = [path.split("?")[0].removeprefix("/rest/v1/") for _, path, _, _ in writes]
    # as few requests per table as bodies under 1 MB allow (a run row carries its config)
    body = {t: sum(w[2] for w, n in zip(writes, tables, strict=True) if n == t) for t in tables}
    for table in ("runs", "metrics"):  # greedy chunks: at most one more than the bare minimum
        least = -(-body[table] // 900_000)
        assert least <= tables.count(table) <= least + 1
    assert all(sent < 1_000_000 for _, _, sent, _ in writes)
    assert all(received == 0 for *_, received in writes)  # nothing but the status comes back
    assert len(store.table("runs")) == 1000 and len(store.table("metrics")) == 1000
    print(
        f"500-job batch: {len(writes)} requests, {sum(t[2] for t in writes)} bytes sent, "
        f"{sum(t[3] for t in writes)} bytes received"
    )


def test_reads_do_not_assume_the_servers_row_cap(supabase_env, base_config) -> None:
    # issue 12 item 5: a project may set PostgREST's max rows below or above Supabase's 1,000
    store = open_store({"backend": "supabase"})
    store.create_job(_job("capped"))
    config = {**base_config, "n_agents": 3, "storage": {"backend": "supabase", "path": "x"}}
    batch = [worker.payload(JobSpec("capped", n, {**config, "seed": n}, ())) for n in range(1300)]
    assert all(r["outcome"]["saved"] for r in modal_app.run_simulation.local(batch))
    for cap in (500, 1000, 10_000):  # one job written once, read under each cap
        supabase_env.max_rows = cap
        supabase_env.traffic.clear()
        assert len(store.job_runs("capped")) == 2600, cap
        assert len(store.completed_runs("capped")) == 2600, cap
        assert len(store.job_deltas("capped")) == 2600, cap
        counts = store.finish_job("capped", "completed", None)
        assert counts == {"completed": 2600, "failed": 0}, cap
        assert store.get_job("capped")["completed_runs"] == 2600, cap
        # every run of the job has its own hash (seed differs): 1,300 hashes, 2,600 runs
        hashes = set(store.completed_runs("capped").values())
        found = store.completed_by_hash(hashes)
        assert len(found) == 1300 and all(set(v) == {"passive", "active"} for v in found.values())
        # a page that could not be ordered by a unique key is never asked for (a count asks
        # for one row and reads the total from the header)
        gets = [path for method, path, *_ in supabase_env.traffic if method == "GET"]
        counts_only = re.compile(r"[?&]limit=1(&|$)")
        paged = [
            g for g in gets if ("/runs?" in g or "/metrics?" in g) and not counts_only.search(g)
        ]
        assert paged and all("run_id" in g.split("order=", 1)[-1] for g in paged if "order=" in g)
        assert all("order=" in g for g in paged), cap


def test_one_failing_job_in_a_batch_is_one_failed_run(supabase_env, base_config) -> None:
    store = open_store({"backend": "supabase"})
    store.create_job(_job("mixed"))
    config = {**base_config, "storage": {"backend": "supabase", "path": "x", "url": None}}
    batch = [
        worker.payload(JobSpec("mixed", 0, config, ())),
        worker.payload(JobSpec("mixed", 1, {**config, "kappa": -1.0}, ())),
    ]
    results = modal_app.run_simulation.local(batch)
    assert [r["outcome"]["status"] for r in results] == ["completed", "failed"]
    assert "kappa=-1.0" in results[1]["outcome"]["error"]
    failed = [r for r in store.table("runs") if r["status"] == "failed"]
    assert len(failed) == 2 and all("kappa" in r["error"] for r in failed)
    assert all(r["kappa"] == -1.0 for r in failed)  # the config's value, not a default


@pytest.mark.parametrize("failure", ["lost-batch", "broken-stream"])
def test_lost_batches_fail_their_jobs_and_the_sweep_goes_on(
    in_process, monkeypatch, capsys, tmp_path, failure
) -> None:
    from hydra_plugins.bilancio_modal_launcher import _core

    real = _core.LocalExecutor.map

    class Unpicklable(Exception):  # stands for an exception type unknown on this side
        def __reduce__(self):
            raise TypeError("cannot be unpickled here")

    def flaky(self, batches):
        for n, result in enumerate(real(self, batches)):
            if n == 1:
                if failure == "lost-batch":
                    yield TimeoutError("batch timed out after 600 s")
                    continue
                raise Unpicklable("remote error of an unknown type")
            yield result

    monkeypatch.setattr(_core.LocalExecutor, "map", flaky)
    code = in_process(
        "-m",
        "kappa=0.25,0.5,1,2",
        "n_agents=20",
        *LOCAL,
        "storage=sqlite",
        "hydra.launcher.batch_size=1",
    )
    out = capsys.readouterr().out
    assert code == 1
    db = tmp_path / "bilancio.db"
    statuses = rows(db, "SELECT job_num, status, error FROM runs ORDER BY job_num, regime")
    failed = {r["job_num"] for r in statuses if r["status"] == "failed"}
    assert 1 in failed and 0 not in failed
    assert all("batch failed on Modal" in r["error"] for r in statuses if r["status"] == "failed")
    assert "FAILED" in out
    assert rows(db, "SELECT n_pairs FROM job_metrics")[0]["n_pairs"] == 4 - len(failed)


def test_dry_run_submits_and_writes_nothing(tmp_path) -> None:
    proc = subprocess.run(
        [
            str(SCRIPT),
            "-m",
            "kappa=0.5,1,2",
            "mu=0,1",
            "n_agents=20",
            "+cloud=modal",
            "hydra.launcher.dry_run=true",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "dry run: 6 jobs in 1 batches" in proc.stdout
    assert "expected container time" in proc.stdout and "$" in proc.stdout
    assert not (tmp_path / "bilancio.db").exists()


def test_preflight_not_logged_in(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env["HOME"] = str(tmp_path)  # no ~/.modal.toml
    proc = subprocess.run(
        [str(SCRIPT), "-m", "kappa=0.5", "+cloud=modal", "storage=sqlite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2
    assert "not logged in to Modal" in proc.stderr and "modal token new" in proc.stderr
    assert not (tmp_path / "bilancio.db").exists()


def test_preflight_checks_this_shells_key_before_any_modal_app(
    supabase_env, in_process, monkeypatch, capsys
) -> None:
    # the anon key in this shell: the job row could not be written; said before the app starts
    monkeypatch.delenv("BILANCIO_SUPABASE_SERVICE_KEY")
    monkeypatch.setenv("BILANCIO_SUPABASE_ANON_KEY", ANON_KEY)
    started = []
    monkeypatch.setattr(worker, "health", lambda: started.append(1) or _real_health())
    assert in_process("-m", "kappa=0.5", *LOCAL) == 2
    err = capsys.readouterr().err
    assert "BILANCIO_SUPABASE_SERVICE_KEY" in err and "anon key can only read" in err
    assert started == []  # the remote health check never ran


def _secret(**env: str | None):
    """worker.health as run in a container whose secret holds ``env`` (None: absent)."""

    def put(values: dict[str, str | None]) -> None:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def health() -> dict:
        saved = {k: os.environ.get(k) for k in env}
        try:
            put(env)
            return _real_health()
        finally:
            put(saved)

    return health


def test_preflight_secret_that_cannot_write(supabase_env, in_process, monkeypatch, capsys) -> None:
    # the seed plan's secret: the URL and the anon key only
    read_only = _secret(BILANCIO_SUPABASE_SERVICE_KEY=None, BILANCIO_SUPABASE_ANON_KEY=ANON_KEY)
    monkeypatch.setattr(worker, "health", read_only)
    assert in_process("-m", "kappa=0.5", *LOCAL) == 2
    err = capsys.readouterr().err
    assert "lacks BILANCIO_SUPABASE_URL or a key" not in err
    assert "cannot write" in err and "modal secret create supabase --force" in err


@pytest.mark.parametrize("gateway", ["postgrest", "gateway", "gateway-empty"])
def test_a_wrong_or_revoked_key_is_said_to_be_one(
    supabase_env, in_process, monkeypatch, capsys, gateway: str
) -> None:
    """Three ways a project refuses a key: PostgREST's 401 PGRST301, Supabase's gateway with
    {"message": "Invalid API key"} and no code (legacy keys), and an empty 401 (sb_secret_)."""
    supabase_env.auth_failure = gateway
    wrong = _secret(BILANCIO_SUPABASE_SERVICE_KEY="sb_secret_REVOKED0123456789")
    monkeypatch.setattr(worker, "health", wrong)
    assert in_process("-m", "kappa=0.5", *LOCAL) == 2
    err = capsys.readouterr().err
    assert "refused the key in the Modal secret supabase's BILANCIO_SUPABASE_SERVICE_KEY" in err
    assert "wrong or revoked" in err and "modal secret create supabase --force" in err
    assert "bilancio db sql" not in err and "REVOKED" not in err
    # the same key in this shell: named as this shell's, before anything remote
    monkeypatch.setenv("BILANCIO_SUPABASE_SERVICE_KEY", "sb_secret_REVOKED0123456789")
    assert in_process("-m", "kappa=0.5", *LOCAL) == 2
    err = capsys.readouterr().err
    assert "refused the key in this shell's BILANCIO_SUPABASE_SERVICE_KEY" in err
    assert "REVOKED" not in err


def test_preflight_missing_tables(postgres_url, monkeypatch, tmp_path) -> None:
    from .conftest import SERVICE_KEY
    from .postgrest_server import PostgrestServer

    with PostgrestServer(postgres_url, {SERVICE_KEY: "postgres"}) as server:
        env = {
            **os.environ,
            "BILANCIO_SUPABASE_URL": server.url,
            "BILANCIO_SUPABASE_SERVICE_KEY": SERVICE_KEY,
        }
        proc = subprocess.run(
            [str(SCRIPT), "-m", "kappa=0.5", *LOCAL],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert proc.returncode == 2
    assert "bilancio db sql" in proc.stderr
    assert "migrations not applied: 001_initial_schema.sql" in proc.stderr


def test_health_names_every_migration_not_applied(supabase_env, migrated_url) -> None:
    # issue 12 item 6: the probe looked at one column of one migration (003) and missed 005
    import psycopg

    assert worker.health()["migrations_applied"] is True
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("DELETE FROM bilancio_migrations WHERE name = '005_reused_runs.sql'")
    report = worker.health()
    assert report["migrations_applied"] is False
    assert report["migrations_missing"] == ["005_reused_runs.sql"]


def test_compute_aggregate_metrics_and_health_check(supabase_env, migrated_url, tmp_path) -> None:
    proc = subprocess.run(
        [str(SCRIPT), "-m", "kappa=0.5,1", "n_agents=20", "job.id=agg", "storage=supabase"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    store = open_store({"backend": "supabase"})
    expected = store.get_job("agg")["job_metrics"]
    local_cells = store.job_cells("agg")  # written by the local callback
    import psycopg

    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("DELETE FROM cell_metrics WHERE job_id = 'agg'")
    assert store.job_cells("agg") == []
    row = modal_app.compute_aggregate_metrics.local("agg")
    assert row["n_pairs"] == 2
    assert row["mean_trading_effect"] == pytest.approx(expected["mean_trading_effect"])
    cells = store.job_cells("agg")  # written again, by the function, next to job_metrics
    assert len(cells) == len(local_cells) == 2
    for mine, theirs in zip(cells, local_cells, strict=True):
        assert mine["cell_id"] == theirs["cell_id"] and mine["n"] == 1
        assert mine["mean_effect"] == theirs["mean_effect"]
    report = modal_app.health_check.local()
    assert report["can_write"] is True and report["migrations_applied"] is True
    assert report["secret_keys_present"] == [
        "BILANCIO_SUPABASE_URL",
        "BILANCIO_SUPABASE_SERVICE_KEY",
    ]
    assert report["model_version"] and report["package_version"]
    assert all("KEY-" not in str(v) for v in report.values())  # names only, never values


def test_deployed_mode_refuses_another_code_version(
    in_process, monkeypatch, capsys, tmp_path
) -> None:
    from bilancio.sweep.records import code_version

    deployed = ["storage=sqlite", "hydra.launcher.mode=deployed"]
    # the same code deployed: the check passes, and the job says which code computed it
    assert in_process("-m", "kappa=0.5", *LOCAL, *deployed, "job.id=same") == 0
    monkeypatch.setattr(worker, "health", lambda: {**_real_health(), "code_version": "0.1.0"})
    code = in_process("-m", "kappa=0.5", *LOCAL, *deployed, "job.id=other")
    assert code == 2
    err = capsys.readouterr().err
    assert "deployed app runs bilancio 0.1.0" in err and "modal deploy" in err
    code = in_process(
        "-m",
        "kappa=0.5",
        *LOCAL,
        *deployed,
        "hydra.launcher.allow_version_mismatch=true",
        "job.id=allowed",
    )
    assert code == 0
    versions = rows(tmp_path / "bilancio.db", "SELECT job_id, code_version FROM jobs ORDER BY 1")
    # the deployed app's version, not this checkout's: the deployed code computed the runs
    assert versions == [
        {"job_id": "allowed", "code_version": "0.1.0"},
        {"job_id": "same", "code_version": code_version()},
    ]


_REAL_HEALTH = worker.health


def _real_health() -> dict:
    return _REAL_HEALTH()


@pytest.mark.live
def test_health_check_on_modal() -> None:
    """Needs a Modal account (`modal token new`) and the `supabase` secret; run with --live."""
    with modal_app.app.run():
        report = modal_app.health_check.remote()
    assert report["can_write"]


def test_preflight_secret_with_a_url_nobody_answers(
    supabase_env, in_process, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(worker, "health", _secret(BILANCIO_SUPABASE_URL="http://127.0.0.1:9"))
    assert in_process("-m", "kappa=0.5", *LOCAL) == 2
    err = capsys.readouterr().err
    assert "the workers cannot reach Supabase" in err and "Supabase unreachable after" in err
    assert "Traceback" not in err
