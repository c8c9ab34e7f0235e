"""bilancio's sweeper through Hydra's generic launchers: batches of pairs per Hydra job, dead
workers, SLURM (issue 11, item 3). Real plugins: hydra-joblib-launcher (loky processes) and
hydra-submitit-launcher's ``submitit_local`` (the SLURM code path without a scheduler). Worker
deaths are injected by tests/faults/sitecustomize.py (loky and submitit start fresh Pythons).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.sweep_helpers import rows
from tests.test_other_sweepers import deltas, job_of, run

GRID12 = ["kappa=0.25,0.5,1,2", "mu=0,0.5,1", "n_agents=12"]


def _batch_files(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("multirun/*/*/batches/*.json"))


def test_joblib_gets_batches_of_pairs_not_one_hydra_job_per_pair(tmp_path: Path) -> None:
    done = run("-m", "hydra/launcher=joblib", "hydra.sweeper.batch_size=5", *GRID12, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # 12 pairs in batches of 5: 5 + 5 + 2
    assert "12 pairs in 3 Hydra job(s) of up to 5 pairs (JoblibLauncher)" in done.stderr
    assert len(_batch_files(tmp_path)) == 3
    db = tmp_path / "bilancio.db"
    job = job_of(db)
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 24, 0)
    assert rows(db, "SELECT n_pairs FROM job_metrics") == [{"n_pairs": 12}]
    local = tmp_path / "local"
    local.mkdir()
    assert run("-m", *GRID12, cwd=local).returncode == 0  # the same sweep, run in-process
    assert deltas(db) == deltas(local / "bilancio.db")


def test_the_automatic_batch_is_a_few_seconds_of_work(tmp_path: Path) -> None:
    # 40 pairs of 12 agents take about a millisecond each: all of them fit one 2 s batch
    done = run("-m", "hydra/launcher=joblib", "kappa=range(1,41)", "n_agents=12", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = re.search(r"40 pairs in (\d+) Hydra job\(s\) of up to (\d+) pairs", done.stderr)
    assert found and int(found.group(1)) == 1 and int(found.group(2)) >= 40


def test_a_dead_worker_fails_only_its_batch_and_the_rest_go_on(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.batch_size=3",
        *GRID12,
        cwd=tmp_path,
        BILANCIO_TEST_DIE_AT_KAPPA="0.5",
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    db = tmp_path / "bilancio.db"
    failed = rows(db, "SELECT DISTINCT kappa, error FROM runs WHERE status = 'failed'")
    # the three kappa = 0.5 pairs (jobs 3, 4, 5: exactly the second batch) and nothing else
    assert {r["kappa"] for r in failed} == {0.5}
    assert all("TerminatedWorkerError" in r["error"] for r in failed)
    job = job_of(db)
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("failed", 18, 6)
    assert job["error"] == "3 of 12 jobs failed"
    assert rows(db, "SELECT n_pairs FROM job_metrics") == [{"n_pairs": 9}]


def test_submitit_local_runs_batches_and_survives_a_dead_job(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.sweeper.batch_size=1",
        "kappa=0.25,0.5,1",
        "n_agents=12",
        cwd=tmp_path,
        BILANCIO_TEST_DIE_AT_KAPPA="0.5",
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    db = tmp_path / "bilancio.db"
    runs = rows(db, "SELECT job_num, status, error FROM runs ORDER BY job_num, regime")
    assert [(r["job_num"], r["status"]) for r in runs] == [
        (0, "completed"),
        (0, "completed"),
        (1, "failed"),
        (1, "failed"),
        (2, "completed"),
        (2, "completed"),
    ]
    assert "UncompletedJobError" in runs[2]["error"]
    assert rows(db, "SELECT n_pairs FROM job_metrics") == [{"n_pairs": 2}]


def test_slurm_is_a_cloud_option_with_its_settings(tmp_path: Path) -> None:
    shown = run("--cfg", "hydra", "+cloud=slurm", "hydra.launcher.partition=short", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "SlurmLauncher" in shown.stdout and "partition: short" in shown.stdout
    assert "timeout_min: 60" in shown.stdout and "cpus_per_task: 1" in shown.stdout


def test_slurm_without_a_scheduler_is_refused_before_anything_runs(tmp_path: Path) -> None:
    done = run("-m", "kappa=0.5,1", "+cloud=slurm", cwd=tmp_path, PATH="/usr/bin:/bin")
    assert done.returncode == 2
    assert "needs SLURM's sbatch" in done.stderr and "submitit_local" in done.stderr
    assert not (tmp_path / "bilancio.db").exists()


def test_a_bad_batch_size_is_refused(tmp_path: Path) -> None:
    done = run(
        "-m", "hydra/launcher=joblib", "hydra.sweeper.batch_size=0", "kappa=0.5,1", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "invalid hydra.sweeper.batch_size=0: allowed null (automatic) or an integer >= 1" in (
        done.stderr
    )


def _files_holding(folder: Path, secret: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and secret.encode() in path.read_bytes():
            found.append(str(path.relative_to(folder)))
    return found


def test_a_database_url_typed_on_the_command_line_stays_out_of_every_file(
    migrated_url: str, tmp_path: Path
) -> None:
    import psycopg

    # submitit pickles each Hydra job (its config too) into the sweep folder: the URL must
    # reach the workers through the environment, never through those files
    for args in (
        ("hydra/launcher=submitit_local", "hydra.sweeper.batch_size=2"),
        ("hydra/sweeper=basic", "hydra/launcher=submitit_local"),
    ):
        work = tmp_path / args[0].replace("/", "_")
        work.mkdir()
        done = run(
            "-m",
            *args,
            "storage=postgres",
            f"storage.url='{migrated_url}'",
            "kappa=0.5,1",
            "n_agents=12",
            cwd=work,
        )
        assert done.returncode == 0, done.stderr
        assert list(work.rglob("*.pkl")), "submitit wrote its job files"
        assert _files_holding(work, migrated_url) == []
        assert migrated_url not in done.stdout + done.stderr
    with psycopg.connect(migrated_url) as conn:
        counts = conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    assert counts == [("completed", 8)]


def test_a_10000_pair_sweep_of_quick_pairs_is_a_few_dozen_hydra_jobs() -> None:
    import time

    from bilancio.config import BilancioConfig
    from bilancio.sweep.job import JobSpec, compute_job
    from bilancio.sweep.launching import measured_batch_size
    from hydra_plugins.bilancio_modal_launcher._core import MAX_BATCH, TARGET_BATCH_SECONDS

    base = {
        k: v for k, v in vars(BilancioConfig()).items() if not hasattr(v, "__dataclass_fields__")
    }
    sample = [
        JobSpec("j", n, {**base, "n_agents": 12, "kappa": 0.5 + n, "market": {}}, ())
        for n in range(3)
    ]
    assert all(compute_job(s).outcome.status == "completed" for s in sample)  # real pairs
    timings = []  # after that first pass (imports, caches); the best of three, as the
    for _ in range(3):  # machine may be busy with the rest of the suite
        start = time.perf_counter()
        for s in sample:
            compute_job(s)
        timings.append((time.perf_counter() - start) / 3)
    per_pair = min(timings)
    # a pair of 12 agents takes about a millisecond: TARGET_BATCH_SECONDS (2 s) of them is more
    # than the cap, so a batch holds MAX_BATCH (500) pairs and 10,000 pairs make 20 Hydra jobs
    assert per_pair < TARGET_BATCH_SECONDS / MAX_BATCH
    # timed again, in a forked child: on a busy machine that timing may be twice as slow, so the
    # size is at least half the cap; 10,000 pairs are then 20 to 40 Hydra jobs, not 10,000
    size = measured_batch_size(sample)
    assert MAX_BATCH == 500 and MAX_BATCH // 2 <= size <= MAX_BATCH
    assert 20 <= -(-10_000 // size) <= 40


def test_a_pair_that_kills_its_process_while_the_batch_size_is_timed(tmp_path: Path) -> None:
    # the first three pairs are timed for the batch size; κ = 0.5 ends its process there too.
    # That ends a forked child, not the sweep: each pair becomes its own Hydra job, and only the
    # κ = 0.5 pair fails (its joblib worker dies again)
    done = run(
        "-m",
        "hydra/launcher=joblib",
        "kappa=1,0.5,2,4",
        "n_agents=12",
        cwd=tmp_path,
        BILANCIO_TEST_DIE_AT_KAPPA="0.5",
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "timing 3 pairs for the batch size failed (its process ended with code 3)" in (
        done.stderr
    )
    assert "4 pairs in 4 Hydra job(s) of up to 1 pairs (JoblibLauncher)" in done.stderr
    db = tmp_path / "bilancio.db"
    failed = rows(db, "SELECT DISTINCT kappa FROM runs WHERE status = 'failed'")
    assert failed == [{"kappa": 0.5}]
    job = job_of(db)
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("failed", 6, 2)
