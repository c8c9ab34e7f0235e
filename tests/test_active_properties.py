"""Invariants and behaviour of the active regime over random and gridded parameters."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bilancio.model import ModelParams, TradeRecord, simulate, simulate_pair

from .test_properties import params_strategy

active_params = st.builds(
    lambda p, risk, spread, horizon: ModelParams(
        **{
            **p.to_dict(),
            "market": {
                "risk": {"enabled": risk},
                "horizon": horizon,
                "spreads": {"short": spread, "mid": spread, "long": spread},
            },
        }
    ),
    params_strategy,
    st.booleans(),
    st.sampled_from([0.0, 0.1, 0.3, 0.8]),
    st.sampled_from([0, 3, 10]),
)


@settings(max_examples=120, deadline=None)
@given(active_params)
def test_books_stay_consistent(p: ModelParams) -> None:
    problems: list[str] = []
    totals: list[float] = []

    def check(day: int, ledger) -> None:
        totals.append(ledger.total_cash())
        for i, c in enumerate(ledger.cash):
            if c < 0:
                problems.append(f"day {day}: {ledger.names[i]} has {c}")
        for pid in range(ledger.n_original):
            h = ledger.holder[pid]
            if not 0 <= h < len(ledger.names):
                problems.append(f"claim {pid} held by no agent ({h})")
            if ledger.is_live(pid) and not ledger.rolled[pid] and h == ledger.debtor[pid]:
                problems.append(f"claim {pid} is held by its own issuer")

    simulate(p, regime="active", on_day_end=check)
    assert not problems
    for total in totals:
        assert math.isclose(total, totals[0], rel_tol=0, abs_tol=1e-9 * max(1.0, totals[0]))


@settings(max_examples=120, deadline=None)
@given(active_params)
def test_risk_gate_never_accepts_what_the_spec_rejects(p: ModelParams) -> None:
    trades: list[TradeRecord] = []
    r = simulate(p, regime="active", on_trade=trades.append)
    risk = p.market.risk
    for t in trades:
        if not risk.enabled:
            if t.side == "buy":
                assert t.unit_price <= 1 + 1e-9
            continue
        expected_value = 1 - t.default_prob
        if t.side == "sell":
            theta = (
                risk.base_premium - risk.urgency * t.shortfall / t.wealth if t.wealth > 0 else -1.0
            )
            assert t.unit_price >= expected_value + theta - 1e-9
        else:
            assert (
                expected_value
                >= t.unit_price + risk.buy_premium_multiplier * risk.base_premium - 1e-9
            )
    assert r.n_trades == len(trades) == r.n_sells + r.n_buys == r.n_interior + r.n_passthrough
    assert r.trade_volume_cash == math.fsum(t.cash for t in trades) or math.isclose(
        r.trade_volume_cash, math.fsum(t.cash for t in trades), abs_tol=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(active_params)
def test_pairs_are_deterministic_and_consistent(p: ModelParams) -> None:
    pair = simulate_pair(p)
    again = simulate_pair(ModelParams(**p.to_dict()))
    assert pair.to_dict() == again.to_dict()
    assert pair.passive == simulate(p, regime="passive")
    assert pair.active == simulate(p, regime="active")
    a = pair.active
    assert a.n_trades == a.n_sells + a.n_buys == a.n_interior + a.n_passthrough
    if a.total_face > 0:
        assert math.isclose(a.delta_total * a.total_face, a.unpaid_face, abs_tol=1e-9)
        assert pair.trading_effect == pair.passive.delta_total - a.delta_total


GRID = list(itertools.product([0.25, 0.5, 1, 2, 4], [0.2, 0.5, 1, 2, 5], [0, 0.25, 0.5, 0.75, 1]))


def _grid_params(kappa: float, c: float, mu: float, rho: float) -> ModelParams:
    return ModelParams(
        n_agents=50,
        kappa=kappa,
        concentration=c,
        mu=mu,
        outside_mid_ratio=rho,
        default_handling="expel-agent",
    )


def test_behaviour_on_the_balanced_grid() -> None:
    """The market must matter: effects are not all zero, trades happen, and ρ reaches prices."""
    effects, trades, rho_changes = [], 0, 0
    for kappa, c, mu in GRID:
        pair = simulate_pair(_grid_params(kappa, c, mu, 1.0))
        effects.append(pair.trading_effect)
        trades += pair.active.n_trades
        if simulate(_grid_params(kappa, c, mu, 0.5), "active").to_dict() != pair.active.to_dict():
            rho_changes += 1
    assert len(effects) == 125
    assert any(abs(e) > 1e-12 for e in effects)
    assert trades > 0
    assert rho_changes > 0
