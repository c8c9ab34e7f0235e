"""Other Hydra sweepers and launchers, and a config of one's own (issue 11, items 2 and 6).

Real plugins throughout: Hydra's basic sweeper, hydra-optuna-sweeper, hydra-joblib-launcher
(loky worker processes). Faults in workers are injected by tests/faults/sitecustomize.py,
because loky's workers are fresh interpreters. Every command runs from a temporary directory.
"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.sweep_helpers import SCRIPT, rows

FAULTS = Path(__file__).parent / "faults"
GRID = ["kappa=0.5,1", "mu=0,1", "n_agents=12"]


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env}
    if any(k.startswith("BILANCIO_TEST_") for k in env):
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(FAULTS), os.environ.get("PYTHONPATH")) if p
        )
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
    )


def job_of(db: Path) -> dict:
    (job,) = rows(db, "SELECT * FROM jobs")
    return job


def deltas(db: Path, job_id: str | None = None) -> dict[tuple, tuple]:
    """(κ, μ) -> (δ passive, δ active), read from the runs and metrics tables."""
    sql = (
        "SELECT r.kappa, r.mu, r.regime, m.delta_total FROM runs r JOIN metrics m USING (run_id)"
        + (" WHERE r.job_id = ?" if job_id else "")
    )
    found: dict[tuple, dict] = {}
    for r in rows(db, sql, *([job_id] if job_id else [])):
        found.setdefault((r["kappa"], r["mu"]), {})[r["regime"]] = r["delta_total"]
    return {k: (v["passive"], v["active"]) for k, v in found.items()}


def test_the_basic_sweeper_records_the_job_and_its_metrics(tmp_path: Path) -> None:
    done = run("-m", "hydra/sweeper=basic", *GRID, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    db = tmp_path / "bilancio.db"
    job = job_of(db)
    assert job["sweep_type"] == "hydra:BasicSweeper" and job["status"] == "completed"
    assert (job["total_runs"], job["completed_runs"], job["failed_runs"]) == (8, 8, 0)
    assert job["kappas"] == "[0.5, 1.0]" and job["mus"] == "[0.0, 1.0]"
    (agg,) = rows(db, "SELECT * FROM job_metrics")
    assert agg["n_pairs"] == 4
    # the same grid through bilancio's own sweeper gives the same numbers, pair by pair
    other = tmp_path / "own"
    other.mkdir()
    assert run("-m", *GRID, cwd=other).returncode == 0
    assert deltas(db) == deltas(other / "bilancio.db")
    effects = [p - a for p, a in deltas(db).values()]
    assert agg["mean_trading_effect"] == pytest.approx(sum(effects) / 4)


def test_the_issues_workaround_with_the_basic_sweeper_now_stores_every_pair(
    tmp_path: Path,
) -> None:
    # `job.id=x 'job.num=${hydra:job.num}'` used to exit 0 with nothing written
    done = run(
        "-m",
        "hydra/sweeper=basic",
        "job.id=x",
        "job.num=${hydra:job.num}",
        *GRID[:1],
        "n_agents=12",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    job = job_of(tmp_path / "bilancio.db")
    assert (job["job_id"], job["completed_runs"]) == ("x", 4)


def test_a_failing_pair_under_the_basic_sweeper_is_a_failed_run_and_exit_1(
    tmp_path: Path,
) -> None:
    done = run("-m", "hydra/sweeper=basic", "kappa=0.5,1", "n_agents=1,12", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    db = tmp_path / "bilancio.db"
    failed = rows(db, "SELECT job_num, error FROM runs WHERE status = 'failed' ORDER BY job_num")
    # the basic sweeper's order: kappa outer, n_agents inner -> jobs 0 and 2 have n_agents=1
    assert sorted({r["job_num"] for r in failed}) == [0, 2]
    assert all("invalid n_agents=1" in r["error"] for r in failed)
    job = job_of(db)
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("failed", 4, 4)
    assert rows(db, "SELECT n_pairs FROM job_metrics") == [{"n_pairs": 2}]


def test_a_failed_save_inside_a_job_is_a_failed_pair_not_swallowed(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/sweeper=basic",
        "kappa=0.5,1",
        "n_agents=12",
        cwd=tmp_path,
        BILANCIO_TEST_SAVE_FAILS_AT_KAPPA="0.5",
    )
    assert done.returncode == 1
    assert "pair #0 (kappa=0.5 n_agents=12) failed: saving results failed" in done.stderr
    runs = rows(
        tmp_path / "bilancio.db", "SELECT job_num, status, error FROM runs ORDER BY job_num"
    )
    assert [(r["job_num"], r["status"]) for r in runs] == [
        (0, "failed"),
        (0, "failed"),
        (1, "completed"),
        (1, "completed"),
    ]
    assert "database or disk is full" in runs[0]["error"]


def test_optuna_maximises_the_trading_effect_and_stores_every_trial(tmp_path: Path) -> None:
    done = run(
        "+experiments=optimise_effect",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=3",
        "n_agents=20",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    db = tmp_path / "bilancio.db"
    job = job_of(db)
    assert job["sweep_type"] == "hydra:OptunaSweeper"
    assert (job["total_runs"], job["completed_runs"]) == (6, 6)
    effects = [p - a for p, a in deltas(db).values()]
    assert len(effects) == 3
    # what Optuna saw as the best value is the largest effect stored (computed from the rows)
    (results,) = tmp_path.glob("multirun/*/*/optimization_results.yaml")
    best = yaml.safe_load(results.read_text())
    assert best["best_value"] == pytest.approx(max(effects), abs=1e-12)
    kappa, mu = best["best_params"]["kappa"], best["best_params"]["mu"]
    assert 0.1 <= kappa <= 4.0 and 0.0 <= mu <= 1.0
    assert rows(db, "SELECT n_pairs FROM job_metrics") == [{"n_pairs": 3}]


def test_an_optuna_sweep_whose_every_trial_fails_still_closes_the_job(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "objective=delta_active",
        "kappa=interval(0.5,1)",
        "n_agents=choice(1,2)",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    db = tmp_path / "bilancio.db"
    job = job_of(db)
    assert (job["status"], job["failed_runs"]) == ("failed", 4)
    assert rows(db, "SELECT n_pairs FROM job_metrics") == [{"n_pairs": 0}]


def test_an_unknown_objective_is_refused_before_anything_runs(tmp_path: Path) -> None:
    for sweeper in ("hydra/sweeper=basic", "hydra/sweeper=bilancio"):
        done = run("-m", sweeper, "objective=effect", "kappa=0.5,1", cwd=tmp_path)
        assert done.returncode == 2
        assert (
            "invalid objective='effect': allowed trading_effect, delta_passive, delta_active"
            in done.stderr
        )
        assert not (tmp_path / "bilancio.db").exists() or not rows(
            tmp_path / "bilancio.db", "SELECT * FROM jobs"
        )


def test_the_objective_is_what_the_job_returns(tmp_path: Path) -> None:
    from hydra.core.utils import JobReturn  # noqa: F401  (the task's return reaches Optuna)

    done = run(
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.direction=minimize",
        "objective=delta_passive",
        "kappa=interval(0.5,2)",
        "n_agents=12",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (results,) = tmp_path.glob("multirun/*/*/optimization_results.yaml")
    best = yaml.safe_load(results.read_text())["best_value"]
    assert best == pytest.approx(min(p for p, _ in deltas(tmp_path / "bilancio.db").values()))
    assert not math.isnan(best)


def test_joblib_workers_run_the_basic_sweepers_pairs(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/sweeper=basic",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *GRID,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert job_of(tmp_path / "bilancio.db")["completed_runs"] == 8


def test_a_dead_joblib_worker_fails_its_pair_and_the_job_is_still_closed(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/sweeper=basic",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *GRID,
        cwd=tmp_path,
        BILANCIO_TEST_DIE_AT_KAPPA="0.5",
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "the sweep stopped: TerminatedWorkerError" in done.stderr
    db = tmp_path / "bilancio.db"
    job = job_of(db)
    assert job["status"] == "failed" and "TerminatedWorkerError" in job["error"]
    died = rows(db, "SELECT DISTINCT job_num, error FROM runs WHERE status = 'failed'")
    assert died and all("never finished" in r["error"] for r in died)
    # the pairs with kappa=0.5 are jobs 0 and 1; none of them completed
    done_nums = {
        r["job_num"] for r in rows(db, "SELECT job_num FROM runs WHERE status='completed'")
    }
    assert not done_nums & {0, 1}
    assert len(rows(db, "SELECT * FROM job_metrics")) == 1


# -- a config of one's own (item 6) ----------------------------------------------------------------


def test_a_users_primary_config_extends_bilancios(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "mine.yaml").write_text(
        "defaults:\n  - config\n  - _self_\nn_agents: 14\njob:\n  description: my config\n"
    )
    done = run(
        "--config-dir", str(conf), "--config-name", "mine", "-m", "kappa=0.5,1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    db = tmp_path / "bilancio.db"
    job = job_of(db)
    assert (job["description"], job["n_agents"], job["completed_runs"]) == ("my config", 14, 4)
    assert len(rows(db, "SELECT * FROM job_metrics")) == 1
    single = run("--config-dir", str(conf), "--config-name", "mine", cwd=tmp_path)
    assert single.returncode == 0 and "pair  n=14 " in single.stdout


def test_a_hand_built_config_without_the_callback_keeps_job_metrics(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "hand.yaml").write_text(
        "defaults:\n  - bilancio_schema\n  - storage: sqlite\n  - _self_\n"
        "  - override hydra/sweeper: bilancio\nn_agents: 12\n"
    )
    done = run(
        "--config-dir", str(conf), "--config-name", "hand", "-m", "kappa=0.5,1", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert rows(tmp_path / "bilancio.db", "SELECT n_pairs FROM job_metrics") == [{"n_pairs": 2}]
    assert "job_metrics: 2 pairs" in done.stdout


def test_another_sweeper_without_the_callback_is_a_clear_error(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "hand.yaml").write_text(
        "defaults:\n  - bilancio_schema\n  - storage: sqlite\n  - _self_\nn_agents: 12\n"
    )
    done = run(
        "--config-dir", str(conf), "--config-name", "hand", "-m", "kappa=0.5,1", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "the sweeper BasicSweeper runs without bilancio's job_metrics callback" in done.stderr
    assert "Nothing was stored" in done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_during_a_basic_sweep_marks_the_job_and_resuming_completes_it(
    tmp_path: Path,
) -> None:
    import signal

    from tests.sweep_helpers import start_sweep, wait_for_runs

    sweep = ["-m", "hydra/sweeper=basic", "kappa=range(1,31)", "n_agents=150", "job.id=stop"]
    proc = start_sweep(*sweep, cwd=tmp_path)
    db = tmp_path / "bilancio.db"
    wait_for_runs(db, proc, 4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "job stop is marked interrupted" in err and "job.id=stop" in err
    job = job_of(db)
    assert job["status"] == "failed" and job["error"].startswith("interrupted (SIGINT)")
    assert job["lease_owner"] is None
    assert len(rows(db, "SELECT * FROM job_metrics")) == 1
    done = run(*sweep, cwd=tmp_path)  # the same command resumes the job
    assert done.returncode == 0, done.stderr
    job = job_of(db)
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 60, 0)


def test_the_optuna_experiment_without_its_sweeper_says_how_to_run_it(tmp_path: Path) -> None:
    done = run("+experiments=optimise_effect", cwd=tmp_path)
    assert done.returncode == 2
    assert "hydra.sweeper.direction is not an option of the Bilancio sweeper" in done.stderr
    assert "hydra/sweeper=optuna" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "bilancio.db").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["+cloud=slurm"], "needs SLURM's sbatch, which is not on PATH here"),
        (["hydra.sweep.subdir=../x"], "invalid hydra.sweep.subdir='../x'"),
        (["hydra.sweep.subdir=/tmp/abs${hydra.job.num}"], "invalid hydra.sweep.subdir='/tmp/abs"),
    ],
    ids=["slurm", "parent", "absolute"],
)
def test_what_bilancios_sweeper_refuses_is_refused_under_another(
    tmp_path: Path, args: list[str], says: str
) -> None:
    done = run("-m", "hydra/sweeper=basic", "kappa=0.5,1", "n_agents=12", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
    assert not Path("/tmp/abs0").exists()


def test_values_only_a_job_resolves_work_under_another_sweeper(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/sweeper=basic",
        "kappa=0.5,1",
        "n_agents=12",
        "seed=${hydra:job.num}",
        "job.description=${hydra:job.override_dirname}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    seeds = rows(tmp_path / "bilancio.db", "SELECT job_num, seed FROM runs WHERE regime='active'")
    assert sorted((r["job_num"], r["seed"]) for r in seeds) == [(0, 0), (1, 1)]
