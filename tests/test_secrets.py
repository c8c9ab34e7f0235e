"""No secret in any output, traceback, file or row, whatever the input.

A recognisable password and a recognisable key are sent through every path a user can take —
the SQLite store (given a URL it does not need), a real PostgreSQL (the password is in the URL
the sweep, ``db migrate`` and ``db status`` use), a malformed URL that cannot even be parsed, a
Supabase gateway whose error bodies echo the request's headers, a failing run and a bug whose
traceback carries the URL — and then everything is searched: stdout, stderr, every file under
the working folder (the database file and its WAL included, Hydra's multirun folder), every row
of every table, ``jobs show``/``ls --json``/``export`` and ``rerun``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from .conftest import ANON_KEY, SERVICE_KEY
from .sweep_helpers import SCRIPT

PASSWORD = "SECRETPW-5c1e9b7a"
TABLES = ("jobs", "runs", "metrics", "job_events", "job_metrics")


def _run(*args: str, cwd: Path, env: dict | None = None, script: str | None = None):
    command = [sys.executable, "-c", script, *args] if script else [str(SCRIPT), *args]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env or dict(os.environ)
    )


def _leaks(secret: str, folder: Path, *outputs: str) -> list[str]:
    found = [f"output #{i}" for i, text in enumerate(outputs) if secret in text]
    for path in folder.rglob("*"):
        if path.is_file() and secret.encode() in path.read_bytes():
            found.append(str(path.relative_to(folder)))
    return found


def _pg_leaks(url: str, secret: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            table
            for table in TABLES
            if conn.execute(
                f"SELECT count(*) FROM {table} t WHERE t::text LIKE %s", (f"%{secret}%",)
            ).fetchone()[0]
        ]


def test_a_url_given_to_the_sqlite_store_is_never_stored_or_shown(tmp_path: Path) -> None:
    url = f"postgresql://analyst:{PASSWORD}@db.example.org:5432/results"
    outputs = []
    for args in (
        ("-m", "kappa=0.5,1", "n_agents=20", "job.id=secret", f"storage.url={url}"),
        ("jobs", "show", "secret"),
        ("jobs", "show", "secret", "--json"),
        ("jobs", "ls", "--json"),
        ("jobs", "export", "secret", "-o", "pairs.csv"),
        ("rerun", "secret", f"storage.url={url}"),
        ("kappa=0.5", "n_agents=20", f"storage.url={url}"),  # one pair, printed
    ):
        proc = _run(*args, cwd=tmp_path)
        assert proc.returncode == 0, (args, proc.stderr)
        outputs += [proc.stdout, proc.stderr]
    assert "storage.url=<redacted>" in (tmp_path / "bilancio.db").read_bytes().decode(
        errors="replace"
    )
    assert list(tmp_path.rglob("multirun.yaml")) and list(tmp_path.rglob("overrides.yaml"))
    assert _leaks(PASSWORD, tmp_path, *outputs) == []


def test_a_password_in_a_postgresql_url_goes_nowhere(postgres_url: str, tmp_path: Path) -> None:
    # the test server trusts local connections, so a URL with a password works as given
    url = postgres_url.replace("postgres:@", f"postgres:{PASSWORD}@")
    assert PASSWORD in url
    outputs = []
    for args in (
        ("db", "status", "--url", url),
        ("db", "migrate", "--url", url),
        ("db", "status", "--url", url),
        # the URL holds '=' (?host=...), so Hydra needs it quoted
        (
            "-m",
            "kappa=0.5,1",
            "n_agents=20",
            "storage=postgres",
            f"storage.url='{url}'",
            "job.id=pw",
        ),
        ("rerun", "pw", "storage=postgres", f"storage.url='{url}'"),
    ):
        proc = _run(*args, cwd=tmp_path)
        assert proc.returncode == 0, (args, proc.stderr)
        outputs += [proc.stdout, proc.stderr]
    env = {**os.environ, "BILANCIO_DATABASE_URL": url}
    proc = _run(
        "-m", "kappa=2", "n_agents=20", "storage=postgres", "job.id=env", cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    outputs += [proc.stdout, proc.stderr]
    assert _leaks(PASSWORD, tmp_path, *outputs) == []
    assert _pg_leaks(postgres_url, PASSWORD) == []
    with psycopg.connect(postgres_url) as conn:
        (overrides,) = conn.execute(
            "SELECT overrides::text FROM jobs WHERE job_id = 'pw'"
        ).fetchone()
    assert "storage.url=<redacted>" in overrides


@pytest.mark.parametrize(
    "url",
    [
        f"postgres://u:{PASSWORD}@[::1/db",  # an IPv6 host that is never closed
        f"postgresql://u:{PASSWORD}@host:notaport/db",
        f"postgresql://u:{PASSWORD}@127.0.0.1:1/none",  # well-formed, nobody listening
        f"host=127.0.0.1 port=1 user=u password={PASSWORD}",  # a libpq key=value string
    ],
)
def test_a_malformed_or_unreachable_url_is_reported_without_its_password(
    url: str, tmp_path: Path
) -> None:
    outputs = []
    for args in (
        ("db", "status", "--url", url),
        ("db", "migrate", f"--url={url}"),
        ("-m", "kappa=0.5,1", "n_agents=20", "storage=postgres", f"storage.url={url}"),
    ):
        proc = _run(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith("bilancio: ")
        outputs += [proc.stdout, proc.stderr]
    env = {**os.environ, "BILANCIO_DATABASE_URL": url}
    proc = _run("-m", "kappa=0.5", "n_agents=20", "storage=postgres", cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    outputs += [proc.stdout, proc.stderr]
    assert _leaks(PASSWORD, tmp_path, *outputs) == []


def test_an_api_error_that_echoes_the_request_headers(postgres_url, tmp_path: Path) -> None:
    from .postgrest_server import PostgrestServer

    keys = {ANON_KEY: "anon", SERVICE_KEY: "service_role"}
    # no tables (nothing migrated): every request fails, and the error echoes the key
    with PostgrestServer(postgres_url, keys, echo_headers=True) as server:
        env = {
            **os.environ,
            "BILANCIO_SUPABASE_URL": server.url,
            "BILANCIO_SUPABASE_SERVICE_KEY": SERVICE_KEY,
            "BILANCIO_SUPABASE_ANON_KEY": ANON_KEY,
        }
        sweep = _run("-m", "kappa=0.5,1", "n_agents=20", "storage=supabase", cwd=tmp_path, env=env)
        listing = _run("jobs", "ls", "--cloud", cwd=tmp_path, env=env)
    assert sweep.returncode == 2 and listing.returncode == 2
    assert "request headers" in sweep.stderr  # the echo reached the message...
    for secret in (SERVICE_KEY, ANON_KEY):  # ...with the keys masked
        assert (
            _leaks(secret, tmp_path, sweep.stdout, sweep.stderr, listing.stdout, listing.stderr)
            == []
        )


BUG = """
import os, sys
from bilancio import cli
from bilancio.sweep import job, orchestrate

