"""Design points (issue 14 items 1-3): checked against the design's definition and against
scipy.stats.qmc and SALib called directly, not against bilancio's own output."""

from __future__ import annotations

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
        (lambda: points("grid", [MU], 4, 1), "design=grid crosses lists: it draws no points"),
        (lambda: points("latin", [MU], 4, 1), "allowed 'grid', 'lhs', 'sobol', 'saltelli'"),
        (lambda: points("lhs", [], 4, 1), "needs at least one continuous range"),
        (lambda: points("lhs", [MU], 0, 1), "invalid hydra.sweeper.samples=0"),
        (lambda: points("lhs", [MU, MU], 4, 1), "a key has two ranges"),
    ],
)
def test_bad_designs_say_what_is_allowed(call, message: str) -> None:
    with pytest.raises(DesignError, match=message):
        call()
