"""Design points (issue 14 items 1-3): checked against the design's definition and against
scipy.stats.qmc and SALib called directly, not against bilancio's own output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from bilancio.sweep.designs import DesignError, Range, points, range_of, saltelli_size

KAPPA = Range("kappa", 0.2, 5.0, log=True)
CONC = Range("concentration", 0.2, 5.0)
MU = Range("mu", 0.0, 1.0)


def _parsed(*overrides: str):
    return OverridesParser.create().parse_overrides(list(overrides))


def test_hydra_intervals_are_ranges() -> None:
    plain, logged = _parsed("mu=interval(0,1)", "kappa=tag(log, interval(0.2,5))")
    assert range_of(plain) == Range("mu", 0.0, 1.0)
    assert range_of(logged) == Range("kappa", 0.2, 5.0, log=True)
    (odd,) = _parsed("mu=tag(cube, interval(0,1))")
    with pytest.raises(DesignError, match="invalid tag for mu: cube"):
        range_of(odd)


@pytest.mark.parametrize("samples", [7, 20])
def test_every_lhs_stratum_holds_one_point(samples: int) -> None:
    drawn, said = points("lhs", [KAPPA, CONC, MU], samples, seed=3)
    assert len(drawn) == samples and said == []
    for r in (KAPPA, CONC, MU):
        low, high = (math.log10(r.low), math.log10(r.high)) if r.log else (r.low, r.high)
        scaled = [(math.log10(p[r.key]) if r.log else p[r.key]) for p in drawn]
        strata = sorted(min(int((x - low) / (high - low) * samples), samples - 1) for x in scaled)
        assert strata == list(range(samples)), r.key  # one point in each of the n strata
        assert all(r.low <= p[r.key] <= r.high for p in drawn)


def test_sobol_points_are_scipys_for_the_seed() -> None:
    from scipy.stats import qmc

    drawn, said = points("sobol", [KAPPA, MU], 16, seed=11)
    assert said == []
    unit = qmc.Sobol(d=2, scramble=True, rng=11).random(16)
    expected_kappa = 10 ** (math.log10(0.2) + unit[:, 0] * (math.log10(5.0) - math.log10(0.2)))
    np.testing.assert_allclose([p["kappa"] for p in drawn], expected_kappa, rtol=1e-12)
    np.testing.assert_allclose([p["mu"] for p in drawn], unit[:, 1], rtol=1e-12, atol=1e-15)


def test_a_sobol_count_that_is_not_a_power_of_two_is_warned_of() -> None:
    drawn, said = points("sobol", [MU], 10, seed=1)
    assert len(drawn) == 10
    assert said and "power of 2" in said[0]


def test_the_seed_fixes_the_points() -> None:
    assert points("lhs", [MU, CONC], 5, 1) == points("lhs", [MU, CONC], 5, 1)
    assert points("lhs", [MU, CONC], 5, 1) != points("lhs", [MU, CONC], 5, 2)


def test_saltelli_is_salibs_sample() -> None:
    from SALib.sample import sobol

    drawn, _ = points("saltelli", [KAPPA, MU], 8, seed=5)
    assert len(drawn) == saltelli_size(8, 2) == 48  # N·(2D+2)
    problem = {
        "num_vars": 2,
        "names": ["kappa", "mu"],
        "bounds": [[math.log10(0.2), math.log10(5.0)], [0.0, 1.0]],
    }
    expected = sobol.sample(problem, 8, calc_second_order=True, seed=5)
    np.testing.assert_allclose([math.log10(p["kappa"]) for p in drawn], expected[:, 0])
    np.testing.assert_allclose([p["mu"] for p in drawn], expected[:, 1])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Range("kappa", 5, 0.2), r"invalid range for kappa: interval\(5,0.2\)"),
        (lambda: Range("kappa", 0, 5, log=True), "a log scale needs low > 0"),
        (lambda: points("grid", [MU], 4, 1), "hydra.sweeper.design=grid draws no points"),
        (
            lambda: points("latin", [MU], 4, 1),
            "allowed 'grid', 'lhs', 'sobol', 'saltelli', 'frontier'",
        ),
        (lambda: points("lhs", [], 4, 1), "needs at least one continuous range"),
        (lambda: points("lhs", [MU], 0, 1), "invalid hydra.sweeper.samples=0"),
        (lambda: points("lhs", [MU, MU], 4, 1), "a key has two ranges"),
    ],
)
def test_bad_designs_say_what_is_allowed(call, message: str) -> None:
    with pytest.raises(DesignError, match=message):
        call()


# -- real sweeps -------------------------------------------------------------------------------

LHS = [
    "-m",
    "mu=0,1",
    "kappa=tag(log, interval(0.2,5))",
    "concentration=interval(0.2,5)",
    "seed=range(1,3)",
    "hydra.sweeper.design=lhs",
    "hydra.sweeper.samples=6",
    "hydra.sweeper.design_seed=4",
    "n_agents=12",
    "job.id=lhs",
]


def test_an_lhs_sweep_crosses_its_points_with_lists_and_seeds(tmp_path) -> None:
    from .sweep_helpers import bilancio, rows

    done = bilancio(*LHS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    db = tmp_path / "bilancio.db"
    runs = rows(
        db, "SELECT job_num, kappa, concentration, mu, seed FROM runs WHERE regime='active'"
    )
    assert len(runs) == 6 * 2 * 2  # points × μ × seeds
    (job,) = rows(db, "SELECT overrides FROM jobs")
    assert "hydra.sweeper.design=lhs hydra.sweeper.samples=6 hydra.sweeper.design_seed=4" in (
        " ".join(json.loads(job["overrides"]))
    )  # what jobs show and the report's config block print
    points_stored = sorted({(r["kappa"], r["concentration"]) for r in runs})
    assert len(points_stored) == 6
    for combo in {(r["mu"], r["seed"]) for r in runs}:  # every point with every μ and seed
        assert (
            sorted((r["kappa"], r["concentration"]) for r in runs if (r["mu"], r["seed"]) == combo)
            == points_stored
        )
    # the definition: one point in each of the 6 strata of each range (κ's on the log scale)
    for index, (low, high, log) in enumerate([(0.2, 5.0, True), (0.2, 5.0, False)]):
        scale = math.log10 if log else (lambda x: x)
        strata = sorted(
            min(int((scale(p[index]) - scale(low)) / (scale(high) - scale(low)) * 6), 5)
            for p in points_stored
        )
        assert strata == list(range(6))
    # the same command resumes; another design seed is another sweep, refused
    again = bilancio(*LHS, cwd=tmp_path)
    assert again.returncode == 0 and "24 already done" in again.stderr
    other = bilancio(*LHS, "hydra.sweeper.design_seed=5", cwd=tmp_path)
    assert other.returncode == 2 and "other design settings" in other.stderr
    assert len(rows(db, "SELECT 1 FROM runs")) == 48
    # a rerun reproduces every run from the stored values, without drawing
    rerun = bilancio("rerun", "lhs", cwd=tmp_path)
    assert rerun.returncode == 0 and "48/48 runs identical" in rerun.stdout, rerun.stderr


def test_a_sobol_sweep_stores_scipys_points(tmp_path) -> None:
    from scipy.stats import qmc

    from .sweep_helpers import bilancio, rows

    done = bilancio(
        "-m",
        "kappa=interval(0.25,4)",
        "hydra.sweeper.design=sobol",
        "hydra.sweeper.samples=8",
        "hydra.sweeper.design_seed=9",
        "n_agents=12",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "power of 2" not in done.stderr
    stored = [
        r["kappa"]
        for r in rows(
            tmp_path / "bilancio.db",
            "SELECT kappa FROM runs WHERE regime='passive' ORDER BY job_num",
        )
    ]
    expected = 0.25 + qmc.Sobol(d=1, scramble=True, rng=9).random(8)[:, 0] * (4 - 0.25)
    np.testing.assert_allclose(stored, expected, rtol=1e-12)
    odd = bilancio(
        "-m", "kappa=interval(0.25,4)", "hydra.sweeper.design=sobol", "hydra.sweeper.samples=3",
        "n_agents=12", "job.id=odd", cwd=tmp_path,
    )  # fmt: skip
    assert odd.returncode == 0, odd.stderr
    assert "warning: hydra.sweeper.design=sobol: The balance properties of Sobol' points" in (
        odd.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kappa=interval(0.2,5)"], "Sample the range with hydra.sweeper.design=lhs"),
        (
            ["kappa=interval(0.2,5)", "hydra.sweeper.design=lhs"],
            "invalid hydra.sweeper.samples=None",
        ),
        (
            ["kappa=0.5,1", "hydra.sweeper.samples=3"],
            "hydra.sweeper.samples=3 needs a sampled design",
        ),
        (
            ["kappa=interval(0.2,5)", "hydra.sweeper.design=latin"],
            "allowed 'grid', 'lhs', 'sobol', 'saltelli', 'frontier'",
        ),
    ],
)
def test_bad_design_settings_are_refused_before_anything_runs(tmp_path, args, message) -> None:
    from .sweep_helpers import bilancio

    done = bilancio("-m", *args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "bilancio.db").exists()


def test_the_lhs_experiment_runs_at_a_tiny_size(tmp_path) -> None:
    from .sweep_helpers import bilancio, rows

    done = bilancio(
        "+experiments=lhs_liquidity",
        "hydra.sweeper.samples=3",
        "seed=1",
        "n_agents=12",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    runs = rows(tmp_path / "bilancio.db", "SELECT kappa, concentration, mu FROM runs")
    assert len(runs) == 3 * 2 * 2  # 3 points × μ ∈ {0, 1} × 2 regimes
    assert all(0.2 <= r["kappa"] <= 5 and 0.2 <= r["concentration"] <= 5 for r in runs)
    assert "cells: 6 cells (κ × c × μ)" in done.stdout


def test_a_design_checks_each_key_against_the_schema_once(in_process, monkeypatch, capsys) -> None:
    """A check of a value copies the typed config (milliseconds): 500 drawn points must not
    mean 1,000 of them. 17.1 s → 3.2 s for a 4,000-point LHS here."""
    from bilancio.sweep import plan

    calls = []
    real = plan._checked_value
    monkeypatch.setattr(plan, "_checked_value", lambda *a: calls.append(a[1:]) or real(*a))
    code = in_process("-m", "kappa=interval(0.2,5)", "concentration=interval(0.2,5)",
                      "n_agents=5,6", "hydra.sweeper.design=lhs", "hydra.sweeper.samples=500",
                      "maturity_days=2", "+cloud=modal", "hydra.launcher.dry_run=true")  # fmt: skip
    assert code in (0, None), capsys.readouterr().err
    assert "dry run: 1000 jobs" in capsys.readouterr().out
    assert sorted({k for k, _ in calls}) == ["concentration", "kappa", "maturity_days", "n_agents"]
    assert len(calls) <= 8  # about once per key (and type), not once per point


def test_a_value_the_schema_refuses_is_refused_after_others_passed(tmp_path) -> None:
    from .sweep_helpers import bilancio

    done = bilancio("-m", "n_agents=5,6,7.5", cwd=tmp_path)
    assert done.returncode == 2 and "invalid n_agents=7.5: allowed an integer" in done.stderr
    ints = bilancio("-m", "kappa=1,2", "n_agents=5", "job.id=ints", cwd=tmp_path)
    assert ints.returncode == 0, ints.stderr
    from .sweep_helpers import rows, whole_config

    db = tmp_path / "bilancio.db"
    stored = rows(db, "SELECT config FROM runs WHERE regime='passive' ORDER BY job_num")
    configs = [whole_config(db, c["config"]) for c in stored]
    assert [c["kappa"] for c in configs] == [1.0, 2.0]
    assert all(isinstance(c["kappa"], float) for c in configs)
