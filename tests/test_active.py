"""The active regime (MODEL.md §5): reference runs, worked example D, hand-made trades."""

from __future__ import annotations

import json

import pytest

from bilancio.model import (
    ModelParams,
    Payable,
    Scenario,
    TradeRecord,
    generate,
    run_scenario,
    simulate,
    simulate_pair,
)

from .conftest import REFERENCE

CASES = json.loads((REFERENCE / "active_cases.json").read_text())["cases"]
COUNTERS = (
    "n_trades",
    "n_sells",
    "n_buys",
    "n_interior",
    "n_passthrough",
    "n_rejected_sells",
    "n_rejected_buys",
    "n_unfilled_sells",
    "total_face",
    "unpaid_face",
    "n_defaults",
)


def _params(case: dict) -> ModelParams:
    inputs = {k: v for k, v in case.items() if k not in ("expected", "market_risk_enabled")}
    return ModelParams(**inputs, market={"risk": {"enabled": case["market_risk_enabled"]}})


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"n{c['n_agents']}-s{c['seed']}-{c['default_handling']}"
)
def test_matches_independent_implementation(case: dict) -> None:
    result = simulate(_params(case), regime="active")
    expected = case["expected"]
    assert abs(result.delta_total - float(expected["delta_total"])) <= 1e-12
    assert {k: getattr(result, k) for k in COUNTERS} == {k: expected[k] for k in COUNTERS}


def test_reference_file_has_24_cases() -> None:
    assert len(CASES) == 24


# -- worked example D (MODEL.md §5.9) ----------------------------------------------------------

EXAMPLE_D = dict(
    n_agents=4,
    maturity_days=5,
    q_total=100,
    kappa=1,
    concentration=1,
    mu=1,
    seed=39,
    outside_mid_ratio=1,
    default_handling="expel-agent",
)
AGENTS = ("H1", "H2", "H3", "H4", "vbt_short", "dealer_short", "vbt_mid", "dealer_mid")


def test_example_d_scenario() -> None:
    s = generate(ModelParams(**EXAMPLE_D))
    by_debtor: dict[str, list[tuple[int, str, int]]] = {}
    for p in s.payables:
        by_debtor.setdefault(p.debtor, []).append((p.amount, p.creditor, p.due))
    assert by_debtor["H1"] == [(16, "H2", 2), (4, "vbt_short", 2), (2, "dealer_short", 2)]
    assert by_debtor["H2"] == [(33, "H3", 1), (8, "vbt_short", 1), (4, "dealer_short", 1)]
    assert by_debtor["H3"] == [(15, "H4", 5), (3, "vbt_mid", 5), (1, "dealer_mid", 5)]
    assert by_debtor["H4"] == [(34, "H1", 4), (8, "vbt_mid", 4), (4, "dealer_mid", 4)]
    cash = dict(zip(s.agents, s.cash, strict=True))
    assert [cash[f"H{i}"] for i in range(1, 5)] == [34.375] * 4
    for name, spec in (
        ("vbt_short", 12.5156),
        ("dealer_short", 6.2578),
        ("vbt_mid", 12.4844),
        ("dealer_mid", 6.2422),
    ):
        assert abs(cash[name] - spec) < 1e-4


def _cash_by_day(regime: str) -> tuple[object, dict[int, list[float]], list[TradeRecord]]:
    days: dict[int, list[float]] = {}
    trades: list[TradeRecord] = []

    def snapshot(day: int, ledger) -> None:
        days[day] = [ledger.cash[ledger.names.index(a)] for a in AGENTS]

    result = simulate(
        ModelParams(**EXAMPLE_D), regime=regime, on_day_end=snapshot, on_trade=trades.append
    )
    return result, days, trades


