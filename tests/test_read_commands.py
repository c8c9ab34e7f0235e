"""Read commands never destroy or invent: no file emptied, no database created, no comparison
claimed that was not made, and a database written by an older bilancio is upgraded in place or
refused with a message — never a traceback.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bilancio.sweep import job as job_module

from .sweep_helpers import bilancio, rows

SMALL = ["-m", "kappa=0.5,1", "n_agents=20", "maturity_days=5"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("read")
    assert bilancio(*SMALL, "job.id=done", cwd=where).returncode == 0
    return where


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_without_plotly_leaves_an_existing_file_alone(swept: Path) -> None:
    keep = swept / "keep.html"
    keep.write_text("<p>last week's report</p>\n")
    # plotly made unimportable, as in an install without the report extra
    script = (
        "import sys; sys.modules['plotly'] = None; from bilancio.cli import main; "
        "sys.argv = ['bilancio', 'report', 'done', '-o', 'keep.html']; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=swept, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "needs plotly" in proc.stderr and "bilancio[report]" in proc.stderr
    assert keep.read_text() == "<p>last week's report</p>\n"


def test_report_and_export_create_a_missing_folder_and_replace_files_whole(swept: Path) -> None:
    proc = bilancio("report", "done", "-o", "out/new/report.html", cwd=swept)
    assert proc.returncode == 0, proc.stderr
    assert (swept / "out/new/report.html").read_text().startswith("<!doctype html>")
    proc = bilancio("jobs", "export", "done", "-o", "out/csv/pairs.csv", cwd=swept)
    assert proc.returncode == 0, proc.stderr
    assert len((swept / "out/csv/pairs.csv").read_text().splitlines()) == 3
    before = _digest(swept / "out/new/report.html")
    proc = bilancio("report", "no-such-job", "-o", "out/new/report.html", cwd=swept)
    assert proc.returncode == 2 and "no job 'no-such-job'" in proc.stderr
    assert _digest(swept / "out/new/report.html") == before
    assert sorted(p.name for p in (swept / "out/new").iterdir()) == ["report.html"]  # no scraps


def test_outputs_keep_links_devices_and_permissions(swept: Path) -> None:
    import os
    import stat

    (swept / "target.csv").write_text("old\n")
    (swept / "link.csv").symlink_to("target.csv")
    (swept / "shared.html").write_text("old\n")
    os.chmod(swept / "shared.html", 0o644)
    assert bilancio("jobs", "export", "done", "-o", "link.csv", cwd=swept).returncode == 0
    assert (swept / "link.csv").is_symlink()  # still a link, and the file it names is new
    assert (swept / "target.csv").read_text().startswith("kappa,")
    assert bilancio("report", "done", "-o", "shared.html", cwd=swept).returncode == 0
    assert stat.S_IMODE((swept / "shared.html").stat().st_mode) == 0o644
    assert bilancio("report", "done", "-o", "fresh.html", cwd=swept).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((swept / "fresh.html").stat().st_mode) == 0o666 & ~umask
    # a device is written to, never replaced by a regular file
    proc = bilancio("jobs", "export", "done", "-o", "/dev/null", cwd=swept)
    assert proc.returncode == 0 and Path("/dev/null").is_char_device()
    proc = bilancio("jobs", "export", "done", "-o", "/dev/stdout", cwd=swept)
    assert proc.returncode == 0 and proc.stdout.startswith("kappa,")


def test_an_output_under_a_file_is_a_clear_error(swept: Path) -> None:
    (swept / "notes.txt").write_text("mine\n")
    for args in (
        ("report", "done", "-o", "notes.txt/report.html"),
        ("jobs", "export", "done", "-o", "notes.txt/pairs.csv"),
    ):
        proc = bilancio(*args, cwd=swept)
        assert proc.returncode == 2, proc.stderr
        assert "cannot write" in proc.stderr and "notes.txt" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert (swept / "notes.txt").read_text() == "mine\n"


def test_rerun_with_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    proc = bilancio("rerun", "some-job", "--db", "missing.db", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no database at" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "missing.db").exists()
    assert not (tmp_path / "bilancio.db").exists()


def test_rerun_compares_only_what_was_completed(in_process, monkeypatch, capsys, tmp_path) -> None:
    real = job_module._run_pair

    def every_pair_fails(params):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(job_module, "_run_pair", every_pair_fails)
    assert in_process(*SMALL, "job.id=all-failed") == 1
    capsys.readouterr()
    assert in_process("rerun", "all-failed") == 2
    err = capsys.readouterr().err
    assert "has no completed run to reproduce" in err and "--failed-only" in err
    # half the pairs completed: the rerun compares those and says the others were not compared
    monkeypatch.setattr(
        job_module, "_run_pair", lambda p: every_pair_fails(p) if p.kappa == 0.5 else real(p)
    )
    assert in_process(*SMALL, "job.id=half") == 1
    monkeypatch.setattr(job_module, "_run_pair", real)
    capsys.readouterr()
    assert in_process("rerun", "half") == 0
    out = capsys.readouterr().out
    assert "2/2 runs identical" in out
    assert "2 runs that had not completed in half were run but not compared" in out


# bilancio 0.1's tables with exactly the columns of SCHEMA.md, and rows in them
OLD_SCHEMA = """
CREATE TABLE jobs (job_id TEXT PRIMARY KEY, created_at TEXT NOT NULL DEFAULT '2025-01-01',
  completed_at TEXT, status TEXT NOT NULL DEFAULT 'pending', description TEXT,
  sweep_type TEXT NOT NULL, n_agents INTEGER NOT NULL, maturity_days INTEGER NOT NULL DEFAULT 5,
  kappas TEXT NOT NULL, concentrations TEXT NOT NULL, mus TEXT NOT NULL,
  outside_mid_ratios TEXT DEFAULT '[1]', seeds TEXT DEFAULT '[42]', cloud INTEGER DEFAULT 0,
  total_runs INTEGER, completed_runs INTEGER DEFAULT 0, failed_runs INTEGER DEFAULT 0,
  error TEXT, notes TEXT, modal_experiment_id TEXT);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, job_id TEXT REFERENCES jobs(job_id),
  created_at TEXT NOT NULL DEFAULT '2025-01-01', completed_at TEXT,
  status TEXT NOT NULL DEFAULT 'pending', kappa NUMERIC NOT NULL, concentration NUMERIC NOT NULL,
  mu NUMERIC NOT NULL, outside_mid_ratio NUMERIC DEFAULT 1, seed INTEGER DEFAULT 42,
  regime TEXT, execution_time_ms INTEGER, modal_call_id TEXT, error TEXT,
  modal_volume_path TEXT);
CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT REFERENCES runs(run_id),
  job_id TEXT REFERENCES jobs(job_id), delta_total NUMERIC, phi_total NUMERIC,
  n_defaults INTEGER, n_clears INTEGER, time_to_stability INTEGER, trading_effect NUMERIC,
  total_trades INTEGER, total_trade_volume NUMERIC, raw_metrics TEXT,
  created_at TEXT NOT NULL DEFAULT '2025-01-01');
CREATE TABLE job_events (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT REFERENCES jobs(job_id),
  event_type TEXT NOT NULL, timestamp TEXT NOT NULL DEFAULT '2025-01-01',
  details TEXT DEFAULT '{}');
INSERT INTO jobs (job_id, status, sweep_type, n_agents, kappas, concentrations, mus, total_runs,
  completed_runs) VALUES ('old-job', 'completed', 'balanced', 100, '[1]', '[1]', '[0.5]', 2, 2);
INSERT INTO runs (run_id, job_id, status, kappa, concentration, mu, regime)
  VALUES ('old-job-p', 'old-job', 'completed', 1, 1, 0.5, 'passive'),
         ('old-job-a', 'old-job', 'completed', 1, 1, 0.5, 'active');
INSERT INTO metrics (run_id, job_id, delta_total, created_at)
  VALUES ('old-job-p', 'old-job', 0.5, '2025-01-01'), ('old-job-p', 'old-job', 0.4, '2025-01-02'),
         ('old-job-a', 'old-job', 0.3, '2025-01-01');
"""


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)
    con.close()
    return path


def test_an_older_database_is_refused_by_reads_and_upgraded_on_request(old_db: Path) -> None:
    folder, before = old_db.parent, _digest(old_db)
    proc = bilancio("jobs", "ls", "--db", "old.db", cwd=folder)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "written by an older bilancio" in proc.stderr and "jobs lacks overrides" in proc.stderr
    assert "bilancio db migrate --db" in proc.stderr
    status = bilancio("db", "status", "--db", "old.db", cwd=folder)
    assert status.returncode == 0 and "runs lacks job_num, config, config_hash" in status.stdout
    assert _digest(old_db) == before  # reading changed nothing
    migrated = bilancio("db", "migrate", "--db", "old.db", cwd=folder)
    assert migrated.returncode == 0 and "upgraded" in migrated.stdout
    assert bilancio("db", "status", "--db", "old.db", cwd=folder).stdout.strip() == "up to date"
    listing = bilancio("jobs", "ls", "--db", "old.db", cwd=folder)
    assert listing.returncode == 0 and "old-job" in listing.stdout
    # every row kept; the older of two metrics rows of one run moved aside, not deleted
    assert len(rows(old_db, "SELECT * FROM runs")) == 2
    assert [r["delta_total"] for r in rows(old_db, "SELECT * FROM metrics ORDER BY id")] == [
        0.4,
        0.3,
    ]
    assert [r["delta_total"] for r in rows(old_db, "SELECT * FROM metrics_superseded")] == [0.5]


def test_a_sweep_into_an_older_database_upgrades_it_in_place(old_db: Path) -> None:
    proc = bilancio(*SMALL, "storage.path=old.db", "job.id=new-job", cwd=old_db.parent)
    assert proc.returncode == 0, proc.stderr
    jobs = {r["job_id"]: r for r in rows(old_db, "SELECT * FROM jobs")}
    assert set(jobs) == {"old-job", "new-job"}
    assert jobs["new-job"]["status"] == "completed" and jobs["old-job"]["status"] == "completed"
    shown = bilancio("jobs", "show", "old-job", "--db", "old.db", cwd=old_db.parent)
    assert shown.returncode == 0, shown.stderr
