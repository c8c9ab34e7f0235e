"""Hydra's override grammar in a bilancio sweep (issue 11): the jobs and values Hydra itself would
make, unknown keys added with + or ++, sweeps over experiments, ${hydra:...} in job values."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf

from bilancio.config import register_configs
from bilancio.sweep.plan import plan_sweep

from .sweep_helpers import bilancio, rows, whole_config


@pytest.fixture(scope="module")
def loader() -> ConfigLoaderImpl:
    from hydra.core.utils import setup_globals

    setup_globals()  # Hydra's resolvers (now, hydra), as a Hydra app has them
    register_configs()
    return ConfigLoaderImpl(config_search_path=create_config_search_path("pkg://bilancio.conf"))


def _hydra_jobs(loader, swept: list[str]) -> list[list[str]]:
    """The jobs Hydra's own BasicSweeper makes of these overrides (its override strings)."""
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(swept)
    return BasicSweeper.split_arguments(parsed, max_batch_size=None)[0]


def _hydra_task_config(loader, master, job: list[str]) -> dict:
    """The task config Hydra composes for one job of its BasicSweeper."""
    cfg = loader.load_sweep_config(master, job)
    task = OmegaConf.to_container(cfg, resolve=False)
    task.pop("hydra")
    return task


GRAMMAR = [
    ["default_handling='fail-fast',\"expel-agent\""],
    ["kappa=choice(0.5,1,2)", "seed=range(1,4)"],
    ["mu=range(0,1,0.25)"],
    ["storage=glob(s*)", "kappa=sort(2,0.5,1)"],
    ["kappa=sort(0.5,2,1,reverse=true)", "max_days=null,30"],
    ["kappa=tag(fast,choice(1,2))"],
    ["job.description='a b','c,d',\"it's\",x\\ y,'\\\\'"],
    ["market.spreads={short:0.1,mid:0.2,long:0.3},{short:0.2,mid:'0.3',long:0.4}"],
    ["kappa=0.5,1", "kappa=2,4"],  # a repeated key: the last one counts, as in Hydra
]


@pytest.mark.parametrize("swept", GRAMMAR, ids=[" ".join(s) for s in GRAMMAR])
def test_the_jobs_and_values_are_hydras(loader, swept: list[str]) -> None:
    master = loader.load_configuration("config", ["n_agents=12"], run_mode=RunMode.MULTIRUN)
    expected = _hydra_jobs(loader, swept)
    plan = plan_sweep(master, loader, swept)
    assert [list(plan.overrides_of(n)) for n in range(plan.n_jobs)] == expected
    for num, job in enumerate(expected):
        assert plan.spec(num).config == _hydra_task_config(loader, master, job), job


def test_shuffle_is_hydras_shuffle(loader) -> None:
    swept = ["seed=shuffle(1,2,3,4,5,6)", "kappa=shuffle(range(1,5))"]
    master = loader.load_configuration("config", [], run_mode=RunMode.MULTIRUN)
    random.seed(7)
    expected = _hydra_jobs(loader, swept)
    random.seed(7)
    plan = plan_sweep(master, loader, swept)
    assert [list(plan.overrides_of(n)) for n in range(plan.n_jobs)] == expected
    assert sorted({plan.spec(n).config["seed"] for n in range(plan.n_jobs)}) == [1, 2, 3, 4, 5, 6]


def test_quoted_values_in_a_list(loader) -> None:
    from bilancio.sweep.plan import _axes

    parsed = OverridesParser.create(config_loader=loader).parse_overrides(
        ["+x=['a',b],[\"c\"]", "+y={k:'v w'}"]
    )
    axes = _axes(parsed, loader)
    assert axes[0].values == [["a", "b"], ["c"]]
    assert axes[1].values == [{"k": "v w"}]


