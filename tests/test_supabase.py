"""The Supabase store's promises, through the real supabase client and the test server
(tests/postgrest_server.py: a PostgREST-compatible server over a real PostgreSQL, with the anon
and service keys mapped to the roles that row level security checks)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import textwrap

import pytest
from postgrest.exceptions import APIError

from bilancio.storage import JobBusy, StoreError
from bilancio.storage.supabase import SupabaseStore
from bilancio.storage.supabase_client import get_supabase_client

from .conftest import ANON_KEY, SERVICE_KEY
from .sweep_helpers import SCRIPT
from .test_storage import _job, _metrics, _run


def _sweep(tmp_path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "-m", "kappa=0.5,1.0", "n_agents=20", "storage=supabase", *extra],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )


def test_deployment_plan_snippet_runs_unchanged(supabase_env, tmp_path) -> None:
    assert _sweep(tmp_path, "job.id=snippet-job").returncode == 0
    snippet = textwrap.dedent("""
        from bilancio.storage.supabase_client import get_supabase_client
        client = get_supabase_client()
        result = client.table('job_metrics').select('*').order('created_at', desc=True).limit(5).execute()
        for row in result.data:
            print(f"{row['job_id']}: mean_effect={row['mean_trading_effect']}, +={row['positive_effects']}, -={row['negative_effects']}")
    """)
    proc = subprocess.run(
        [os.sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("snippet-job: mean_effect=")
    listing = subprocess.run(
        [str(SCRIPT), "jobs", "ls", "--cloud"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert "snippet-job" in listing.stdout and "4/0/4" in listing.stdout


def test_anon_key_reads_but_cannot_write(supabase_env, monkeypatch) -> None:
    SupabaseStore().create_job(_job("j1"))
    monkeypatch.delenv("BILANCIO_SUPABASE_SERVICE_KEY")
    monkeypatch.setenv("BILANCIO_SUPABASE_ANON_KEY", ANON_KEY)
    client = get_supabase_client()
    assert [r["job_id"] for r in client.table("jobs").select("job_id").execute().data] == ["j1"]
    with pytest.raises(APIError) as denied:
        client.table("jobs").insert(
            {
                "job_id": "x",
                "sweep_type": "b",
                "n_agents": 1,
                "kappas": [1],
                "concentrations": [1],
                "mus": [1],
            }
        ).execute()
    assert denied.value.code == "42501"
    for attempt in (
        client.table("jobs").update({"notes": "hacked"}).eq("job_id", "j1"),
        client.table("jobs").delete().eq("job_id", "j1"),
    ):
        with pytest.raises(APIError) as denied:
            attempt.execute()
        assert denied.value.code == "42501"
    rows = client.table("jobs").select("*").execute().data
    assert len(rows) == 1 and rows[0]["notes"] is None  # RLS: nothing changed, nothing deleted
    with pytest.raises(StoreError, match="needs BILANCIO_SUPABASE_SERVICE_KEY"):
        SupabaseStore(write=True)
    read_only = SupabaseStore(write=False)
    assert read_only.get_job("j1")["job_id"] == "j1"
    with pytest.raises(StoreError, match="refused") as refused:
        read_only.add_event("j1", "created", {})
    assert ANON_KEY not in str(refused.value)


def test_writes_are_batched_and_idempotent(supabase_env) -> None:
    store = SupabaseStore()
    store.create_job(_job("batch"))
    runs = [_run("batch", n, r) for n in range(300) for r in ("passive", "active")]
    metrics = [_metrics("batch", n, r, 0.5) for n in range(300) for r in ("passive", "active")]
    before = len(supabase_env.requests)
    store.save_runs(runs, metrics)
    writes = supabase_env.requests[before:]
    assert [m for m, _ in writes] == ["POST", "POST"]  # one request per table, 600 rows each
    store.save_runs(runs, metrics)
    assert len(store.table("runs")) == 600 and len(store.table("metrics")) == 600


def test_reads_page_past_the_1000_row_cap(supabase_env) -> None:
    store = SupabaseStore()
    store.create_job(_job("big"))
    n = 1300
    store.save_runs([_run("big", k, r) for k in range(n) for r in ("passive", "active")], [])
    runs = store.job_runs("big")
    assert len(runs) == 2 * n
    assert [r["job_num"] for r in runs[::2]] == list(range(n))
    assert len(store.completed_runs("big")) == 2 * n


def test_constraint_violations_are_not_retried(supabase_env) -> None:
    store = SupabaseStore()
    before = len(supabase_env.requests)
    with pytest.raises(StoreError, match="refused"):
        store.save_runs([_run("no-such-job", 0, "passive")], [])  # foreign key violation
    assert len(supabase_env.requests) - before == 1


def test_transient_failures_are_retried(supabase_env, monkeypatch) -> None:
    store = SupabaseStore()
    store.create_job(_job("flaky"))
    real = supabase_env.database_url
    calls = {"n": 0}
    import tests.postgrest_server as server_module

    original = server_module._execute

    def flaky(url, *args):
        calls["n"] += 1
        if calls["n"] <= 2:  # the database is briefly unreachable
            return original("postgresql://nobody@127.0.0.1:1/none", *args)
        return original(url, *args)

    monkeypatch.setattr(server_module, "_execute", flaky)
    store.add_event("flaky", "started", {})
    assert calls["n"] == 3
    assert real == supabase_env.database_url
    assert [e["event_type"] for e in store.get_job("flaky")["events"]] == ["started"]


def test_retries_are_counted_once(supabase_env, monkeypatch) -> None:
    """The store's attempts are the only retries: postgrest-py would otherwise retry each GET
    that meets a 503 three more times (1 + 2 + 4 s), inside every one of the store's attempts."""
    import tests.postgrest_server as server_module

    store = SupabaseStore(retries=2)
    original = server_module._execute

    def down(url, *args):  # PostgREST without its database: 503 PGRST001 on every request
        return original("postgresql://nobody@127.0.0.1:1/none", *args)

    monkeypatch.setattr(server_module, "_execute", down)
    before = len(supabase_env.requests)
    with pytest.raises(StoreError, match="after 3 attempts"):
        store.job_lease("anything")  # a GET
    assert len(supabase_env.requests) - before == 3  # 1 + the store's 2 retries, no more


