"""Experiments are found from any directory and from an installed wheel (issue 11, item 1).

Every command here runs from a temporary directory, never from the repository root; the wheel
test builds the wheel with ``uv build`` and installs it into a fresh virtual environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.sweep_helpers import REPO, SCRIPT, bilancio, rows, whole_config

SHIPPED = sorted(p.stem for p in (REPO / "experiments").glob("*.yaml"))


def _experiment(folder: Path, name: str, description: str, kappas: str = "0.5,1.0") -> None:
    (folder / "experiments").mkdir(parents=True, exist_ok=True)
    (folder / "experiments" / f"{name}.yaml").write_text(
        "# @package _global_\n"
        "n_agents: 12\n"
        f"job:\n  description: {description}\n"
        f"hydra:\n  mode: MULTIRUN\n  sweeper:\n    params:\n      kappa: {kappas}\n"
    )


def _jobs(db: Path) -> list[dict]:
    return rows(db, "SELECT job_id, description, total_runs, status FROM jobs")


def test_the_top_level_experiments_folder_is_the_shipped_one() -> None:
    # edited at the top level, shipped inside the package: one set of files, not two copies
    assert (REPO / "experiments").resolve() == (REPO / "bilancio/conf/experiments").resolve()
    assert SHIPPED == [
        "balanced_grid",
        "lhs_liquidity",
        "liquidity_frontier",
        "optimise_effect",
        "quickstart",
        "seed_smoke",
        "sensitivity",
    ]


def test_the_readme_names_every_shipped_experiment() -> None:
    """The README's list of experiments ("Experiments." under Running sweeps) is complete."""
    readme = (REPO / "README.md").read_text()
    listed = readme.split("* **Experiments.**", 1)[1].split("\n* **", 1)[0]
    shipped = sorted(p.stem for p in (REPO / "experiments").glob("*.yaml"))
    assert len(shipped) >= 7
    assert [name for name in shipped if f"`{name}`" not in listed] == []


