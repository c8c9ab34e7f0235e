"""Per-job Hydra behaviour (issue 11, item 5): job folders named by ``hydra.sweep.subdir``,
``hydra.job.chdir``, ``hydra.job.env_set`` in the workers, users' callbacks for every job.
Real subprocesses from a temporary directory; the environment a worker sees is recorded by
tests/faults/sitecustomize.py (BILANCIO_TEST_RECORD_ENV)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.sweep_helpers import SCRIPT, rows
from tests.test_other_sweepers import FAULTS, job_of, run

CALLBACK = """
import json, os
from hydra.experimental.callback import Callback

class Log(Callback):
    def _write(self, *item):
        with open(os.environ["CB_LOG"], "a") as out:
            out.write(json.dumps(item) + "\\n")

    def on_job_start(self, config, **kwargs):
        self._write("start", config.kappa, config.n_agents)

    def on_job_end(self, config, job_return, **kwargs):
        self._write("end", config.kappa, config.n_agents, job_return.status.name)
"""


def _job_folders(tmp_path: Path) -> list[str]:
    (sweep,) = tmp_path.glob("multirun/*/*")
    return sorted(str(p.parent.relative_to(sweep)) for p in sweep.rglob(".hydra"))


def test_the_sweep_subdir_names_each_jobs_folder(tmp_path: Path) -> None:
    done = run(
        "-m",
        "kappa=0.5,1",
        "n_agents=12",
        "hydra.sweep.subdir=${hydra.job.override_dirname}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # Hydra's override_dirname: the job's overrides, sorted, joined with ','
    assert _job_folders(tmp_path) == ["kappa=0.5,n_agents=12", "kappa=1,n_agents=12"]


def test_a_subdir_may_use_the_jobs_values(tmp_path: Path) -> None:
    done = run(
        "-m",
        "kappa=0.5,1",
        "n_agents=12",
        "hydra.sweep.subdir=k${kappa}/${hydra.job.num}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert _job_folders(tmp_path) == ["k0.5/0", "k1.0/1"]


def test_each_jobs_folder_holds_its_overrides_and_nothing_else(tmp_path: Path) -> None:
    # what README says: <n>/.hydra/overrides.yaml per job; the configs are in the database
    assert run("-m", "kappa=0.5,1", "n_agents=12", cwd=tmp_path).returncode == 0
    (sweep,) = tmp_path.glob("multirun/*/*")
    for num, kappa in ((0, "0.5"), (1, "1")):
        files = sorted(p.name for p in (sweep / str(num) / ".hydra").iterdir())
        assert files == ["overrides.yaml"]
        overrides = json.loads((sweep / str(num) / ".hydra" / "overrides.yaml").read_text())
        assert overrides == [f"kappa={kappa}", "n_agents=12"]
    assert sorted(p.name for p in sweep.iterdir() if p.is_file()) == [
        "bilancio_job.json",
        "multirun.yaml",
    ]


def test_a_subdir_outside_the_sweep_folder_is_refused(tmp_path: Path) -> None:
    done = run("-m", "kappa=0.5,1", "hydra.sweep.subdir=../x", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid hydra.sweep.subdir='../x'" in done.stderr
    # the refusal leaves the directory as it was: no database, no sweep folder, no file in it
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_a_refusal_leaves_an_existing_database_and_folder_as_they_were(tmp_path: Path) -> None:
    made = run("-m", "kappa=0.5,1", "n_agents=12", "hydra.sweep.dir=out", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    # the same folder again, refused: the folder keeps the first job's files, untouched
    done = run("-m", "kappa=0.5,1", "hydra.sweep.dir=out", "hydra.sweep.subdir=../x", cwd=tmp_path)
    assert done.returncode == 2
    db = tmp_path / "bilancio.db"
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if not p.name.startswith("bilancio.db")} == {
        p: t for p, t in before.items() if not p.name.startswith("bilancio.db")
    }
    assert len(rows(db, "SELECT * FROM jobs")) == 1


@pytest.mark.parametrize("launcher", ["basic", "pool"])
def test_chdir_is_refused_where_bilancio_runs_the_jobs_itself(tmp_path: Path, launcher) -> None:
    done = run(
        "-m", f"hydra/launcher={launcher}", "kappa=0.5,1", "hydra.job.chdir=true", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "invalid hydra.job.chdir=true" in done.stderr and "allowed false" in done.stderr
    assert not (tmp_path / "bilancio.db").exists()


def test_chdir_works_with_another_sweeper(tmp_path: Path) -> None:
    # Hydra's basic sweeper runs each job itself, in its own folder
    done = run(
        "-m",
        "hydra/sweeper=basic",
        "kappa=0.5,1",
        "n_agents=12",
        "hydra.job.chdir=true",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert job_of(tmp_path / "bilancio.db")["completed_runs"] == 4


def test_chdir_works_with_a_generic_launcher(tmp_path: Path) -> None:
    done = run(
        "-m",
        "hydra/launcher=joblib",
        "kappa=0.5,1",
        "n_agents=12",
        "hydra.job.chdir=true",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # the results still go to ./bilancio.db of the directory bilancio was started in
    assert job_of(tmp_path / "bilancio.db")["completed_runs"] == 4


@pytest.mark.parametrize("launcher", ["basic", "pool", "joblib"])
def test_env_set_reaches_every_pair(tmp_path: Path, launcher: str) -> None:
    log = tmp_path / "env.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(FAULTS),
        "BILANCIO_TEST_RECORD_ENV": f"MY_VAR:{log}",
    }
    proc = subprocess.Popen(
        [
            str(SCRIPT),
            "-m",
            f"hydra/launcher={launcher}",
            "kappa=0.5,1,2",
            "n_agents=12",
            "hydra.sweeper.batch_size=1",
            "+hydra.job.env_set.MY_VAR=hello",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    seen = [line.split() for line in log.read_text().splitlines()]
    assert {value for _, value in seen} == {"hello"}
    workers = {int(pid) for pid, _ in seen}
    if launcher != "basic":  # the pairs ran in worker processes, and saw it there
        assert workers - {proc.pid}
    assert "MY_VAR" not in os.environ


def _callback_log(tmp_path: Path, *args: str) -> list[list]:
    (tmp_path / "mycb.py").write_text(CALLBACK)
    log = tmp_path / "cb.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(FAULTS)]),
        "CB_LOG": str(log),
        "BILANCIO_TEST_FAIL_AT_KAPPA": "0.5",  # a failed pair: its end says FAILED
    }
    proc = subprocess.run(
        [str(SCRIPT), "-m", *args, "+hydra.callbacks.log._target_=mycb.Log"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("launcher", ["basic", "pool"])
def test_users_callbacks_get_every_job(tmp_path: Path, launcher: str) -> None:
    log = _callback_log(tmp_path, f"hydra/launcher={launcher}", "kappa=0.5,1,2", "n_agents=12")
    starts = sorted(tuple(e[1:]) for e in log if e[0] == "start")
    ends = sorted(tuple(e[1:]) for e in log if e[0] == "end")
    assert starts == [(0.5, 12), (1.0, 12), (2.0, 12)]
    # the kappa = 0.5 pair raises (injected): that job ends FAILED
    assert ends == [(0.5, 12, "FAILED"), (1.0, 12, "COMPLETED"), (2.0, 12, "COMPLETED")]
    for pair in {e[1:3] and tuple(e[1:3]) for e in log}:  # each job starts before it ends
        kinds = [e[0] for e in log if tuple(e[1:3]) == pair]
        assert kinds == ["start", "end"]


def test_users_callbacks_get_each_hydra_job_of_a_generic_launcher(tmp_path: Path) -> None:
    log = _callback_log(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.sweeper.batch_size=2",
        "kappa=0.5,1,2",
        "n_agents=12",
    )
    # Hydra's own run_job calls them, once per Hydra job: 3 pairs in batches of 2 -> 2 jobs
    assert [e[0] for e in log].count("start") == 2
    assert [e[0] for e in log].count("end") == 2
    assert rows(tmp_path / "bilancio.db", "SELECT count(*) AS n FROM runs") == [{"n": 6}]
    # the kappa = 0.5 pair raised (injected) and is a failed pair
    failed = rows(tmp_path / "bilancio.db", "SELECT DISTINCT kappa FROM runs WHERE status='failed'")
    assert failed == [{"kappa": 0.5}]
