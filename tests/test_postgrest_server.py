"""The test PostgREST server is as strict as PostgREST 13 and Supabase's gateway where the store
could be affected (issue 12 item 7). Each expectation is PostgREST's documented behaviour
(docs.postgrest.org: "Tables and Views" → insert with ``columns``, ``Prefer: missing=default``;
"Errors" → PGRST102, PGRST204, PGRST205), sent with plain httpx so that no client smooths it.
"""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest

from bilancio.storage.supabase import SupabaseStore

from .conftest import ANON_KEY, SERVICE_KEY


def _client(server, key: str = SERVICE_KEY) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.url}/rest/v1",
        headers={"apikey": key, "Authorization": f"Bearer {key}"},
        timeout=30,
    )


JOB = {
    "job_id": "j1",
    "sweep_type": "balanced",
    "n_agents": 5,
    "maturity_days": 3,
    "kappas": [1.0],
    "concentrations": [1.0],
    "mus": [0.5],
}


def test_columns_name_what_is_written_and_other_keys_are_ignored(postgrest) -> None:
    with _client(postgrest) as c:
        body = [{**JOB, "description": "kept", "not_a_column": 1}]
        done = c.post(
            "/jobs?columns=job_id,sweep_type,n_agents,maturity_days,kappas,concentrations,mus",
            json=body,
        )
        assert done.status_code == 201, done.text
        (row,) = c.get("/jobs?select=job_id,description").json()
        assert row == {"job_id": "j1", "description": None}  # not in columns: not written


def test_missing_keys_take_the_default_only_when_asked(postgrest) -> None:
    with _client(postgrest) as c:
        columns = ",".join([*JOB, "status"])
        nulls = c.post(f"/jobs?columns={columns}", json=[JOB])  # status NOT NULL
        assert nulls.status_code == 400 and nulls.json()["code"] == "23502"
        done = c.post(f"/jobs?columns={columns}", json=[JOB], headers={"Prefer": "missing=default"})
        assert done.status_code == 201, done.text
        assert c.get("/jobs?select=status").json() == [{"status": "pending"}]  # the default


def test_objects_with_different_keys_need_columns(postgrest) -> None:
    with _client(postgrest) as c:
        done = c.post("/jobs", json=[JOB, {**JOB, "job_id": "j2", "description": "x"}])
        assert done.status_code == 400 and done.json()["code"] == "PGRST102"


def test_unknown_columns_and_tables_are_postgrests_own_errors(postgrest) -> None:
    with _client(postgrest) as c:
        column = c.post("/jobs", json={**JOB, "kapa": 1})
        assert column.status_code == 400 and column.json()["code"] == "PGRST204"
        assert "'kapa' column of 'jobs'" in column.json()["message"]
        table = c.get("/no_such_table")
        assert table.status_code == 404 and table.json()["code"] == "PGRST205"
        patch = c.patch("/jobs?job_id=eq.j1", json={"kapa": 2})
        assert patch.status_code == 400 and patch.json()["code"] == "PGRST204"


def test_an_unordered_get_comes_back_in_any_order(postgrest) -> None:
    with _client(postgrest) as c:
        assert c.post("/jobs", json=JOB).status_code == 201
        events = [{"job_id": "j1", "event_type": f"e{i:02d}"} for i in range(30)]
        assert c.post("/job_events?columns=job_id,event_type", json=events).status_code == 201
        orders = {
            tuple(e["event_type"] for e in c.get("/job_events?select=event_type").json())
            for _ in range(3)
        }
        assert len(orders) > 1  # the same order three times: chance 1 in (30!)^2
        ordered = c.get("/job_events?select=event_type&order=id").json()
        assert [e["event_type"] for e in ordered] == [e["event_type"] for e in events]