def test_the_readmes_first_command_shows_an_answer(tmp_path: Path) -> None:
    """The README's first command (the quick start) ends with a cell table in which the effect
    and its interval are visible: some cell's interval excludes 0, and μ = 0 has no effect."""
    import re
    import shlex

    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1]
    first = shlex.split(block.splitlines()[0].split("#")[0])
    assert first[:3] == ["uv", "run", "bilancio"] and first[3:] == ["+experiments=quickstart"]
    result = bilancio(*first[3:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cells: 9 cells (κ × μ), 10 seeds each" in result.stdout
    table = re.findall(
        r"^ *([\d.]+) +([\d.]+) +10 +(-?[\d.]+) +\[(-?[\d.]+), (-?[\d.]+)\]",
        result.stdout,
        re.M,
    )
    assert len(table) == 9
    assert all(float(effect) == 0 for _, mu, effect, _, _ in table if mu == "0")
    assert any(float(low) > 0 for _, _, _, low, _ in table)
    (job,) = _jobs(tmp_path / "bilancio.db")
    assert job["total_runs"] == 180 and job["description"].startswith("quickstart")
    printed = readme.split("## Quick start", 1)[1].split("```\n", 3)[2]
    for line in printed.splitlines()[2:5]:  # the README shows the rows this run prints
        assert line in result.stdout, line


def test_a_shipped_experiment_runs_from_any_directory(tmp_path: Path) -> None:
    result = bilancio("+experiments=seed_smoke", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (job,) = _jobs(tmp_path / "bilancio.db")
    # seed_smoke.yaml: kappa 0.5,1.0 -> 2 pairs, 4 runs, with its own description
    assert job["total_runs"] == 4 and job["status"] == "completed"
    assert job["description"].startswith("seed smoke test")
    db = tmp_path / "bilancio.db"
    configs = [whole_config(db, r["config"]) for r in rows(db, "SELECT config FROM runs")]
    assert {c["n_agents"] for c in configs} == {50}


def test_an_unknown_experiment_is_refused_with_the_list_and_where_it_looked(
    tmp_path: Path,
) -> None:
    _experiment(tmp_path, "mine", "my own")
    result = bilancio("+experiments=nosuch", cwd=tmp_path)
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "invalid experiments=nosuch" in message
    assert (
        "allowed balanced_grid, lhs_liquidity, liquidity_frontier, mine, optimise_effect, "
        "quickstart, seed_smoke, sensitivity" in message
    )
    assert str(tmp_path / "experiments") in message and "pkg://bilancio.conf" in message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bilancio.db").exists()


def test_the_users_own_experiments_folder_is_found_first(tmp_path: Path) -> None:
    _experiment(tmp_path, "mine", "my own", kappas="0.25,0.5,2")
    _experiment(tmp_path, "seed_smoke", "my seed smoke", kappas="3")
    assert bilancio("+experiments=mine", cwd=tmp_path).returncode == 0
    assert bilancio("+experiments=seed_smoke", cwd=tmp_path).returncode == 0
    jobs = {j["description"]: j for j in _jobs(tmp_path / "bilancio.db")}
    assert jobs["my own"]["total_runs"] == 6  # 3 kappas x 2 regimes
    assert jobs["my seed smoke"]["total_runs"] == 2  # ./experiments replaces the shipped file
    kappas = rows(tmp_path / "bilancio.db", "SELECT DISTINCT kappa FROM runs ORDER BY kappa")
    assert [k["kappa"] for k in kappas] == [0.25, 0.5, 2.0, 3.0]


def test_config_dir_and_hydra_searchpath_hold_experiments(tmp_path: Path) -> None:
    _experiment(tmp_path / "a", "from_a", "from --config-dir")
    _experiment(tmp_path / "b", "from_b", "from hydra.searchpath")
    work = tmp_path / "work"
    work.mkdir()
    searchpath = f"hydra.searchpath=[file://{tmp_path / 'b'}]"
    assert (
        bilancio("--config-dir", str(tmp_path / "a"), "+experiments=from_a", cwd=work).returncode
        == 0
    )
    assert bilancio(searchpath, "+experiments=from_b", cwd=work).returncode == 0
    jobs = sorted(j["description"] for j in _jobs(work / "bilancio.db"))
    assert jobs == ["from --config-dir", "from hydra.searchpath"]


def test_help_lists_the_experiments_group(tmp_path: Path) -> None:
    _experiment(tmp_path, "mine", "my own")
    result = bilancio("--help", cwd=tmp_path)
    assert result.returncode == 0
    group = result.stdout.split("\nexperiments:", 1)[1].split("\n", 1)[0]
    assert group.split() == [
        "balanced_grid,",
        "lhs_liquidity,",
        "liquidity_frontier,",
        "mine,",
        "optimise_effect,",
        "quickstart,",
        "seed_smoke,",
        "sensitivity",
    ]


def _complete(line: str, cwd: Path) -> list[str]:
    env = {**os.environ, "COMP_LINE": line}
    result = subprocess.run(
        [str(SCRIPT), "-sc", "query=bash"], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_offers_groups_not_the_current_directory(tmp_path: Path) -> None:
    for name in (".git", ".venv", "tests"):
        (tmp_path / name).mkdir()
    (tmp_path / "tests" / "x.yaml").write_text("a: 1\n")
    _experiment(tmp_path, "mine", "my own")
    assert _complete("bilancio +", tmp_path) == ["+cloud=", "+experiments=", "+hydra", "+storage="]
    offered = _complete("bilancio +experiments=", tmp_path)
    assert offered == [
        "+experiments=balanced_grid",
        "+experiments=lhs_liquidity",
        "+experiments=liquidity_frontier",
        "+experiments=mine",
        "+experiments=optimise_effect",
        "+experiments=quickstart",
        "+experiments=seed_smoke",
        "+experiments=sensitivity",
    ]


# -- the installed wheel -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bilancio built with ``uv build`` and installed, without extras, into a fresh venv."""
    uv = shutil.which("uv")
    assert uv, "the suite needs uv (pip install uv), as the README says"
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("bilancio-*.whl")
    venv = out / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    subprocess.run(
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        capture_output=True,
    )
    return wheel


def test_the_wheel_ships_the_experiments_and_their_plugin(installed_wheel: Path) -> None:
    names = set(zipfile.ZipFile(installed_wheel).namelist())
    for name in SHIPPED:
        assert f"bilancio/conf/experiments/{name}.yaml" in names
    assert "hydra_plugins/bilancio_experiments/search_path.py" in names
    assert not any(n.startswith(("tests/", "experiments/")) for n in names)


def test_the_installed_wheel_ships_the_compiled_kernel(installed_wheel: Path, tmp_path) -> None:
    """The wheel carries the generic kernel (bilancio/model/kernel/objects): where its numba
    and llvmlite are the locked ones, a first run compiles nothing and imports no numba."""
    import platform
    import tomllib

    names = set(zipfile.ZipFile(installed_wheel).namelist())
    assert any(n.startswith("bilancio/model/kernel/objects/kernel-") for n in names)
    python = installed_wheel.parent / "venv" / "bin" / "python"
    versions = subprocess.run(
        [python, "-c", "import numba as n, llvmlite as v; print(n.__version__, v.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    lock = tomllib.loads((REPO / "uv.lock").read_text())["package"]
    locked = [next(p["version"] for p in lock if p["name"] == n) for n in ("numba", "llvmlite")]
    if versions != locked or (sys.platform, platform.machine()) != ("linux", "x86_64"):
        pytest.skip(f"numba, llvmlite {versions} here, the lock's are {locked}: compiles once")
    cache = tmp_path / "cache"
    code = (
        "import sys\nfrom bilancio.model import ModelParams, simulate_pair\n"
        "simulate_pair(ModelParams(n_agents=20))\nprint('numba' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    done = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True,
        env={**env, "BILANCIO_KERNEL_CACHE": str(cache)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"] and not cache.exists()


def test_the_installed_wheel_runs_experiments_from_a_temporary_directory(
    installed_wheel: Path, tmp_path: Path
) -> None:
    command = installed_wheel.parent / "venv" / "bin" / "bilancio"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(command), *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    done = run("+experiments=seed_smoke")
    assert done.returncode == 0, done.stderr
    assert _jobs(tmp_path / "bilancio.db")[0]["total_runs"] == 4
    # the installed package's own files, not this checkout's
    where = run("--info", "searchpath").stdout
    assert "pkg://bilancio.conf" in where
    shown = subprocess.run(
        [
            str(installed_wheel.parent / "venv" / "bin" / "python"),
            "-c",
            "import bilancio; print(bilancio.__file__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert str(REPO) not in shown and "venv" in shown
    refused = run("+experiments=nosuch")
    assert (
        refused.returncode == 2
        and "allowed balanced_grid, lhs_liquidity, liquidity_frontier, optimise_effect, "
        "quickstart, seed_smoke, sensitivity"
        in refused.stderr
    )
    assert "experiments:" in run("--help").stdout
    # the wheel's plain install has no cluster extra: SLURM says how to get it
    slurm = run("-m", "kappa=1", "+cloud=slurm")
    assert slurm.returncode == 2 and "Traceback" not in slurm.stderr
    assert "hydra/launcher=submitit_slurm is a Hydra plugin that is not installed" in slurm.stderr
    assert "pip install 'bilancio[cluster]'" in slurm.stderr
    # nor the designs extra: a Saltelli design says how to get SALib; LHS needs only scipy
    saltelli = run("-m", "kappa=interval(0.2,5)", "hydra.sweeper.design=saltelli",
                   "hydra.sweeper.samples=2")  # fmt: skip
    assert saltelli.returncode == 2 and "Traceback" not in saltelli.stderr
    assert "pip install 'bilancio[designs]'" in saltelli.stderr
    lhs = run("-m", "kappa=interval(0.2,5)", "hydra.sweeper.design=lhs", "hydra.sweeper.samples=2",
              "n_agents=12", "job.id=lhs")  # fmt: skip
    assert lhs.returncode == 0, lhs.stderr
