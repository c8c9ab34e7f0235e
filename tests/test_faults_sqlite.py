"""Real faults of the SQLite file and of the sweep folder: a full disk (a small tmpfs), a lock
held by another process, a read-only file system, a path whose parent is a file.

Each must end with a message that names the file and the cause (no traceback), the job marked
where the database still allows it, nothing committed half-way (``PRAGMA integrity_check``, and
every pair stored whole or not at all), and a resume that completes the job afterwards. The
tmpfs mounts are real (the tests need root to mount them, as CI has; elsewhere they skip).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .sweep_helpers import bilancio, hold_write_lock, rows, start_sweep, wait_for_runs

GRID = ["-m", "kappa=0.25,0.5,1,2", "concentration=0.5,1,2,5", "mu=0,0.5,1", "seed=1,2,3,4"]


@contextmanager
def tmpfs(where: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def _consistent(db: Path) -> dict:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
    pairs = rows(db, "SELECT job_num, COUNT(*) AS n FROM runs GROUP BY job_num")
    assert all(p["n"] == 2 for p in pairs)
    completed = rows(db, "SELECT run_id FROM runs WHERE status = 'completed'")
    assert len(completed) == len(rows(db, "SELECT run_id FROM metrics"))
    return rows(db, "SELECT * FROM jobs")[0]


def _complete(db: Path, pairs: int) -> None:
    job = _consistent(db)
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 2 * pairs, 0)
    assert len(rows(db, "SELECT DISTINCT run_id FROM metrics")) == 2 * pairs
    assert rows(db, "SELECT n_pairs FROM job_metrics")[0]["n_pairs"] == pairs


def test_a_full_disk_stops_the_sweep_and_the_job_resumes_after(tmp_path: Path) -> None:
    # big enough for a few batches of pairs (each batch of 16 is one transaction), not all
    with tmpfs(tmp_path / "small", "640k") as small:
        args = [*GRID, "n_agents=20", f"storage.path={small}/bilancio.db", "job.id=full"]
        proc = bilancio(*args, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"{small}/bilancio.db" in proc.stderr and "is full" in proc.stderr
        assert "resume it with job.id=full" in proc.stderr
        db = small / "bilancio.db"
        job = _consistent(db)
        done = len(rows(db, "SELECT 1 FROM runs WHERE status = 'completed'")) // 2
        assert 0 < done < 192
        if job["status"] == "running":  # the database was too full even to mark the job
            assert "could not record the stop" in proc.stderr
        else:
            assert job["status"] == "failed" and "resume with job.id=full" in job["error"]
        remount(small, "size=32m")  # space is freed
        resumed = bilancio(*args, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert f"192 pairs ({done} already done)" in resumed.stderr
        _complete(db, 192)


def test_a_lock_held_longer_than_the_busy_timeout(tmp_path: Path) -> None:
    db = tmp_path / "bilancio.db"
    args = [*GRID, "n_agents=50", "storage.busy_timeout=1", "job.id=locked"]
    sweep = start_sweep(*args, cwd=tmp_path)
    wait_for_runs(db, sweep, 10)
    holder = hold_write_lock(db, 4)  # another process keeps the write lock for 4 s
    out, err = sweep.communicate(timeout=60)
    holder.wait(timeout=30)
    assert sweep.returncode == 1, err
    assert "Traceback" not in err
    assert "locked by another process" in err and "storage.busy_timeout" in err
    assert str(db) in err and "resume it with job.id=locked" in err
    job = _consistent(db)
    assert job["status"] in ("running", "failed")  # marked if the lock was gone in time
    resumed = bilancio(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    _complete(db, 192)


def test_an_unwritable_sweep_folder_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as read_only:
        proc = bilancio(
            "-m", "kappa=0.5,1", "n_agents=20", f"hydra.sweep.dir={read_only}/sweep", cwd=tmp_path
        )
    assert proc.returncode == 2
    assert f"cannot write the sweep folder {read_only}/sweep" in proc.stderr
    assert "Read-only file system" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "bilancio.db").exists()


def test_a_sweep_folder_that_fills_up_is_refused_before_the_job_starts(tmp_path: Path) -> None:
    # the job folders are written before the job row, so a folder too small for them refuses
    # the sweep with nothing stored, not a job that failed after 0 pairs
    with tmpfs(tmp_path / "tiny", "48k") as tiny:
        args = [*GRID, "n_agents=20", f"hydra.sweep.dir={tiny}/sweep", "job.id=folder-full"]
        proc = bilancio(*args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert f"cannot write the sweep folder {tiny}/sweep" in proc.stderr
        assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "bilancio.db").exists()  # the refused sweep made none
        remount(tiny, "size=16m")
        again = bilancio(*args, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
    _complete(tmp_path / "bilancio.db", 192)


def test_a_read_only_database_can_be_read_but_not_written(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "share", "4m") as share:
        made = bilancio(
            "-m",
            "kappa=0.5,1",
            "n_agents=20",
            f"storage.path={share}/r.db",
            "job.id=ro",
            cwd=tmp_path,
        )
        assert made.returncode == 0, made.stderr
        remount(share, "ro")
        listed = bilancio("jobs", "ls", "--db", f"{share}/r.db", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert "ro " in listed.stdout and "completed" in listed.stdout
        proc = bilancio("-m", "kappa=2", "n_agents=20", f"storage.path={share}/r.db", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{share}/r.db" in proc.stderr and "read-only" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("where", ["parent-is-a-file", "is-a-folder"])
def test_a_storage_path_that_cannot_be_a_database(tmp_path: Path, where: str) -> None:
    (tmp_path / "notes.txt").write_text("a file\n")
    (tmp_path / "folder").mkdir()
    path = "notes.txt/bilancio.db" if where == "parent-is-a-file" else "folder"
    proc = bilancio("-m", "kappa=0.5,1", "n_agents=20", f"storage.path={path}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    expected = "is a file, not a folder" if where == "parent-is-a-file" else "it is a folder"
    assert expected in proc.stderr and str(tmp_path / path.split("/")[0]) in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "a file\n"


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "bilancio.db").write_text("these are my notes, not a database\n" * 100)
    proc = bilancio("-m", "kappa=0.5,1", "n_agents=20", cwd=tmp_path)
    assert proc.returncode == 2 and "is not an SQLite database" in proc.stderr
    proc = bilancio("jobs", "ls", cwd=tmp_path)
    assert proc.returncode == 2 and "is not an SQLite database" in proc.stderr
    assert (tmp_path / "bilancio.db").read_text().startswith("these are my notes")
