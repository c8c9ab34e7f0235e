"""Global sensitivity (issue 14 item 3): the Sobol' indices of a Saltelli job, checked against
SALib's analysis of outputs computed here with direct ``simulate_pair`` calls at SALib's own
sample points (not against the sweep's rows), and on a case whose answer is known: the passive
ring has no market, so the dealers' pricing ρ (outside_mid_ratio) cannot move δ passive at all.
"""

from __future__ import annotations

import dataclasses
import json
import statistics

import numpy as np
import pytest

from .sweep_helpers import bilancio, rows, whole_config

SAMPLES = 8
SWEEP = [
    "-m",
    "kappa=tag(log,interval(0.3,3))",
    "outside_mid_ratio=interval(0.5,1.5)",
    "mu=1",
    "seed=1,2",
    "n_agents=20",
    "hydra.sweeper.design=saltelli",
    f"hydra.sweeper.samples={SAMPLES}",
    "hydra.sweeper.design_seed=5",
    "job.id=salt",
]


@pytest.fixture(scope="module")
def saltelli_job(tmp_path_factory):
    where = tmp_path_factory.mktemp("saltelli")
    done = bilancio(*SWEEP, cwd=where)
    assert done.returncode == 0, done.stderr
    return where


def _shown(where) -> dict:
    done = bilancio("jobs", "sensitivity", "salt", "--json", cwd=where)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_indices_are_salibs_for_outputs_simulated_directly(saltelli_job) -> None:
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    from bilancio.config import params_from_config
    from bilancio.model.simulate import simulate_pair

    found = _shown(saltelli_job)
    (group,) = found["groups"]
    assert group["seeds"] == [1, 2] and found["points"] == SAMPLES * 6 == 48
    problem = {
        "num_vars": 2,
        "names": ["kappa", "outside_mid_ratio"],
        "bounds": [[np.log10(0.3), np.log10(3)], [0.5, 1.5]],
    }
    points = sample.sample(problem, SAMPLES, calc_second_order=True, seed=5)
    (run,) = rows(saltelli_job / "bilancio.db", "SELECT config FROM runs WHERE job_num = 0 LIMIT 1")
    base = params_from_config(whole_config(saltelli_job / "bilancio.db", run["config"]))
    outputs: dict[str, list[float]] = {
        "trading_effect": [],
        "delta_passive": [],
        "delta_active": [],
    }
    for log_kappa, rho in points:
        got = {k: [] for k in outputs}
        for seed in (1, 2):
            params = dataclasses.replace(
                base, kappa=float(10**log_kappa), outside_mid_ratio=float(rho), seed=seed
            )
            pair = simulate_pair(params)
            dp, da = pair.passive.delta_total, pair.active.delta_total
            got["delta_passive"].append(dp)
            got["delta_active"].append(da)
            got["trading_effect"].append(dp - da)
        for k in outputs:
            outputs[k].append(statistics.fmean(got[k]))
    for metric, y in outputs.items():
        expected = analyze.analyze(
            problem, np.array(y), calc_second_order=True, num_resamples=1000, seed=6
        )  # the design seed + 1: SALib draws unseeded for a seed of 0
        stored = group["metrics"][metric]["indices"]
        for i, name in enumerate(problem["names"]):
            for kind in ("S1", "ST", "S1_conf", "ST_conf"):
                assert stored[name][kind] == pytest.approx(expected[kind][i], abs=1e-9), (
                    metric,
                    name,
                    kind,
                )
    # the known answer: ρ prices the dealers' quotes, and the passive ring has no dealers
    passive = group["metrics"]["delta_passive"]["indices"]
    assert passive["outside_mid_ratio"]["S1"] == pytest.approx(0, abs=1e-12)
    assert passive["outside_mid_ratio"]["ST"] == pytest.approx(0, abs=1e-12)
    assert passive["kappa"]["ST"] > 0.2  # while liquidity does move it


