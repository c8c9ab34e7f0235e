"""Sweeps end to end on one machine: the command, the SQLite rows, failures, bad input."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from bilancio.model import ModelParams, simulate_pair

from .sweep_helpers import PLAN, bilancio, rows, whole_config


def _expected_pair(kappa: float):
    return simulate_pair(
        ModelParams(
            n_agents=50,
            maturity_days=10,
            kappa=kappa,
            concentration=1.0,
            mu=0.5,
            outside_mid_ratio=1.0,
        )
    )


def test_deployment_plan_sweep(tmp_path: Path) -> None:
    proc = bilancio(*PLAN, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "bilancio.db"
    jobs = rows(db, "SELECT * FROM jobs")
    assert len(jobs) == 1
    job = jobs[0]
    assert job["status"] == "completed"
    assert job["created_at"] and job["completed_at"] >= job["created_at"]
    assert (job["total_runs"], job["completed_runs"], job["failed_runs"]) == (4, 4, 0)
    assert json.loads(job["kappas"]) == [0.5, 1.0]
    assert json.loads(job["concentrations"]) == [1.0] and json.loads(job["mus"]) == [0.5]
    assert json.loads(job["outside_mid_ratios"]) == [1.0] and json.loads(job["seeds"]) == [42]
    assert json.loads(job["overrides"]) == PLAN[1:]
    assert json.loads(job["config"])["n_agents"] == 50  # the sweep's config, before swept values
    assert job["code_version"].startswith("0.")
    job_id = job["job_id"]
    assert job_id in proc.stdout and "bilancio.db" in proc.stdout

    runs = rows(db, "SELECT * FROM runs ORDER BY job_num, regime DESC")
    assert [(r["job_num"], r["regime"], r["status"]) for r in runs] == [
        (0, "passive", "completed"),
        (0, "active", "completed"),
        (1, "passive", "completed"),
        (1, "active", "completed"),
    ]
    assert [r["run_id"] for r in runs] == [
        f"{job_id}-00000-passive",
        f"{job_id}-00000-active",
        f"{job_id}-00001-passive",
        f"{job_id}-00001-active",
    ]
    assert [r["kappa"] for r in runs] == [0.5, 0.5, 1, 1]
    assert all(r["execution_time_ms"] is not None and r["error"] is None for r in runs)
    assert whole_config(db, runs[0]["config"])["n_agents"] == 50  # each run's resolved config

    metrics = {m["run_id"]: m for m in rows(db, "SELECT * FROM metrics")}
    assert len(metrics) == 4
    for num, kappa in enumerate((0.5, 1.0)):
        pair = _expected_pair(kappa)
        for result in (pair.passive, pair.active):
            m = metrics[f"{job_id}-{num:05d}-{result.regime}"]
            assert m["delta_total"] == pytest.approx(result.delta_total, abs=1e-12)
            assert m["phi_total"] == pytest.approx(result.phi_total, abs=1e-12)
            assert (m["n_defaults"], m["n_clears"], m["time_to_stability"]) == (
                result.n_defaults,
                result.n_clears,
                result.time_to_stability,
            )
            assert m["trading_effect"] == pytest.approx(pair.trading_effect, abs=1e-12)
            assert json.loads(m["raw_metrics"])["unpaid_face"] == result.unpaid_face
        active = metrics[f"{job_id}-{num:05d}-active"]
        assert active["total_trades"] == pair.active.n_trades
        assert active["total_trade_volume"] == pytest.approx(pair.active.trade_volume_cash)
        assert metrics[f"{job_id}-{num:05d}-passive"]["total_trades"] is None

    events = [e["event_type"] for e in rows(db, "SELECT * FROM job_events ORDER BY id")]
    assert events == ["created", "started", "completed"]

    jm = rows(db, "SELECT * FROM job_metrics")
    assert len(jm) == 1
    effects = [_expected_pair(k).trading_effect for k in (0.5, 1.0)]
    passives = [_expected_pair(k).passive.delta_total for k in (0.5, 1.0)]
    actives = [_expected_pair(k).active.delta_total for k in (0.5, 1.0)]
    row = jm[0]
    assert (row["n_pairs"], row["n_comparisons"]) == (2, 2)
    assert row["mean_trading_effect"] == pytest.approx(statistics.fmean(effects), abs=1e-12)
    assert row["std_trading_effect"] == pytest.approx(statistics.stdev(effects), abs=1e-12)
    assert row["min_trading_effect"] == pytest.approx(min(effects), abs=1e-12)
    assert row["max_trading_effect"] == pytest.approx(max(effects), abs=1e-12)
    assert row["positive_effects"] == sum(e > 0.001 for e in effects)
    assert row["negative_effects"] == sum(e < -0.001 for e in effects)
    assert row["neutral_effects"] == 2 - row["positive_effects"] - row["negative_effects"]
    assert row["mean_delta_passive"] == pytest.approx(statistics.fmean(passives), abs=1e-12)
    assert row["mean_delta_active"] == pytest.approx(statistics.fmean(actives), abs=1e-12)
    assert row["mean_phi_passive"] == pytest.approx(1 - statistics.fmean(passives), abs=1e-12)
    assert "δ_passive" in proc.stdout and "job_metrics: 2 pairs" in proc.stdout
    assert (tmp_path / "multirun").is_dir()


def test_storage_path_chooses_the_database(tmp_path: Path) -> None:
    proc = bilancio(*PLAN, "storage.path=results/my.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "results" / "my.db").is_file()
    assert not (tmp_path / "bilancio.db").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-m", "mu=0.5,1.5"], ["mu=1.5", "[0, 1]"]),
        (["-m", "kappa=0.5,abc"], ["kappa", "abc"]),
        (["-m", "kapa=1,2"], ["kapa"]),
        (["-m", "market.risk.lookback=5,0"], ["market.risk.lookback=0", "integer >= 1"]),
        (["-m", "default_handling=fail-fast,expel"], ["default_handling='expel'", "expel-agent"]),
    ],
    ids=["domain", "type", "unknown-key", "nested-domain", "choice"],
)
def test_bad_input_stops_before_anything_runs(
    tmp_path: Path, args: list[str], expected: list[str]
) -> None:
    proc = bilancio(*args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    for text in expected:
        assert text in proc.stderr, proc.stderr
    assert "Nothing was run or written" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no database, no multirun directory


def test_aggregate_matches_spec_by_hand() -> None:
    from bilancio.sweep.aggregate import PairDeltas, aggregate

    row = aggregate(
        [PairDeltas(0.5, 0.3), PairDeltas(0.2, 0.2), PairDeltas(0.1, 0.4), PairDeltas(None, 0.1)]
    )
    # effects 0.2, 0.0, −0.3 → mean −1/30, sample sd sqrt(((0.2+1/30)²+(1/30)²+(−0.3+1/30)²)/2)
    assert row["n_pairs"] == row["n_comparisons"] == 3
    assert row["mean_trading_effect"] == pytest.approx(-1 / 30)
    sd = math.sqrt(((0.2 + 1 / 30) ** 2 + (1 / 30) ** 2 + (-0.3 + 1 / 30) ** 2) / 2)
    assert row["std_trading_effect"] == pytest.approx(sd)
    assert (row["positive_effects"], row["negative_effects"], row["neutral_effects"]) == (1, 1, 1)
    assert row["mean_phi_active"] == pytest.approx(1 - 0.3)
    empty = aggregate([])
    assert empty["n_pairs"] == 0 and empty["mean_trading_effect"] is None
    one = aggregate([PairDeltas(0.5, 0.25)])
    assert one["std_trading_effect"] == 0.0