def test_a_sweep_of_quoted_strings_runs(tmp_path: Path) -> None:
    proc = bilancio("-m", "default_handling='fail-fast','expel-agent'", "n_agents=12", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = rows(tmp_path / "bilancio.db", "SELECT job_num, regime, config FROM runs")
    handling = {
        (r["job_num"], r["regime"]): whole_config(tmp_path / "bilancio.db", r["config"])[
            "default_handling"
        ]
        for r in got
    }
    assert handling == {
        (0, "passive"): "fail-fast",
        (0, "active"): "fail-fast",
        (1, "passive"): "expel-agent",
        (1, "active"): "expel-agent",
    }


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "+kapa=0.5,1"],
        ["-m", "++kapa=1"],
        ["+kapa=0.5"],
        ["++kapa=1"],
        ["kappa=1", "++kapa=1"],
    ],
    ids=" ".join,
)
def test_an_unknown_key_added_with_plus_is_refused(tmp_path: Path, args: list[str]) -> None:
    proc = bilancio(*args, "n_agents=12", cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first == (
        "bilancio: unknown parameter kapa; did you mean kappa? (`bilancio --help` lists them)"
    )
    assert proc.stdout == ""  # no pair was run
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_nested_key_added_with_plus_is_refused(tmp_path: Path) -> None:
    proc = bilancio("-m", "kappa=0.5,1", "+market.risk.enabeld=false", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "unknown parameter market.risk.enabeld; did you mean market.risk.enabled?" in (
        proc.stderr
    )
    assert list(tmp_path.iterdir()) == []


def test_a_group_chosen_already_and_added_with_plus_says_how_to_change_it(
    tmp_path: Path,
) -> None:
    proc = bilancio("+storage=postgres", cwd=tmp_path)  # shell completion offers +storage=
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (
        "bilancio: invalid +storage=postgres: a storage is chosen already (by bilancio's config "
        "or an earlier override); change the choice with storage=postgres, without the +"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_hydra_plugin_that_is_not_installed_says_how_to_install_it(tmp_path: Path) -> None:
    proc = bilancio("-m", "hydra/launcher=ray", "kappa=1", cwd=tmp_path)  # not a dependency
    assert proc.returncode == 2
    assert "invalid hydra/launcher=ray: no such option" in proc.stderr
    assert "pip install hydra-ray-launcher (from a clone: uv pip install hydra-ray-launcher)" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_new_hydra_env_setting_without_plus_says_to_add_it(tmp_path: Path) -> None:
    proc = bilancio("-m", "kappa=1", "hydra.job.env_set.FOO=bar", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (
        "bilancio: hydra.job.env_set.FOO is not in Hydra's config yet: add it with "
        "+hydra.job.env_set.FOO=bar (a + adds a key, e.g. +hydra.job.env_set.NAME=value)"
    )
    assert list(tmp_path.iterdir()) == []


def test_legitimate_plus_overrides_still_work(tmp_path: Path) -> None:
    proc = bilancio("+cloud=modal", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = bilancio("-m", "kappa=1", "n_agents=12", "+hydra.job.env_set.BILANCIO_X=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = bilancio("+experiments=seed_smoke", "n_agents=12", "storage.path=s.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(rows(tmp_path / "s.db", "SELECT 1 FROM runs")) == 4


def test_a_sweep_over_experiments_with_their_own_sweeps_is_refused(tmp_path: Path) -> None:
    proc = bilancio("-m", "+experiments=seed_smoke,balanced_grid", "n_agents=12", cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("bilancio: cannot sweep over +experiments=seed_smoke,balanced_grid")
    assert "hydra.sweeper.params" in lines[0]
    assert "run them one at a time" in lines[0]
    assert "bilancio +experiments=seed_smoke; bilancio +experiments=balanced_grid" in lines[0]
    assert lines[1:] == ["Nothing was run or written."]
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_over_experiments_without_their_own_sweeps_runs(tmp_path: Path) -> None:
    (tmp_path / "experiments").mkdir()
    for name, agents in (("small", 12), ("tiny", 10)):
        (tmp_path / "experiments" / f"{name}.yaml").write_text(
            f"# @package _global_\nn_agents: {agents}\n"
        )
    proc = bilancio("-m", "+experiments=small,tiny", "kappa=0.5,1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    configs = _stored_configs(tmp_path / "bilancio.db")
    assert {(n, c["n_agents"], c["kappa"]) for n, c in configs.items()} == {
        (0, 12, 0.5),
        (1, 12, 1.0),
        (2, 10, 0.5),
        (3, 10, 1.0),
    }


def _stored_configs(db: Path) -> dict[int, dict]:
    got = rows(db, "SELECT job_num, config FROM runs WHERE regime = 'passive'")
    return {r["job_num"]: whole_config(db, r["config"]) for r in got}


def test_hydra_interpolations_resolve_per_job(tmp_path: Path) -> None:
    proc = bilancio(
        "-m",
        "kappa=0.5,1",
        "seed=${hydra:job.num}",
        "job.description=${hydra:runtime.cwd}",
        "market.risk.lookback=${hydra:job.num}",  # out of the domain for job 0? (>= 1)
        "n_agents=12",
        cwd=tmp_path,
    )
    # lookback 0 is outside [1, ...): job 0 is refused before anything runs, naming the value
    assert proc.returncode == 2, proc.stderr
    assert "invalid market.risk.lookback=0" in proc.stderr
    assert list(tmp_path.iterdir()) == []
    proc = bilancio(
        "-m",
        "kappa=0.5,1",
        "seed=${hydra:job.num}",
        "job.description=${hydra:runtime.cwd}",
        "n_agents=12",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    configs = _stored_configs(tmp_path / "bilancio.db")
    assert {n: c["seed"] for n, c in configs.items()} == {0: 0, 1: 1}
    assert {n: c["kappa"] for n, c in configs.items()} == {0: 0.5, 1: 1.0}
    assert {c["job"]["description"] for c in configs.values()} == {str(tmp_path)}
    got = rows(tmp_path / "bilancio.db", "SELECT job_num, seed FROM runs")
    assert sorted((r["job_num"], r["seed"]) for r in got) == [(0, 0), (0, 0), (1, 1), (1, 1)]


def test_hydra_job_values_per_job(loader) -> None:
    """override_dirname, job.num and the job folder are each job's own."""
    master = loader.load_configuration("config", ["n_agents=12"], run_mode=RunMode.MULTIRUN)
    swept = [
        "kappa=0.5,2",
        "storage=sqlite,postgres",
        "job.description=${hydra:job.override_dirname}|${hydra:job.num}|${hydra:runtime.output_dir}",
    ]
    plan = plan_sweep(master, loader, swept)
    sweep_dir = Path(str(master.hydra.sweep.dir)).absolute()
    descriptions = [plan.spec(n).config["job"]["description"] for n in range(plan.n_jobs)]
    # Hydra sorts the overrides of override_dirname; the description's own override is one
    own = r"job.description=$\{hydra\:job.override_dirname\}|$\{hydra\:job.num\}|"
    own += r"$\{hydra\:runtime.output_dir\}"
    assert descriptions == [
        f"{own},kappa=0.5,storage=sqlite|0|{sweep_dir / '0'}",
        f"{own},kappa=0.5,storage=postgres|1|{sweep_dir / '1'}",
        f"{own},kappa=2,storage=sqlite|2|{sweep_dir / '2'}",
        f"{own},kappa=2,storage=postgres|3|{sweep_dir / '3'}",
    ]
