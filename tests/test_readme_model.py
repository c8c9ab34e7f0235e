"""What the README's model introduction ("What is simulated") promises, checked on the model.
Expected values come from MODEL.md's definitions (due days, cash, shares), not from runs."""

from __future__ import annotations

import pytest

from bilancio.model import ModelParams, generate, simulate, simulate_pair


def _ring(params: ModelParams):
    return generate(params).payables[: params.n_agents]


@pytest.mark.parametrize("mu, early", [(0.25, 20), (0.5, 40), (0.75, 70), (1.0, 90)])
def test_traders_who_pay_before_they_are_paid(mu: float, early: int) -> None:
    """L = round(μ(T−1)) = 2, 4, 7, 9 at T = 10: a trader's own debt is due L days (mod T)
    after the one owed to it, so it comes first whenever that wraps, for L of every 10."""
    ring = _ring(ModelParams(seed=7, mu=mu))
    own = {p.debtor: p.due for p in ring}
    owed = {p.creditor: p.due for p in ring}
    assert sum(own[h] < owed[h] for h in own) == early
    if mu == 1.0:
        assert all(owed[h] - own[h] == 1 for h in own if own[h] < owed[h])


def test_mu_zero_puts_every_debt_on_day_one_and_has_no_effect() -> None:
    assert {p.due for p in generate(ModelParams(mu=0)).payables} == {1}
    for seed in range(1, 6):
        for c in (0.2, 1.0, 5.0):
            params = ModelParams(
                n_agents=50, mu=0, seed=seed, concentration=c, default_handling="expel-agent"
            )
            assert simulate_pair(params).trading_effect == 0


def test_cash_and_market_maker_debts() -> None:
    """Traders hold κ·Q plus (v + d)·Q/n each: 1.375·Q at κ = 1; each trader owes v and d of
    its ring debt to the market makers, due on its ring debt's day."""
    params = ModelParams(seed=3)
    scenario = generate(params)
    n = params.n_agents
    assert sum(scenario.cash[:n]) == pytest.approx(1.375 * params.q_total)
    ring = {p.debtor: p for p in scenario.payables[:n]}
    for leg in scenario.payables[n:]:
        own = ring[leg.debtor]
        assert leg.due == own.due
        assert leg.amount <= 0.25 * own.amount + 1e-9


def test_total_face_is_about_1_36_q() -> None:
    """(1 + v + d)·Q = 1.375·Q before flooring, less about 0.5 for each of the 3n payables."""
    for seed in range(1, 21):
        result = simulate(ModelParams(seed=seed), "passive")
        assert 1.355 * 10_000 < result.total_face < 1.365 * 10_000


def test_delta_passive_does_not_fall_as_mu_rises() -> None:
    for kappa in (0.5, 2.0):
        means = []
        for mu in (0, 0.5, 1):
            deltas = [
                simulate(
                    ModelParams(
                        n_agents=50, kappa=kappa, mu=mu, seed=s, default_handling="expel-agent"
                    ),
                    "passive",
                ).delta_total
                for s in range(1, 11)
            ]
            means.append(sum(deltas) / len(deltas))
        assert means == sorted(means), (kappa, means)
        assert means[-1] > means[0]


def test_one_seed_fixes_the_debts_of_every_kappa_mu_and_rho() -> None:
    """Common random numbers: the debt amounts depend on the seed (and n, Q, c, m) only."""
    base = [p.amount for p in generate(ModelParams(seed=11)).payables]
    for change in ({"kappa": 3.0}, {"mu": 1.0}, {"outside_mid_ratio": 0.5}):
        assert [p.amount for p in generate(ModelParams(seed=11, **change)).payables] == base
    assert [p.amount for p in generate(ModelParams(seed=12)).payables] != base
    assert [p.amount for p in generate(ModelParams(seed=11, concentration=2)).payables] != base


def test_the_readmes_125_cell_grid() -> None:
    """κ ∈ {0.25…4} × c ∈ {0.2…5} × μ ∈ {0…1}, n = 50, expel-agent, seed 42: 74 cells with a
    non-zero effect (71 above +0.001, 2 below −0.001), mean +0.045, largest +0.30, 1,114 trades,
    and no trade at μ = 0."""
    import itertools

    effects, trades, trades_at_zero = [], 0, 0
    grid = itertools.product((0.25, 0.5, 1, 2, 4), (0.2, 0.5, 1, 2, 5), (0, 0.25, 0.5, 0.75, 1))
    for kappa, c, mu in grid:
        pair = simulate_pair(
            ModelParams(
                n_agents=50,
                kappa=kappa,
                concentration=c,
                mu=mu,
                seed=42,
                default_handling="expel-agent",
            )
        )
        effects.append(pair.trading_effect)
        trades += pair.active.n_trades
        trades_at_zero += pair.active.n_trades if mu == 0 else 0
    assert len(effects) == 125
    assert sum(e != 0 for e in effects) == 74
    assert sum(e > 0.001 for e in effects) == 71 and sum(e < -0.001 for e in effects) == 2
    assert round(sum(effects) / 125, 3) == 0.045 and round(max(effects), 2) == 0.30
    assert trades == 1114 and trades_at_zero == 0