def exploding_pair(params):
    raise RuntimeError("model failed while talking to " + os.environ["BILANCIO_DATABASE_URL"])

def buggy_finish(self):
    raise RuntimeError("a bug; the URL was " + os.environ["BILANCIO_DATABASE_URL"])

if sys.argv[1] == "run":
    job._run_pair = exploding_pair
else:
    orchestrate.Sweep._finish = buggy_finish
sys.argv = ["bilancio", "-m", "kappa=0.5,1", "n_agents=20", "job.id=bug-" + sys.argv[1]]
cli.main()
"""


@pytest.mark.parametrize("where", ["run", "orchestrator"])
def test_errors_and_tracebacks_carry_no_secret(where: str, tmp_path: Path) -> None:
    url = f"postgresql://analyst:{PASSWORD}@db.example.org/results"
    env = {**os.environ, "BILANCIO_DATABASE_URL": url}
    proc = _run(where, cwd=tmp_path, env=env, script=BUG)
    assert proc.returncode == 1, proc.stderr
    if where == "orchestrator":
        assert "Traceback" in proc.stderr and "a bug; the URL was" in proc.stderr
    else:
        assert "model failed while talking to" in proc.stdout + proc.stderr
    assert _leaks(PASSWORD, tmp_path, proc.stdout, proc.stderr) == []
    if where == "run":  # the list of failed pairs keeps its shape
        assert "  #0 [kappa=0.5 n_agents=20 job.id=bug-run]: RuntimeError" in proc.stdout
    shown = _run("jobs", "show", f"bug-{where}", cwd=tmp_path)
    assert shown.returncode == 0 and PASSWORD not in shown.stdout
    assert "failed" in shown.stdout