def test_example_d_active_every_cash_movement() -> None:
    result, days, trades = _cash_by_day("active")
    vs, ds, vm, dm = days[0][4:]
    h = 34.375
    expected = {
        0: [h, h, h, h, vs, ds, vm, dm],  # no taker for H2's or H4's claims
        # day 1: H2 pays 33 to H3, then 1.375 of its 8 to vbt_short, and is expelled
        1: [h, 0.0, h + 33, h, vs + 1.375, ds, vm, dm],
        # day 2: H4 sells its claim on H3 (15) to vbt_short for 13.5; H1 pays 16 to H2 (expelled,
        # no rollover), 4 and 2 to the short market makers, which re-lend them (rollover)
        2: [h - 16, 16.0, h + 33, h + 13.5, vs + 1.375 - 13.5, ds, vm, dm],
        3: [h - 16, 16.0, h + 33, h + 13.5, vs + 1.375 - 13.5, ds, vm, dm],  # nothing due
        # day 4: H4 pays 34 + 8 + 4 in full, H1 pays its rolled 4 + 2; all are rolled over
        4: [h - 16, 16.0, h + 33, h + 13.5, vs + 1.375 - 13.5, ds, vm, dm],
        # day 5: H3 pays 15 to vbt_short (the claim's holder), 3 and 1; all rolled over
        5: [h - 16, 16.0, h + 33, h + 13.5, vs + 1.375 - 13.5, ds, vm, dm],
    }
    for day, cash in expected.items():
        assert days[day] == pytest.approx(cash, abs=1e-9), day
    assert len(trades) == 1
    t = trades[0]
    assert (t.day, t.side, t.customer, t.market_maker, t.face) == (2, "sell", "H4", "vbt_short", 15)
    assert t.unit_price == pytest.approx(0.9) and t.cash == pytest.approx(13.5)
    assert t.default_prob == pytest.approx(2.5 / 13)
    assert t.shortfall == pytest.approx(11.625)
    assert t.wealth == pytest.approx(34.375 + (1 - 2.5 / 13) * 15)
    assert (result.unpaid_face, result.total_face) == (12, 132)
    assert result.delta_total == pytest.approx(12 / 132, abs=1e-12)
    assert (result.n_trades, result.n_passthrough, result.n_interior) == (1, 1, 0)
    assert (result.n_unfilled_sells, result.n_rejected_buys, result.n_rejected_sells) == (4, 4, 0)
    assert (result.trade_volume_face, result.trade_volume_cash) == (15, pytest.approx(13.5))


def test_example_d_passive() -> None:
    result, days, _ = _cash_by_day("passive")
    assert result.delta_total == pytest.approx(24 / 132, abs=1e-12)
    # day 4: H4 (34.375) pays 34 to H1, then 0.375 of its 8 to vbt_mid, and is expelled
    assert days[4][3] == 0.0
    assert days[4][6] == pytest.approx(days[0][6] + 0.375, abs=1e-9)
    assert result.n_trades is None


def test_example_d_pair_and_fail_fast() -> None:
    pair = simulate_pair(ModelParams(**EXAMPLE_D))
    assert pair.trading_effect == pytest.approx(12 / 132, abs=1e-12)
    assert pair.trading_relief_ratio == pytest.approx(0.5, abs=1e-12)
    assert pair.passive == simulate(ModelParams(**EXAMPLE_D), regime="passive")
    assert json.loads(json.dumps(pair.to_dict()))["trading_effect"] == pair.trading_effect
    ff = simulate_pair(ModelParams(**{**EXAMPLE_D, "default_handling": "fail-fast"}))
    assert ff.passive.delta_total == ff.active.delta_total == pytest.approx(99 / 132, abs=1e-12)
    assert ff.active.n_trades == 0
    assert ff.trading_effect == 0.0


def test_example_d_trade_record_says_what_the_risk_check_saw() -> None:
    # §5.6 by hand: p = 2.5/13, g = 34 + 8 + 4 − 34.375, W = 34.375 + (1 − p)·15, and the
    # sale needs unit ≥ (1 − p) + 0.02 − 0.1·g/W; the claim (H3's 15, due day 5) is short on
    # day 2 (τ = 3) and went to the VBT
    _, _, (t,) = _cash_by_day("active")
    p, g = 2.5 / 13, 11.625
    wealth = 34.375 + (1 - p) * 15
    assert t.threshold == pytest.approx((1 - p) + 0.02 - 0.1 * g / wealth)
    assert t.unit_price >= t.threshold
    assert (t.bucket, t.venue, t.issuer, t.due_day) == ("short", "vbt", "H3", 5)


def test_example_d_default_days_of_both_regimes() -> None:
    # §5.9: H2 defaults on day 1 in both regimes; passively H4 also defaults on day 4 (it pays
    # 34 and fails on its 8), and the sale on day 2 saves it in the active run
    params = ModelParams(**EXAMPLE_D)
    seen: dict[str, list[tuple[int, str]]] = {"passive": [], "active": []}
    for regime, found in seen.items():
        simulate(
            params, regime=regime, on_default=lambda day, agent, f=found: f.append((day, agent))
        )
    assert seen == {"passive": [(1, "H2"), (4, "H4")], "active": [(1, "H2")]}
    ff: list[tuple[int, str]] = []
    fail_fast = ModelParams(**{**EXAMPLE_D, "default_handling": "fail-fast"})
    simulate(fail_fast, on_default=lambda day, agent: ff.append((day, agent)))
    assert ff == [(1, "H2")]  # the failure that ends the run


