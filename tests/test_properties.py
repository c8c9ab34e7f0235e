"""Invariants of the passive engine over random valid parameters (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bilancio.model import ModelParams, simulate

params_strategy = st.builds(
    ModelParams,
    n_agents=st.integers(3, 40),
    maturity_days=st.integers(1, 12),
    q_total=st.sampled_from([100, 1000, 10000, 2500.5]),
    kappa=st.floats(0.05, 5.0),
    concentration=st.floats(0.1, 5.0),
    mu=st.floats(0.0, 1.0),
    monotonicity=st.sampled_from([0.0, 0.5, -1.0, 1.0]),
    seed=st.integers(0, 2**31),
    outside_mid_ratio=st.floats(0.1, 2.0),
    liquidity_mode=st.sampled_from(["uniform", "single_at"]),
    default_handling=st.sampled_from(["fail-fast", "expel-agent"]),
    rollover=st.booleans(),
    stop_rule=st.sampled_from(["horizon", "bilancio"]),
)


@settings(max_examples=100, deadline=None)
@given(params_strategy)
def test_money_is_conserved_and_never_negative(p: ModelParams) -> None:
    totals: list[float] = []
    negatives: list[tuple[int, str, float]] = []

    def check(day: int, ledger) -> None:
        totals.append(ledger.total_cash())
        negatives.extend((day, ledger.names[i], c) for i, c in enumerate(ledger.cash) if c < 0)

    simulate(p, on_day_end=check)
    assert not negatives
    for total in totals:
        assert math.isclose(total, totals[0], rel_tol=1e-12, abs_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(params_strategy)
def test_accounting_identities(p: ModelParams) -> None:
    r = simulate(p)
    if r.total_face > 0:
        assert r.delta_total is not None and r.phi_total is not None
        assert math.isclose(r.delta_total + r.phi_total, 1.0, abs_tol=1e-12)
        assert math.isclose(r.delta_total * r.total_face, r.unpaid_face, abs_tol=1e-9)
        assert 0.0 <= r.delta_total <= 1.0
    else:
        assert r.delta_total is None and r.phi_total is None
    assert 0 <= r.unpaid_face <= r.total_face
    assert 1 <= r.days_run <= p.horizon_days or r.stop_reason == "default"
    assert r.stop_reason in {"stable", "max_days", "default", "all_defaulted"}
    if p.default_handling == "fail-fast":
        assert r.n_defaults == (1 if r.stop_reason == "default" else 0)


@settings(max_examples=60, deadline=None)
@given(params_strategy)
def test_same_parameters_same_result(p: ModelParams) -> None:
    assert simulate(p).to_dict() == simulate(ModelParams(**p.to_dict())).to_dict()


def test_initial_cash_is_what_the_scenario_mints() -> None:
    # uniform mode: traders κQ + (v+d)Q, market makers (v+d)Q·ρ in all
    p = ModelParams(n_agents=10, q_total=1000, kappa=0.5, outside_mid_ratio=0.8, seed=3)
    totals: list[float] = []
    simulate(p, on_day_end=lambda day, ledger: totals.append(ledger.total_cash()))
    assert math.isclose(totals[0], 500 + 375 + 375 * 0.8, rel_tol=1e-12)