def test_the_gateway_limits_the_url_and_the_body(postgrest) -> None:
    with _client(postgrest) as c:
        long = c.get("/runs?run_id=in.(" + ",".join(["x" * 40] * 250) + ")")
        assert long.status_code == 414 and long.headers["content-type"] == "text/html"
        big = c.post("/job_events", content=b"[" + b" " * 1_000_001 + b"]")
        assert big.status_code == 413 and "<html>" in big.text


def test_a_5xx_html_page_is_retried_and_never_quoted(supabase_env) -> None:
    store = SupabaseStore()
    supabase_env.fail_next(502, count=2)
    assert store.list_jobs() == []  # two gateway pages, then the answer
    supabase_env.fail_next(503, count=10)
    with pytest.raises(Exception) as caught:
        SupabaseStore(retries=1).list_jobs()
    assert "503" in str(caught.value) and "<html>" not in str(caught.value)


@pytest.mark.parametrize(
    ("mode", "body"), [("gateway", {"message": "Invalid API key"}), ("gateway-empty", None)]
)
def test_the_gateway_refuses_unknown_keys_as_supabase_does(postgrest, mode, body) -> None:
    postgrest.auth_failure = mode
    with _client(postgrest, key="sb_secret_wrong") as c:
        done = c.get("/jobs")
    assert done.status_code == 401
    assert (done.json() if done.content else None) == body


@pytest.fixture
def legacy_grants(migrated_url):
    """Supabase's default privileges before 2026: anon and authenticated granted ALL on every
    table of public, so only row level security stands in the way of a write."""
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO anon")
        conn.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon")


def test_legacy_privileges_make_a_forbidden_update_a_silent_no_op(
    legacy_grants, postgrest, monkeypatch
) -> None:
    with _client(postgrest) as c:
        assert c.post("/jobs", json=JOB).status_code == 201
    with _client(postgrest, key=ANON_KEY) as c:
        done = c.patch(
            "/jobs?job_id=eq.j1",
            json={"status": "failed"},
            headers={"Prefer": "return=representation"},
        )
        assert done.status_code == 200 and done.json() == []  # nothing changed, no error
        insert = c.post("/job_events", json={"job_id": "j1", "event_type": "x"})
        assert insert.status_code in (401, 403) and insert.json()["code"] == "42501"
    # the health probe is not fooled: the anon key still cannot write
    monkeypatch.setenv("BILANCIO_SUPABASE_URL", postgrest.url)
    monkeypatch.delenv("BILANCIO_SUPABASE_SERVICE_KEY", raising=False)
    monkeypatch.setenv("BILANCIO_SUPABASE_ANON_KEY", ANON_KEY)
    assert SupabaseStore(write=False).probe()["can_write"] is False


def test_the_log_records_what_the_linter_needs(supabase_env) -> None:
    store = SupabaseStore()
    store.list_jobs()
    entry = supabase_env.log[-1]
    assert entry["method"] == "GET" and entry["table"] in ("jobs", "job_metrics")
    assert json.dumps(entry)  # plain data


def test_the_request_linter_finds_what_a_lenient_server_forgives(supabase_env, migrated_url):
    from postgrest.exceptions import APIError

    from bilancio.storage.supabase_client import get_supabase_client

    from .conftest import lint_requests

    client = get_supabase_client(write=True)
    try:
        client.table("jobs").select("*").range(0, 9).execute()  # a page, in no order
        client.table("jobs").select("*").order("created_at").range(0, 9).execute()  # not unique
        with pytest.raises(APIError):  # PostgreSQL refuses it too (42P10), on an empty table
            client.table("jobs").upsert([JOB], on_conflict="sweep_type").execute()
        client.table("jobs").select("*").order("job_id").range(0, 9).execute()  # fine
        problems = lint_requests(supabase_env, migrated_url)
    finally:
        supabase_env.log.clear()  # the fixture's own lint would fail this test otherwise
    assert len(problems) == 3, problems
    assert sum("paged without an order" in p for p in problems) == 2
    assert "on_conflict is no unique index" in problems[2]