def test_a_purchase_records_the_highest_price_it_accepts() -> None:
    # the purchase of test_purchase_from_the_vbt_with_free_cash: p = 0.05, so the limit is
    # 0.95 − 2·0.02; with risk assessment off it is the face, 1
    _, trades, _ = _run_day0("vbt_short")
    assert trades[0].threshold == pytest.approx(0.95 - 0.04)
    assert (trades[0].bucket, trades[0].venue, trades[0].issuer) == ("short", "vbt", "H2")
    off: list[TradeRecord] = []
    run_scenario(
        _market_scenario("vbt_short"),
        default_handling="expel-agent",
        regime="active",
        params=ModelParams(outside_mid_ratio=0.8, market={"risk": {"enabled": False}}),
        on_trade=off.append,
    )
    assert off[0].side == "buy" and off[0].threshold == 1.0


# -- hand-made trades ---------------------------------------------------------------------------

MAKERS = ("vbt_short", "dealer_short", "vbt_mid", "dealer_mid", "vbt_long", "dealer_long")


def _market_scenario(claim_holder: str) -> Scenario:
    """H2 owes ``claim_holder`` 10 on day 2; H1 owes H3 5 on day 5 and has 20 in cash."""
    return Scenario(
        agents=("H1", "H2", "H3") + MAKERS,
        cash=(20.0, 10.0, 0.0) + (0.0,) * 6,
        payables=(Payable("H2", claim_holder, 10, 2), Payable("H1", "H3", 5, 5)),
        n_traders=3,
    )


def _run_day0(claim_holder: str):
    trades: list[TradeRecord] = []
    after: dict[str, object] = {}

    def day0(day: int, ledger) -> None:
        if day == 0:
            after["cash"] = dict(zip(ledger.names, ledger.cash, strict=True))
            after["holder"] = ledger.names[ledger.holder[0]]

    result, _ = run_scenario(
        _market_scenario(claim_holder),
        default_handling="expel-agent",
        regime="active",
        params=ModelParams(outside_mid_ratio=0.8),
        on_day_end=day0,
        on_trade=trades.append,
    )
    return result, trades, after


def test_purchase_from_the_vbt_with_free_cash() -> None:
    # Day 0: p = 0.05 (no history). H1's free cash is 20 − 5 = 15 and its next obligation is on
    # day 5, so the claim due on day 2 qualifies. The dealer holds nothing: pass-through at
    # A = 0.8 + 0.2/2 = 0.9, price 9; accepted since 0.95 ≥ 0.9 + 2·0.02.
    result, trades, after = _run_day0("vbt_short")
    assert [(t.day, t.side, t.customer, t.market_maker) for t in trades][:1] == [
        (0, "buy", "H1", "vbt_short")
    ]
    assert trades[0].unit_price == pytest.approx(0.9) and trades[0].cash == pytest.approx(9.0)
    assert after["holder"] == "H1"
    assert after["cash"]["H1"] == pytest.approx(11.0)
    assert after["cash"]["vbt_short"] == pytest.approx(9.0)
    assert result.n_passthrough >= 1 and result.n_buys >= 1


def test_purchase_from_the_dealer_at_its_ask() -> None:
    # dealer_short holds the claim (x=10, C=0, S=20, M=0.8, O=0.2): X*=0, λ=1, I=0.2,
    # p = 0.8 − 0.2·10/40 = 0.75 → ask = min(0.9, 0.85) = 0.85, price 8.5 (interior)
    result, trades, after = _run_day0("dealer_short")
    first = trades[0]
    assert (first.day, first.side, first.customer, first.market_maker) == (
        0,
        "buy",
        "H1",
        "dealer_short",
    )
    assert first.unit_price == pytest.approx(0.85) and first.cash == pytest.approx(8.5)
    assert after["holder"] == "H1"
    assert after["cash"]["H1"] == pytest.approx(11.5)
    assert after["cash"]["dealer_short"] == pytest.approx(8.5)
    assert result.n_interior >= 1


def test_risk_check_rejects_an_overpriced_purchase() -> None:
    # ρ = 0.95: A = 1.05 > 0.95 − 0.04 → rejected in the short bucket, counted once
    trades: list[TradeRecord] = []
    result, _ = run_scenario(
        _market_scenario("vbt_short"),
        default_handling="expel-agent",
        regime="active",
        params=ModelParams(outside_mid_ratio=0.95),
        max_days=1,
        on_trade=trades.append,
    )
    assert trades == []
    assert result.n_rejected_buys == 1


def test_active_run_needs_market_makers() -> None:
    s = Scenario(agents=("H1", "H2"), cash=(1.0, 1.0), payables=(), n_traders=2)
    with pytest.raises(ValueError, match="needs market makers"):
        run_scenario(s, regime="active")