def _answer_lost_after_commit(monkeypatch, table: str) -> dict[str, int]:
    """The first POST to ``table`` is committed, then its answer is lost: the caller gets a
    504, as from a gateway that timed out waiting for the database's reply."""
    import tests.postgrest_server as server_module

    original = server_module._execute
    seen = {"posts": 0}

    def lossy(url, role, method, name, *args):
        result = original(url, role, method, name, *args)
        if method == "POST" and name == table:
            seen["posts"] += 1
            if seen["posts"] == 1:
                raise server_module._Error(504, "504", "Gateway Timeout")
        return result

    monkeypatch.setattr(server_module, "_execute", lossy)
    return seen


def test_a_retried_event_is_stored_once(supabase_env, monkeypatch) -> None:
    store = SupabaseStore()
    store.create_job(_job("lost-answer"))
    seen = _answer_lost_after_commit(monkeypatch, "job_events")
    store.add_event("lost-answer", "started", {"pairs": 2})
    events = [e["event_type"] for e in store.get_job("lost-answer")["events"]]
    assert events == ["started"]  # not twice
    assert seen["posts"] == 1  # the retry found the row instead of inserting it again


def test_a_retried_job_creation_is_not_taken_for_another_process(supabase_env, monkeypatch) -> None:
    store = SupabaseStore()
    _answer_lost_after_commit(monkeypatch, "jobs")
    job = dataclasses.replace(_job("lost-create"), lease_owner="host:123:abcd")
    assert store.create_job(job) is True  # created (by the first attempt), not JobBusy
    assert store.job_lease("lost-create")["lease_owner"] == "host:123:abcd"
    other = dataclasses.replace(_job("lost-create"), lease_owner="elsewhere:9:ffff")
    with pytest.raises(JobBusy):  # a real second creator is still refused
        SupabaseStore().create_job(other)


def test_keys_never_appear_in_output_or_rows(supabase_env, tmp_path) -> None:
    proc = _sweep(tmp_path, "job.id=secret-check")
    assert proc.returncode == 0, proc.stderr
    assert SERVICE_KEY not in proc.stdout + proc.stderr
    store = SupabaseStore()
    for table in ("jobs", "runs", "metrics", "job_events", "job_metrics"):
        assert SERVICE_KEY not in repr(store.table(table))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SERVICE_KEY not in path.read_text(errors="replace"), path
    # a refused key: the error names the problem, not the key
    env = {**os.environ, "BILANCIO_SUPABASE_SERVICE_KEY": "service-WRONGKEY-123"}
    bad = subprocess.run(
        [str(SCRIPT), "-m", "kappa=0.5", "storage=supabase"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode != 0
    assert "WRONGKEY" not in bad.stdout + bad.stderr
    assert "No suitable key" in bad.stderr
