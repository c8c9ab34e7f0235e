"""Resuming a job of another Hydra sweeper, and Optuna's failed trials (issue 11, item 2).

A resume must be the same sweep, as with bilancio's own sweeper: a job made with other swept
values, other model values or by another sweeper is refused before anything runs (exit 2, the
database unchanged), and a pair the job already holds is never overwritten. Real Hydra basic
sweeper and real hydra-optuna-sweeper 1.3.0 (optuna 2.x), every command from a temporary
directory; the pair failure is injected by tests/faults/sitecustomize.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.sweep_helpers import rows
from tests.test_other_sweepers import deltas, job_of, run

BASIC = ["-m", "hydra/sweeper=basic", "n_agents=12", "job.id=r"]
SHOWN = "n_agents=12 job.id=r"
STORED = (
    "SELECT r.run_id, r.kappa, r.mu, r.status, r.config_hash, r.completed_at, m.delta_total "
    "FROM runs r LEFT JOIN metrics m USING (run_id) ORDER BY r.run_id"
)


def snapshot(db: Path) -> list[dict]:
    return rows(db, STORED)


def test_a_resume_with_other_swept_values_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    first = run(*BASIC, "kappa=0.5,1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    db = tmp_path / "bilancio.db"
    before, job_before = snapshot(db), job_of(db)
    was = f"job r was swept with {SHOWN} kappa=0.5,1, not with {SHOWN}"
    for other, says in (
        (["kappa=2,4"], f"{was} kappa=2,4;"),
        (["kappa=0.5,1", "mu=0"], f"{was} kappa=0.5,1 mu=0;"),
        # a sweep of a key that is not the model's still renumbers the pairs
        (["kappa=0.5,1", "job.description=a,b"], f"{was} kappa=0.5,1 job.description=a,b;"),
    ):
        done = run(*BASIC, *other, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
        assert "Nothing was run or written" in done.stderr
        assert snapshot(db) == before  # the completed pairs were not overwritten
        assert job_of(db) == job_before
    # a job made by bilancio's sweeper is not resumed by another one
    made = run("-m", "kappa=0.5,1", "n_agents=12", "job.id=b", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    done = run("-m", "hydra/sweeper=basic", "kappa=0.5,1", "n_agents=12", "job.id=b", cwd=tmp_path)
    assert done.returncode == 2
    assert "job b was made by bilancio's sweeper, not by BasicSweeper" in done.stderr


def test_the_same_command_resumes_without_running_the_stored_pairs_again(tmp_path: Path) -> None:
    first = run(*BASIC, "kappa=0.5,1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    db = tmp_path / "bilancio.db"
    before = snapshot(db)
    # the launcher's options may differ: they do not change which pairs run
    again = run(*BASIC, "kappa=0.5,1", "hydra.sweeper.max_batch_size=1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "(2 pairs already done)" in again.stderr
    assert snapshot(db) == before  # same rows, same completion times: nothing ran again
    job = job_of(db)
    assert (job["status"], job["completed_runs"], job["total_runs"]) == ("completed", 4, 4)
    assert rows(db, "SELECT n_pairs FROM job_metrics") == [{"n_pairs": 2}]


def test_a_resume_with_the_same_overrides_in_another_order_is_refused(tmp_path: Path) -> None:
    # Hydra numbers the pairs in command-line order: reordered, pair #1 would be another pair
    first = run(*BASIC, "kappa=0.5,1", "mu=0,1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    db = tmp_path / "bilancio.db"
    before = snapshot(db)
    done = run(*BASIC, "mu=0,1", "kappa=0.5,1", cwd=tmp_path)
    assert done.returncode == 2
    assert "the same overrides in another order" in done.stderr
    assert snapshot(db) == before
    # the same values written otherwise are the same sweep
    same = run(*BASIC, "kappa=0.5,1.0", "mu=0.0,1", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    assert "(4 pairs already done)" in same.stderr
    assert snapshot(db) == before


def test_an_experiment_whose_grid_changed_is_not_resumed(tmp_path: Path) -> None:
    mine = tmp_path / "experiments"
    mine.mkdir()
    grid = mine / "mygrid.yaml"
    body = "# @package _global_\nhydra:\n  mode: MULTIRUN\n  sweeper:\n    params:\n"
    grid.write_text(body + "      kappa: 0.5,1\n")
    args = ["+experiments=mygrid", "hydra/sweeper=basic", "n_agents=12", "job.id=e"]
    assert run(*args, cwd=tmp_path).returncode == 0
    db = tmp_path / "bilancio.db"
    before = snapshot(db)
    grid.write_text(body + "      kappa: 2,4\n")
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "job e was swept with the sweeper's params kappa=0.5,1, not kappa=2,4" in done.stderr
    assert snapshot(db) == before


def test_values_read_from_the_environment_resume_and_are_checked_pair_by_pair(
    tmp_path: Path,
) -> None:
    sweep = ["-m", "hydra/sweeper=basic", "kappa=${oc.env:K},1", "n_agents=${oc.env:NA}"]
    sweep += ["job.id=env"]
    first = run(*sweep, cwd=tmp_path, K="0.5", NA="12")
    assert first.returncode == 0, first.stderr
    db = tmp_path / "bilancio.db"
    before = snapshot(db)
    again = run(*sweep, cwd=tmp_path, K="0.5", NA="12")  # the same command, the same values
    assert again.returncode == 0, again.stderr
    assert "(2 pairs already done)" in again.stderr
    assert snapshot(db) == before
    # the command reads the same, the environment does not: pair #0 is another pair now. It is
    # not run, and the stored one is kept; pair #1 (κ = 1) is the stored one and is skipped
    other = run(*sweep, cwd=tmp_path, K="2", NA="12")
    assert other.returncode == 1, other.stderr
    assert "job env already holds a completed pair #0 with other parameters" in other.stderr
    assert snapshot(db) == before


def test_a_resumed_optuna_study_skips_its_stored_trials_and_may_extend(
    tmp_path: Path,
) -> None:
    study = [
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.direction=maximize",
        "objective=trading_effect",
        "kappa=interval(0.5,2)",
        "n_agents=12",
        "job.id=o",
    ]
    first = run(*study, "hydra.sweeper.sampler.seed=1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    db = tmp_path / "bilancio.db"
    before = snapshot(db)
    # another seed would draw other pairs under the stored numbers: refused before anything runs
    other = run(*study, "hydra.sweeper.sampler.seed=2", cwd=tmp_path)
    assert other.returncode == 2, other.stderr
    assert "job o was swept with other sweeper settings (hydra.sweeper.sampler)" in other.stderr
    assert "Traceback" not in other.stderr
    assert snapshot(db) == before
    # a larger budget extends the study: the same seed draws the same first two trials, which
    # are found stored (not run again) and their stored values told to Optuna
    more = run(*study, "hydra.sweeper.sampler.seed=1", "hydra.sweeper.n_trials=3", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "(2 pairs already done)" in more.stderr
    after = snapshot(db)
    assert [r for r in after if r["run_id"] in {b["run_id"] for b in before}] == before
    assert len(after) == 6
    results = sorted(tmp_path.glob("multirun/*/*/optimization_results.yaml"))[-1]
    best = yaml.safe_load(results.read_text())["best_value"]
    assert best == pytest.approx(max(p - a for p, a in deltas(db).values()), abs=1e-12)
    job = job_of(db)
    assert (job["status"], job["completed_runs"]) == ("completed", 6)


def test_optuna_goes_on_after_a_failed_trial(tmp_path: Path) -> None:
    # seed 2 draws κ = 0.5 for the first two trials and κ = 1 for the next two (optuna 2.10.1's
    # random start-up sampler); a pair with κ = 0.5 raises
    done = run(
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.seed=2",
        "hydra.sweeper.direction=maximize",
        "objective=trading_effect",
        "kappa=choice(0.5,1)",
        "mu=interval(0,1)",
        "n_agents=20",
        cwd=tmp_path,
        BILANCIO_TEST_FAIL_AT_KAPPA="0.5",
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    db = tmp_path / "bilancio.db"
    statuses = rows(db, "SELECT kappa, status FROM runs WHERE regime = 'active'")
    assert len(statuses) == 4  # every trial ran: the failed ones did not end the study
    assert {(r["kappa"], r["status"]) for r in statuses} == {(0.5, "failed"), (1, "completed")}
    job = job_of(db)
    failed = sum(r["status"] == "failed" for r in statuses)
    assert job["status"] == "failed" and job["error"] == f"{failed} of 4 jobs failed"
    (results,) = tmp_path.glob("multirun/*/*/optimization_results.yaml")
    best = yaml.safe_load(results.read_text())
    completed = [p - a for (k, _), (p, a) in deltas(db).items() if k == 1 and p is not None]
    assert best["best_params"]["kappa"] == 1
    assert best["best_value"] == pytest.approx(max(completed), abs=1e-12)


def test_an_optimising_sweeper_without_an_objective_is_refused_first(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "kappa=interval(0.5,1)",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "the OptunaSweeper optimises the number each job returns" in done.stderr
    assert "objective=trading_effect" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no database, no sweep folder


def test_ctrl_c_at_any_instant_of_a_basic_sweep_never_leaves_the_job_running(
    tmp_path: Path,
) -> None:
    import random
    import signal
    import time

    from tests.sweep_helpers import start_sweep

    # instants from start-up (before the job row) through the pairs to the end of the sweep
    delays = sorted(random.Random(11).uniform(0.2, 3.5) for _ in range(6))
    for i, delay in enumerate(delays):
        where = tmp_path / str(i)
        where.mkdir()
        proc = start_sweep(
            "-m", "hydra/sweeper=basic", "kappa=range(1,5)", "n_agents=3000", cwd=where
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 130), (delay, err)
        assert "Traceback" not in err, (delay, err)
        db = where / "bilancio.db"
        jobs = rows(db, "SELECT status, lease_owner, error FROM jobs") if db.exists() else []
        assert jobs or not db.exists(), delay  # interrupted before its job: no empty database
        for job in jobs:  # no job row yet is fine; a job row is always closed
            assert job["status"] in ("completed", "failed"), (delay, job)
            assert job["lease_owner"] is None, (delay, job)
            if job["status"] == "failed":
                assert "resume with job.id=" in job["error"], (delay, job)


def test_resuming_a_basic_sweep_in_postgresql(migrated_url: str, tmp_path: Path) -> None:
    import psycopg

    sweep = ["-m", "hydra/sweeper=basic", "kappa=0.5,1", "n_agents=12", "storage=postgres"]
    env = {"BILANCIO_DATABASE_URL": migrated_url}
    first = run(*sweep, "job.id=pg-resume", cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr

    def stored() -> list[tuple]:
        with psycopg.connect(migrated_url) as conn:
            return conn.execute(
                "SELECT run_id, status, config_hash, completed_at FROM runs "
                "WHERE job_id = 'pg-resume' ORDER BY run_id"
            ).fetchall()

    before = stored()
    assert len(before) == 4
    again = run(*sweep, "job.id=pg-resume", cwd=tmp_path, **env)  # δ read back as NUMERIC
    assert again.returncode == 0, again.stderr
    assert "(2 pairs already done)" in again.stderr
    assert stored() == before
    other = run(*sweep, "mu=0", "job.id=pg-resume", cwd=tmp_path, **env)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert stored() == before
