"""Bad input raises a ValueError naming the parameter, the value and the allowed domain."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bilancio.model import ModelParams, ParameterError, simulate


def _rejects(pattern: str, **kwargs) -> ParameterError:
    with pytest.raises(ValueError, match=pattern) as info:
        ModelParams(**kwargs)
    assert isinstance(info.value, ParameterError)
    return info.value


def test_two_agents() -> None:
    err = _rejects(r"n_agents=2.*integer in \[3, 1,000,000\]", n_agents=2)
    assert (err.name, err.value) == ("n_agents", 2)


def test_zero_kappa() -> None:
    _rejects(r"kappa=0.*> 0", kappa=0)


def test_mu_above_one() -> None:
    _rejects(r"mu=1\.5.*\[0, 1\]", mu=1.5)


def test_negative_concentration() -> None:
    _rejects(r"concentration=-1.*>= 0.01", concentration=-1)


def test_domains_that_protect_the_machine_and_the_database() -> None:
    # MODEL.md §1: a seed must fit a 64-bit database integer
    assert ModelParams(seed=2**63 - 1).seed == 2**63 - 1
    _rejects(r"seed=9223372036854775808.*\[0, 2\*\*63 - 1\]", seed=2**63)
    _rejects(r"seed=1180591620717411303424", seed=2**70)
    _rejects(r"seed=-1", seed=-1)
    # below 0.01 every gamma draw can underflow to 0 and the Dirichlet split is undefined
    assert ModelParams(concentration=0.01).concentration == 0.01
    _rejects(r"concentration=0.0001.*>= 0.01", concentration=1e-4)
    _rejects(r"concentration=0.0099", concentration=0.0099)
    # 10^6 agents already take about 40 s and 2 GB per run
    assert ModelParams(n_agents=1_000_000).n_agents == 1_000_000
    _rejects(r"n_agents=1000001.*\[3, 1,000,000\]", n_agents=1_000_001)
    _rejects(r"n_agents=10000000", n_agents=10_000_000)


def test_smallest_concentration_runs_for_many_seeds() -> None:
    # at the domain's edge no seed may crash the generator (at 1e-4 one seed in twenty did)
    for seed in range(40):
        result = simulate(ModelParams(n_agents=20, concentration=0.01, seed=seed), "passive")
        # face Q·(1 + v + d) = 13750 before flooring; each of at most 3n payables loses < 1
        assert 13750 - 60 <= result.total_face <= 13750
        assert 0 <= result.delta_total <= 1


def test_unknown_default_handling() -> None:
    _rejects(r"default_handling='expel'.*'fail-fast', 'expel-agent'", default_handling="expel")


def test_non_integer_seed() -> None:
    _rejects(r"seed=1\.5.*integer in \[0, 2\*\*63 - 1\]", seed=1.5)


def test_string_seed() -> None:
    _rejects(r"seed='42'.*integer", seed="42")


def test_nan() -> None:
    _rejects(r"kappa=nan.*finite", kappa=math.nan)


def test_infinite() -> None:
    _rejects(r"q_total=inf.*finite", q_total=math.inf)


def test_infinite_mu() -> None:
    _rejects(r"mu=-inf", mu=-math.inf)


def test_boolean_is_not_a_number() -> None:
    _rejects(r"n_agents=True", n_agents=True)


def test_outside_mid_ratio_domain() -> None:
    _rejects(r"outside_mid_ratio=0.*\(0, 2\]", outside_mid_ratio=0)
    _rejects(r"outside_mid_ratio=2\.5", outside_mid_ratio=2.5)


def test_liquidity_agent_must_be_a_trader() -> None:
    _rejects(r"liquidity_agent='H6'.*H1\.\.H5", n_agents=5, liquidity_agent="H6")
    # exactly the names H1 … Hn (MODEL.md §1), not other spellings of their numbers
    for name in ("H0", "H05", "h5", "H+5", " H5", "H5 ", "H٥", "H", "5", "H" + "9" * 5000):
        _rejects(r"liquidity_agent=", n_agents=5, liquidity_agent=name)
    _rejects(r"liquidity_agent=5", n_agents=5, liquidity_agent=5)
    for name in ("H1", "H5"):
        assert ModelParams(n_agents=5, liquidity_agent=name).liquidity_agent == name
    assert ModelParams(n_agents=1_000_000, liquidity_agent="H1000000").n_agents == 1_000_000


def test_unknown_regime() -> None:
    with pytest.raises(ValueError, match=r"regime='both'.*'passive', 'active'"):
        simulate(ModelParams(), regime="both")


def test_frozen_and_defaults() -> None:
    p = ModelParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.kappa = 2.0  # type: ignore[misc]
    assert (p.n_agents, p.maturity_days, p.q_total, p.kappa, p.mu, p.seed) == (
        100,
        10,
        10000.0,
        1.0,
        0.5,
        42,
    )
    assert p.horizon_days == 30
    assert ModelParams(maturity_days=40).horizon_days == 45
    assert (p.default_handling, p.stop_rule, p.rollover, p.quiet_days) == (
        "fail-fast",
        "horizon",
        True,
        2,
    )


def test_to_dict_is_dataclasses_asdict() -> None:
    """to_dict skips asdict's deep copy; what it returns must be what asdict returns."""
    for params in (
        ModelParams(),
        ModelParams(kappa=2, market={"horizon": 3, "spreads": {"mid": 0.5}}),
        ModelParams(market={"risk": {"enabled": False, "lookback": 2}}, max_days=7),
    ):
        assert params.to_dict() == dataclasses.asdict(params)
        assert type(params.to_dict()["market"]["spreads"]["mid"]) is float


def test_a_market_given_as_a_mapping_is_validated_every_time() -> None:
    """Equal market sections give one shared (frozen) object; a different or invalid one is
    made and checked afresh, an int kept apart from a float and a bool."""
    a = ModelParams(market={"horizon": 3})
    b = ModelParams(market={"horizon": 3})
    assert a.market == b.market and a.market.horizon == 3
    assert ModelParams(market={"horizon": 4}).market.horizon == 4
    _rejects(r"market\.horizon=3\.0", market={"horizon": 3.0})
    _rejects(r"market\.horizon=True", market={"horizon": True})
    _rejects(r"market\.risk\.lookback=0", market={"risk": {"lookback": 0}})
    _rejects(r"market\.risk\.lookback=0", market={"risk": {"lookback": 0}})  # not remembered
