"""``bilancio jobs ls`` and ``bilancio jobs show``, and the committed experiments."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from bilancio.config import params_from_config, register_configs

from .sweep_helpers import REPO, bilancio


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("jobs")
    for job_id, kappas in (("first-job", "0.5,1"), ("second-job", "2")):
        proc = bilancio("-m", f"kappa={kappas}", "n_agents=20", f"job.id={job_id}", cwd=where)
        assert proc.returncode == 0, proc.stderr
    return where


def test_ls_lists_newest_first(swept: Path) -> None:
    proc = bilancio("jobs", "ls", cwd=swept)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "runs done/failed/total" in lines[0] and "mean effect" in lines[0]
    assert lines[1].startswith("second-job") and lines[2].startswith("first-job")
    assert "4/0/4" in lines[2] and "completed" in lines[2]


def test_ls_json(swept: Path) -> None:
    proc = bilancio("jobs", "ls", "--json", cwd=swept)
    jobs = json.loads(proc.stdout)
    assert [j["job_id"] for j in jobs] == ["second-job", "first-job"]
    assert jobs[1]["kappas"] == [0.5, 1.0]


def test_show(swept: Path) -> None:
    proc = bilancio("jobs", "show", "first-job", cwd=swept)
    assert proc.returncode == 0, proc.stderr
    assert "job first-job: completed" in proc.stdout
    assert "overrides: kappa=0.5,1 n_agents=20 job.id=first-job" in proc.stdout
    assert "job_metrics: 2 pairs" in proc.stdout
    assert "δ_passive" in proc.stdout and "events: created" in proc.stdout
    data = json.loads(bilancio("jobs", "show", "first-job", "--json", cwd=swept).stdout)
    assert len(data["runs"]) == 4 and data["job"]["job_metrics"]["n_pairs"] == 2


def test_unknown_job_and_missing_database(swept: Path, tmp_path: Path) -> None:
    proc = bilancio("jobs", "show", "no-such-job", cwd=swept)
    assert proc.returncode == 2 and "no job 'no-such-job'" in proc.stderr
    proc = bilancio("jobs", "ls", "--db", str(tmp_path / "missing.db"), cwd=swept)
    assert proc.returncode == 2 and "no database at" in proc.stderr
    assert not (tmp_path / "missing.db").exists()


def test_db_option(swept: Path, tmp_path: Path) -> None:
    proc = bilancio("jobs", "ls", "--db", str(swept / "bilancio.db"), cwd=tmp_path)
    assert proc.returncode == 0 and "first-job" in proc.stdout


EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))


def test_the_required_experiments_exist() -> None:
    names = {p.stem for p in EXPERIMENTS}
    assert {"seed_smoke", "balanced_grid"} <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_experiment_composes(path: Path, monkeypatch, hydra_restore_singletons) -> None:
    text = path.read_text()
    assert text.startswith("# @package _global_")
    header = text.split("\n\n")[0]
    # the header's command, run from any directory, is what is composed here
    (command,) = re.findall(r"^# Run from any directory: +bilancio (.+)$", header, re.M)
    overrides = command.split()
    assert f"+experiments={path.stem}" in overrides
    monkeypatch.chdir(REPO)
    register_configs()
    with initialize_config_module(version_base="1.3", config_module="bilancio.conf"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    task = OmegaConf.to_container(cfg, resolve=False)
    task.pop("hydra")
    params_from_config(task)  # the experiment's own values are valid
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params, "an experiment defines its sweep"


def test_seed_smoke_is_the_deployment_plan_sweep(tmp_path: Path) -> None:
    proc = bilancio(
        "+experiments=seed_smoke",
        f"storage.path={tmp_path / 'smoke.db'}",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert "job_metrics: 2 pairs" in proc.stdout


def test_export_pairs_csv(swept: Path, tmp_path: Path) -> None:
    import csv

    from bilancio.model import ModelParams, simulate_pair

    out = tmp_path / "pairs.csv"
    proc = bilancio("jobs", "export", "first-job", "-o", str(out), cwd=swept)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:18] == [  # bilancio 0.1's columns first, then the mechanism
        "kappa",
        "concentration",
        "mu",
        "monotonicity",
        "seed",
        "face_value",
        "outside_mid_ratio",
        "delta_passive",
        "delta_active",
        "trading_effect",
        "trading_relief_ratio",
        "phi_passive",
        "phi_active",
        "passive_run_id",
        "passive_status",
        "active_run_id",
        "active_status",
        "total_trades",
    ]
    assert [float(r["kappa"]) for r in rows] == [0.5, 1.0]
    pair = simulate_pair(ModelParams(n_agents=20, kappa=0.5))
    first = rows[0]
    assert float(first["delta_passive"]) == pair.passive.delta_total
    assert float(first["delta_active"]) == pair.active.delta_total
    assert int(first["total_trades"]) == pair.active.n_trades
    assert first["passive_run_id"] == "first-job-00000-passive"
    assert (first["passive_status"], first["active_status"]) == ("completed", "completed")
    assert "e-" not in out.read_text().lower()  # plain decimals
    assert bilancio("jobs", "export", "nope", "-o", str(out), cwd=swept).returncode == 2