def test_the_indices_are_stored_printed_and_drawn(saltelli_job) -> None:
    (metrics,) = rows(saltelli_job / "bilancio.db", "SELECT raw_summary FROM job_metrics")
    stored = json.loads(metrics["raw_summary"])["sensitivity"]
    assert stored == _shown(saltelli_job)  # the command reads what the sweep stored
    table = bilancio("jobs", "sensitivity", "salt", cwd=saltelli_job)
    assert table.returncode == 0, table.stderr
    assert "Saltelli sample of N = 8, 48 points" in table.stdout
    assert "kappa in [0.3, 3] (log), outside_mid_ratio in [0.5, 1.5]" in table.stdout
    assert "computed from the runs now" not in table.stdout
    lines = table.stdout.splitlines()
    at = next(i for i, x in enumerate(lines) if x.strip().startswith("δ passive"))
    kappa = stored["groups"][0]["metrics"]["delta_passive"]["indices"]["kappa"]
    assert f"{kappa['S1']:.3f} ± {kappa['S1_conf']:.3f}" in lines[at]
    assert lines[at + 1].split() == [
        "outside_mid_ratio",
        "0.000",
        "±",
        "0.000",
        "0.000",
        "±",
        "0.000",
    ]


def test_a_job_that_is_not_saltelli_is_refused(tmp_path) -> None:
    done = bilancio("-m", "kappa=0.5,1", "n_agents=12", "job.id=grid", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    refused = bilancio("jobs", "sensitivity", "grid", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "hydra.sweeper.design=saltelli" in refused.stderr
    (metrics,) = rows(tmp_path / "bilancio.db", "SELECT raw_summary FROM job_metrics")
    assert "sensitivity" not in json.loads(metrics["raw_summary"])


def test_an_incomplete_design_is_said_to_be_one(saltelli_job) -> None:
    from bilancio.analysis.cells import pairs_of
    from bilancio.analysis.sensitivity import indices
    from bilancio.storage import open_store

    store = open_store({"backend": "sqlite", "path": str(saltelli_job / "bilancio.db")})
    try:
        job, runs = store.get_job("salt"), store.job_runs("salt")
    finally:
        store.close()
    pairs = [p for p in pairs_of(runs) if p.job_num != 7]
    (group,) = indices(job, pairs)["groups"]
    assert group["metrics"] == {}
    assert "the design has 48 points" in group["note"] and "has 47 completed pairs" in group["note"]


def test_the_report_draws_the_stored_indices(saltelli_job) -> None:
    from bilancio.analysis import report

    from .sweep_helpers import report_inputs

    job, cells, pairs = report_inputs(saltelli_job / "bilancio.db", "salt")
    built = dict((m.NAME, f) for m, f in report.build(cells, pairs, job))
    assert "sensitivity" not in dict((m.NAME, f) for m, f in report.build(cells, pairs))
    stored = job["job_metrics"]["raw_summary"]["sensitivity"]["groups"][0]["metrics"]
    bars = [t for t in built["sensitivity"].data if t.type == "bar"]
    assert len(bars) == 6  # S1 and ST for each of the three outputs
    for trace, metric in zip(
        bars[::2], ["trading_effect", "delta_passive", "delta_active"], strict=True
    ):
        indices = stored[metric]["indices"]
        assert list(trace.x) == ["kappa", "outside_mid_ratio"]
        assert list(trace.y) == [indices["kappa"]["S1"], indices["outside_mid_ratio"]["S1"]]
        assert list(trace.error_y.array) == [
            indices["kappa"]["S1_conf"],
            indices["outside_mid_ratio"]["S1_conf"],
        ]
    page = report.render(job, cells, pairs)
    assert "data-figure='sensitivity'" in page


def test_the_sensitivity_experiment_runs_at_a_tiny_size(tmp_path) -> None:
    done = bilancio(
        "+experiments=sensitivity", "hydra.sweeper.samples=2", "seed=1", "n_agents=12",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Saltelli sample of N = 2, 20 points" in done.stdout  # 2·(2·4 + 2)
    assert len(rows(tmp_path / "bilancio.db", "SELECT 1 FROM runs")) == 2 * 20


def test_each_combination_of_the_other_lists_has_its_own_indices(tmp_path) -> None:
    done = bilancio(
        "-m", "kappa=tag(log,interval(0.3,3))", "outside_mid_ratio=interval(0.5,1.5)",
        "mu=0,1", "seed=1", "n_agents=30", "default_handling=expel-agent",
        "hydra.sweeper.design=saltelli",
        "hydra.sweeper.samples=4", "job.id=two", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(bilancio("jobs", "sensitivity", "two", "--json", cwd=tmp_path).stdout)
    assert [g["values"] for g in found["groups"]] == [{"mu": 0.0}, {"mu": 1.0}]
    # at μ = 0 every debt is due on day 1 (MODEL.md's maturity offsets): nobody pays before
    # being paid, the market changes nothing, and the trading effect is 0 at every point
    flat = found["groups"][0]["metrics"]["trading_effect"]
    assert flat["indices"] is None and "no variation" in flat["note"]
    assert found["groups"][1]["metrics"]["trading_effect"]["indices"]["kappa"]["ST"] is not None


def test_the_results_api_gives_the_indices_as_a_frame(saltelli_job) -> None:
    from bilancio import results

    frame = results.sensitivity("salt", storage=saltelli_job / "bilancio.db")
    stored = _shown(saltelli_job)["groups"][0]["metrics"]
    assert len(frame) == 3 * 2  # outputs × parameters
    for row in frame.to_dict("records"):
        expected = stored[row["output"]]["indices"][row["parameter"]]
        assert {k: row[k] for k in ("S1", "S1_conf", "ST", "ST_conf")} == expected


def test_the_intervals_are_reproducible_with_the_default_design_seed(tmp_path) -> None:
    sweep = ["-m", "kappa=interval(0.2,5)", "mu=1", "n_agents=12", "seed=1",
             "hydra.sweeper.design=saltelli", "hydra.sweeper.samples=4"]  # fmt: skip
    shown = []
    for job in ("one", "two"):
        done = bilancio(*sweep, f"job.id={job}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        shown.append(_json(tmp_path, job)["groups"])
    assert shown[0] == shown[1]  # the bootstrap intervals too, not only the indices


def _json(where, job: str) -> dict:
    done = bilancio("jobs", "sensitivity", job, "--json", cwd=where)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_a_cell_counts_a_duplicated_point_once(saltelli_job) -> None:
    # with two ranges SALib's BA_1 row equals AB_2: the same pair twice, which is one replicate
    cells = rows(saltelli_job / "bilancio.db", "SELECT n_pairs, n, seeds FROM cell_metrics")
    assert all(c["n_pairs"] == c["n"] == len(json.loads(c["seeds"])) == 2 for c in cells)
    points = rows(
        saltelli_job / "bilancio.db",
        "SELECT COUNT(*) AS n FROM runs WHERE regime = 'passive' GROUP BY kappa, outside_mid_ratio",
    )
    assert any(p["n"] == 4 for p in points)  # a point that is there twice (for each seed)


def test_no_indices_is_exit_1(tmp_path) -> None:
    done = bilancio("-m", "kappa=interval(0.01,0.02)", "mu=0", "n_agents=12", "seed=1",
                    "hydra.sweeper.design=saltelli", "hydra.sweeper.samples=2",
                    "job.id=flat", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = bilancio("jobs", "sensitivity", "flat", cwd=tmp_path)
    assert shown.returncode == 1 and "no variation" in shown.stdout
    assert "no indices" in shown.stderr


def test_rerun_failed_only_completes_a_saltelli_job_and_keeps_its_design(saltelli_job, tmp_path):
    from .test_other_sweepers import run

    (point,) = rows(
        saltelli_job / "bilancio.db",
        "SELECT kappa FROM runs WHERE job_num = 3 AND regime = 'passive'",
    )
    failing = run(*SWEEP, cwd=tmp_path, BILANCIO_TEST_FAIL_AT_KAPPA=repr(point["kappa"]))
    assert failing.returncode == 1, failing.stderr
    assert bilancio("jobs", "sensitivity", "salt", cwd=tmp_path).returncode == 1  # incomplete
    done = run("rerun", "salt", "--failed-only", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (job,) = rows(tmp_path / "bilancio.db", "SELECT overrides FROM jobs")
    assert "hydra.sweeper.design=saltelli" in json.loads(job["overrides"])
    assert _json(tmp_path, "salt")["groups"] == _shown(saltelli_job)["groups"]
