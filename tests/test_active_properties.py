"""Invariants and behaviour of the active regime over random and gridded parameters."""

from __future__ import annotations

import itertools
import math

import numpy as np
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


@settings(max_examples=80, deadline=None)
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


@settings(max_examples=80, deadline=None)
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
@given(active_params, st.sampled_from(["passive", "active"]))
def test_trade_and_default_records_agree_with_the_counters(p: ModelParams, regime: str) -> None:
    trades: list[TradeRecord] = []
    defaults: list[tuple[int, str]] = []
    r = simulate(
        p, regime=regime, on_trade=trades.append, on_default=lambda d, a: defaults.append((d, a))
    )
    assert r == simulate(p, regime=regime)  # recording changes no result
    agents = [a for _, a in defaults]
    assert len(agents) == len(set(agents)) == r.n_defaults  # each defaults once
    assert [d for d, _ in defaults] == sorted(d for d, _ in defaults)
    if p.default_handling == "fail-fast" and defaults:
        assert r.stop_reason == "default" and defaults[-1][0] == r.days_run
    for t in trades:
        assert t.venue == t.market_maker.split("_")[0] and t.bucket == t.market_maker.split("_")[1]
        tau = t.due_day - t.day
        assert t.bucket == ("short" if tau <= 3 else "mid" if tau <= 8 else "long") and tau >= 1
        assert t.issuer != t.customer
        if t.side == "buy":
            assert t.unit_price <= t.threshold + 1e-9
        elif t.threshold is not None:  # None: risk assessment off
            assert t.unit_price >= t.threshold - 1e-9
    if regime == "active":
        assert sum(t.venue == "dealer" for t in trades) == r.n_interior


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


def _book_from_scratch(ledger, day: int, n_traders: int, makers: set[int]):
    """The market's view recomputed from every payable: the oracle for the incremental book."""
    owed: dict[tuple[int, int], float] = {}
    held: dict[tuple[int, int], float] = {}
    claims: dict[int, set[int]] = {}
    stock: dict[int, list[tuple[int, int]]] = {m: [] for m in makers}
    for pid in range(ledger.n_original):
        if not ledger.is_live(pid):
            continue
        due, a = ledger.due[pid], ledger.amount[pid]
        d, h = ledger.debtor[pid], ledger.holder[pid]
        owed[d, due] = owed.get((d, due), 0.0) + a
        held[h, due] = held.get((h, due), 0.0) + a
        if a > 0 and not ledger.rolled[pid]:
            if h in makers:
                stock[h].append((due, pid))
            else:
                claims.setdefault(h, set()).add(pid)
    customers = [i for i in range(n_traders) if not ledger.defaulted[i]]
    return owed, held, claims, {m: sorted(s) for m, s in stock.items()}, customers


def _kernel_book(run, day: int):
    """The market's incremental book as the kernel keeps it, read from its arenas."""
    from bilancio.model.kernel import layout as L

    a = run.arenas
    width = int(a.iparam[L.IP_BOOK_WIDTH])
    n_traders = int(a.iparam[L.IP_N_TRADERS])
    customers = [i for i in range(n_traders) if not a.expelled[i]]
    owed = a.owed.reshape(-1, width)
    held = a.held.reshape(-1, width)
    claims = {}
    for i in customers:
        pid, mine = int(a.cl_head[i]), set()
        while pid >= 0:
            mine.add(pid)
            pid = int(a.cl_next[pid])
        claims[i] = mine
    makers = {int(m) for m in np.flatnonzero(a.slot_of >= 0)}
    stock = {m: [] for m in makers}
    for pid, h in enumerate(a.book_holder.tolist()):
        if h in makers:
            stock[h].append((int(a.distance[pid]), pid))
    counts = {
        m: {d: int(a.stock_count[a.slot_of[m] * width + d]) for d in range(width)} for m in makers
    }
    return customers, owed, held, claims, {m: sorted(s) for m, s in stock.items()}, counts


@settings(max_examples=80, deadline=None)
@given(active_params)
def test_incremental_book_matches_a_full_recount(p: ModelParams) -> None:
    """Before each market phase, the kernel's incremental book (brought up to the day as the
    market phase does, nothing else run) equals a recount from every payable of the books."""
    from bilancio.model.kernel import layout as L
    from bilancio.model.ledger import Ledger
    from bilancio.model.runner import KernelRun
    from bilancio.model.scenario import generate
    from bilancio.model.simulate import rules_of

    run = KernelRun(generate(p).to_arrays(), rules_of(p), p, active=True)
    mismatches: list[str] = []
    ended = False
    while not ended:
        day = run.next_day
        run.sync_book(day)
        if day < run.arenas.istat[L.IS_MARKET_LAST_DUE]:  # the market trades (and syncs) today
            ledger = Ledger(run)
            customers, owed, held, claims, stock, counts = _kernel_book(run, day)
            makers = set(stock)
            r_owed, r_held, r_claims, r_stock, r_customers = _book_from_scratch(
                ledger, day, p.n_agents, makers
            )
            if customers != r_customers:
                mismatches.append(f"day {day}: customers {customers} != {r_customers}")
            for i in customers:
                for d in range(day, owed.shape[1]):
                    if abs(owed[i][d] - r_owed.get((i, d), 0.0)) > 1e-9:
                        mismatches.append(f"day {day}: O[{i}][{d}]")
                    if abs(held[i][d] - r_held.get((i, d), 0.0)) > 1e-9:
                        mismatches.append(f"day {day}: R[{i}][{d}]")
                if claims[i] != r_claims.get(i, set()):
                    mismatches.append(f"day {day}: claims of {i}")
            for m in makers:
                if stock[m] != r_stock[m]:
                    mismatches.append(f"day {day}: stock of {m}")
                for d, n in counts[m].items():
                    if n != sum(1 for due, _ in r_stock[m] if due == d):
                        mismatches.append(f"day {day}: count of {m} on {d}")
        ended = run.advance(day + 1)
    assert not mismatches, mismatches[:5]
