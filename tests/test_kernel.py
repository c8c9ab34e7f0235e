"""The dealer kernel of MODEL.md §5.3 on vectors computed by hand (shown in each comment)."""

from __future__ import annotations

import pytest

from bilancio.model import dealer_quotes


def _check(q, bid: float, ask: float, capacity: float) -> None:
    assert q.bid == pytest.approx(bid, abs=1e-12)
    assert q.ask == pytest.approx(ask, abs=1e-12)
    assert q.capacity == capacity


def test_spec_example() -> None:
    # S=1, M=1, O=0.3, x=2, C=0.05 → X*=2, p=0.925, bid=0.875, ask=0.975
    _check(dealer_quotes(1.0, 0.3, 2, 0.05, 1), 0.875, 0.975, 2)


def test_empty_dealer_quotes_the_outside_prices() -> None:
    # x=0, C=0: X*=0, λ=1, I=O, p=M → bid = M−O/2 = B, ask = M+O/2 = A
    _check(dealer_quotes(1.0, 0.2, 0, 0, 20), 0.9, 1.1, 0)


def test_full_dealer() -> None:
    # S=20, M=1, O=0.3, x=40, C=0: V=40, X*=40, λ=1/3, I=0.1,
    # p = 1 − 0.3·(40−20)/(40+40) = 0.925 → bid 0.875, ask 0.975
    _check(dealer_quotes(1.0, 0.3, 40, 0, 20), 0.875, 0.975, 40)


def test_overfull_dealer_lowers_both_quotes() -> None:
    # x=60, C=0, S=20, M=1, O=0.3: X*=60, λ=1/4, I=0.075,
    # p = 1 − 0.3·(60−30)/(60+40) = 0.91 → bid 0.8725, ask 0.9475
    _check(dealer_quotes(1.0, 0.3, 60, 0, 20), 0.8725, 0.9475, 60)


def test_cash_rich_dealer_bid_is_capped_at_mid() -> None:
    # x=0, C=100, S=20, M=1, O=0.2: X*=100, λ=1/6, I=1/30,
    # p = 1 + 0.2·50/140 = 15/14 → bid min(1, 15/14 − 1/60) = 1, ask 15/14 + 1/60 = 914/840
    _check(dealer_quotes(1.0, 0.2, 0, 100, 20), 1.0, 914 / 840, 100)


def test_low_mid() -> None:
    # M=0.5, O=0.4, S=20, x=20, C=3: V=13, X*=20, λ=1/2, I=0.2,
    # p = 0.5 − 0.4·(20−10)/(20+40) = 13/30 → bid 1/3, ask 16/30
    _check(dealer_quotes(0.5, 0.4, 20, 3, 20), 1 / 3, 16 / 30, 20)


def test_mid_guard() -> None:
    # M ≤ 0.02: X* = 0, bid = B = max(0, 0.02 − 0.1) = 0, ask = A = 0.12
    _check(dealer_quotes(0.02, 0.2, 5, 100, 20), 0.0, 0.12, 0)


def test_capacity_floor_tolerates_rounding() -> None:
    # M=0.3, S=10, C=3: V/(M·S) = 3/3.0000000000000004 = 0.99999… → floor(… + 1e−9) = 1, X* = 10;
    # λ=1/2, I=0.1, p = 0.3 + 0.2·5/30 = 1/3 → bid min(0.3, 1/3 − 0.05) = 0.28333…, ask 0.38333…
    _check(dealer_quotes(0.3, 0.2, 0, 3, 10), 1 / 3 - 0.05, 1 / 3 + 0.05, 10)


def test_heavily_stocked_dealer() -> None:
    # x=200, C=0, S=20, M=1, O=0.2: X*=200, λ=1/11, I=0.2/11,
    # p = 1 − 0.2·100/240 = 11/12 → bid 11/12 − 0.1/11 = 0.90758, ask 11/12 + 0.1/11 = 0.92576
    _check(dealer_quotes(1.0, 0.2, 200, 0, 20), 11 / 12 - 0.1 / 11, 11 / 12 + 0.1 / 11, 200)
