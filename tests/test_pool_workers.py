"""The pool launcher's workers die (``kill -9``, ``os._exit``) and the sweep neither hangs nor
loses or doubles a pair. Real processes and real signals throughout; the one seam is
``bilancio.sweep.job._run_pair``, patched so that the pair with κ = 0.5 kills its own worker
(the workers inherit the patch by fork).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bilancio.sweep import job as job_module
from hydra_plugins.bilancio_pool_launcher.pool_launcher import PoolLauncher

from .sweep_helpers import SCRIPT, rows

GRID = [
    "-m",
    "kappa=0.25,0.5,1,2",
    "concentration=0.5,1,2,5",
    "mu=0,0.25,0.5,0.75,1",
    "seed=1,2,3,4,5",
    "n_agents=50",
    "hydra/launcher=pool",
    "hydra.launcher.n_jobs=2",
]  # 400 pairs, about two seconds on two cores
SMALL = ["-m", "kappa=0.25,0.5,1.0", "n_agents=20", "maturity_days=5", "hydra/launcher=pool"]


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SCRIPT), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_runs(db: Path, at_least: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before the test could act"
        try:
            if rows(db, "SELECT COUNT(*) AS n FROM runs")[0]["n"] >= at_least:
                return
        except Exception:  # no database, or no schema yet
            pass
        time.sleep(0.005)
    raise AssertionError("no runs appeared")


def _children(pid: int) -> list[int]:
    return [
        int(c) for f in Path(f"/proc/{pid}/task").glob("*/children") for c in f.read_text().split()
    ]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent has not reaped it


def test_a_killed_worker_loses_no_pair_and_doubles_none(tmp_path: Path) -> None:
    proc = _start(tmp_path, *GRID, "job.id=kill-one")
    db = tmp_path / "bilancio.db"
    _wait_for_runs(db, 40, proc)
    victim = _children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"worker process {victim} died (signal 9, SIGKILL) while running pair #" in err
    assert "running it again in a fresh worker" in err
    runs = rows(db, "SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
    assert runs == [{"status": "completed", "n": 800}]
    metrics = rows(db, "SELECT COUNT(*) AS n, COUNT(DISTINCT run_id) AS ids FROM metrics")
    assert metrics == [{"n": 800, "ids": 800}]
    job = rows(db, "SELECT * FROM jobs")[0]
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 800, 0)
    assert rows(db, "SELECT n_pairs FROM job_metrics")[0]["n_pairs"] == 400
    assert rows(db, "PRAGMA integrity_check")[0]["integrity_check"] == "ok"


@pytest.fixture
def kappa_half_kills_its_worker(monkeypatch, request):
    """κ = 0.5 ends its worker process: ``kill -9`` itself, or ``os._exit(3)``."""
    real = job_module._run_pair

    def deadly(params):
        if params.kappa == 0.5:
            if request.param == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(3)
        return real(params)

    monkeypatch.setattr(job_module, "_run_pair", deadly)
    return real


@pytest.mark.parametrize(
    ("kappa_half_kills_its_worker", "death"),
    [
        ("sigkill", "died (signal 9, SIGKILL: killed from outside or by the out-of-memory killer)"),
        ("exit", "exited with code 3"),
    ],
    indirect=["kappa_half_kills_its_worker"],
)
def test_a_pair_that_kills_its_worker_twice_is_failed_then_rerun(
    in_process, kappa_half_kills_its_worker, death, monkeypatch, capsys, tmp_path: Path
) -> None:
    assert in_process(*SMALL, "job.id=deadly") == 1
    out = capsys.readouterr()
    assert out.err.count("while running pair #1") == 2
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
    for run in runs[2:4]:
        assert run["error"].startswith(f"worker process {death} while running this pair")
        assert "it was run again in a fresh worker and" in run["error"]
    assert rows(db, "SELECT n_pairs FROM job_metrics")[0]["n_pairs"] == 2
    assert "FAILED: 1 job(s)" in out.out and "kappa=0.5" in out.out
    monkeypatch.setattr(job_module, "_run_pair", kappa_half_kills_its_worker)  # the cause is gone
    assert in_process("rerun", "deadly", "--failed-only") == 0
    job = rows(db, "SELECT * FROM jobs")[0]
    assert (job["status"], job["completed_runs"], job["failed_runs"]) == ("completed", 6, 0)
    assert {r["status"] for r in rows(db, "SELECT status FROM runs")} == {"completed"}


def _task(cfg) -> int:
    if cfg.x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return cfg.x * 10


def test_hydra_launch_returns_a_failed_job_for_a_worker_killer(
    hydra_restore_singletons, tmp_path: Path
) -> None:
    from hydra._internal.callbacks import Callbacks
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.plugins import Plugins
    from hydra.core.utils import JobStatus
    from hydra.types import HydraContext, RunMode

    from hydra_plugins.bilancio_pool_launcher._pool import PoolJobError

    hydra = Hydra.create_main_hydra2(
        task_name="t", config_search_path=create_config_search_path(None)
    )
    overrides = ["hydra/launcher=pool", f"hydra.sweep.dir={tmp_path}", "hydra.job.chdir=false"]
    cfg = hydra.compose_config(config_name=None, overrides=overrides, run_mode=RunMode.MULTIRUN)
    HydraConfig.instance().set_config(cfg)
    context = HydraContext(config_loader=hydra.config_loader, callbacks=Callbacks(cfg))
    launcher = Plugins.instance().instantiate_launcher(
        hydra_context=context, task_function=_task, config=cfg
    )
    returns = launcher.launch([["+x=1"], ["+x=2"], ["+x=3"]], initial_job_idx=0)
    assert [r.status for r in returns] == [
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.COMPLETED,
    ]
    assert [returns[0].return_value, returns[2].return_value] == [10, 30]
    with pytest.raises(PoolJobError, match="died again"):
        _ = returns[1].return_value


def test_workers_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    proc = _start(tmp_path, *GRID, "job.id=orphans")
    _wait_for_runs(tmp_path / "bilancio.db", 20, proc)
    workers = _children(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 5
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if _running(w)]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"n_jobs": 0}, "hydra.launcher.n_jobs=0"),
        ({"n_jobs": -2}, "hydra.launcher.n_jobs=-2"),
        ({"chunksize": 0}, "hydra.launcher.chunksize=0"),
        ({"chunksize": -1}, "hydra.launcher.chunksize=-1"),
    ],
)
def test_check_options_refuses_bad_values(options: dict, named: str) -> None:
    with pytest.raises(ValueError, match=f"{named} is not allowed: use .* integer >= 1"):
        PoolLauncher(**options).check_options()


def test_check_options_accepts_the_allowed_values() -> None:
    for n_jobs, chunksize in [(-1, None), (1, 1), (8, 500)]:
        PoolLauncher(n_jobs=n_jobs, chunksize=chunksize).check_options()


def test_items_are_pulled_lazily_and_each_comes_back_once() -> None:
    from hydra_plugins.bilancio_pool_launcher._pool import Kind, WorkerPool

    pulled = [0]
    ahead = []

    def items():
        for i in range(500):
            pulled[0] += 1
            yield i

    kind = Kind(lambda x: x * x, lambda x, error: error, lambda x: f"item {x}", "item")
    results = {}
    for key, value in WorkerPool(kind, 2, 4).run(items()):
        results[key] = value
        ahead.append(pulled[0] - len(results))
    assert results == {i: i * i for i in range(500)}
    # per worker: at most two chunks in flight and two chunks of results not yet handed out
    assert max(ahead) <= 2 * 4 * 4
