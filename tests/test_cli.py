"""The installed ``bilancio`` console script, run in a subprocess from an empty directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("bilancio")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.fail(f"console script {SCRIPT} is not installed")
    return subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_default_run_prints_metrics(tmp_path: Path) -> None:
    proc = run_cli(cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pair  n=100 T=10" in proc.stdout
    assert "delta_total" in proc.stdout and "trading effect" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # a single run leaves no files behind


def test_overrides_reach_the_model(tmp_path: Path) -> None:
    proc = run_cli(
        "n_agents=5",
        "maturity_days=3",
        "q_total=100",
        "kappa=1",
        "concentration=1",
        "mu=0.5",
        "seed=7",
        "default_handling=expel-agent",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    # worked example B: passive δ = 98/127
    assert "0.771654" in proc.stdout


def test_out_of_domain_value_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli("mu=1.5", cwd=tmp_path)
    assert proc.returncode == 2
    assert "mu=1.5" in proc.stderr and "[0, 1]" in proc.stderr


def test_wrong_type_and_unknown_key_fail_at_compose_time(tmp_path: Path) -> None:
    proc = run_cli("kappa=abc", cwd=tmp_path)
    assert proc.returncode != 0 and "kappa" in proc.stderr
    proc = run_cli("kapa=1", cwd=tmp_path)
    assert proc.returncode != 0 and "kapa" in proc.stderr


def test_market_parameters_are_overridable(tmp_path: Path) -> None:
    proc = run_cli("market.risk.enabled=false", "market.spreads.short=0.1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("market.risk.lookback=0", cwd=tmp_path)
    assert proc.returncode == 2
    assert "market.risk.lookback=0" in proc.stderr and "integer >= 1" in proc.stderr
