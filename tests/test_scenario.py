"""Details of scenario generation (MODEL.md §2) beyond the worked examples."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from bilancio.model import ModelParams, generate
from bilancio.model.scenario import apply_minimum, apply_monotonicity, draw_amounts, due_days


@pytest.mark.parametrize(
    ("mu", "expected"),
    [
        (0.0, [1, 1, 1, 1, 1]),
        (0.25, [9, 1, 3, 5, 7]),
        (0.5, [7, 1, 5, 9, 3]),
        (1.0, [2, 1, 10, 9, 8, 7, 6, 5, 4, 3]),
    ],
)
def test_due_days_for_t10(mu: float, expected: list[int]) -> None:
    assert due_days(len(expected), 10, mu)[: len(expected)] == expected


def test_single_day_maturity() -> None:
    assert due_days(4, 1, 1.0) == [1, 1, 1, 1]


def test_minimum_amount_example() -> None:
    # MODEL.md §2.1: n=50, Q=10000, c=0.2, seed=300451 → last payable 5.9706, not 6.0380
    raw = draw_amounts(50, 10000, 0.2, random.Random(300451))
    assert f"{raw[-1]:.4f}" == "6.0380"
    fixed = apply_minimum(raw, 10000)
    assert f"{fixed[-1]:.4f}" == "5.9706"
    assert min(fixed) >= Decimal("0.01")
    assert sum(fixed) == Decimal(10000)
    s = generate(ModelParams(n_agents=50, q_total=10000, concentration=0.2, seed=300451))
    assert s.payables[49].amount == 5


def test_minimum_takes_back_from_the_largest() -> None:
    fixed = apply_minimum([Decimal(-1), Decimal(5), Decimal(96)], 100)
    # −1 → 0.01 adds 1.01, taken back from 96; the total is Q again
    assert fixed == [Decimal("0.01"), Decimal(5), Decimal("94.99")]


def test_amounts_sum_to_q_exactly() -> None:
    amounts = draw_amounts(37, 1234.5, 1.0, random.Random(1))
    assert sum(amounts) == Decimal("1234.5")


def test_monotonicity_sorts_and_swaps_from_the_same_stream() -> None:
    amounts = [Decimal(x) for x in (3, 1, 4, 1, 5)]
    assert apply_monotonicity(amounts, 1.0, random.Random(0)) == sorted(amounts, reverse=True)
    assert apply_monotonicity(amounts, -1.0, random.Random(0)) == sorted(amounts)
    rng = random.Random(0)
    assert apply_monotonicity(amounts, 0.0, rng) == amounts
    assert rng.random() == random.Random(0).random()  # no draw was made
    # m = 0.5, n = 5: round(0.5·5·4) = 10 adjacent swaps, positions from randrange(4)
    rng, check = random.Random(9), random.Random(9)
    expected = sorted(amounts, reverse=True)
    for _ in range(10):
        j = check.randrange(4)
        expected[j], expected[j + 1] = expected[j + 1], expected[j]
    assert apply_monotonicity(amounts, 0.5, rng) == expected


def test_single_at_liquidity() -> None:
    s = generate(
        ModelParams(
            n_agents=4, q_total=100, kappa=2, liquidity_mode="single_at", liquidity_agent="H3"
        )
    )
    extra = 0.375 * 100 / 4  # (v + d)·Q/n
    assert list(s.cash[:4]) == [extra, extra, 200 + extra, extra]


def test_row_order_and_agents() -> None:
    s = generate(ModelParams(n_agents=6, seed=5))
    assert s.agents[:6] == ("H1", "H2", "H3", "H4", "H5", "H6")
    assert s.agents[6:] == (
        "vbt_short",
        "dealer_short",
        "vbt_mid",
        "dealer_mid",
        "vbt_long",
        "dealer_long",
    )
    ring = s.payables[:6]
    assert [(p.debtor, p.creditor) for p in ring] == [
        ("H1", "H2"),
        ("H2", "H3"),
        ("H3", "H4"),
        ("H4", "H5"),
        ("H5", "H6"),
        ("H6", "H1"),
    ]
    kinds = [p.creditor.split("_")[0] for p in s.payables[6:]]
    assert kinds == sorted(kinds, key=lambda k: k != "vbt")  # all VBT legs before dealer legs
