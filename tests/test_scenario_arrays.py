"""``generate_arrays`` (issue 15) against an independent copy of the generator it replaced.

``reference_generate`` below is the scenario generator of bilancio before issue 15 (MODEL.md §2,
Decimal per payable), copied here with its arithmetic unchanged (only docstrings and type hints
dropped, and plain tuples returned) as the independent reference the array generator must match
exactly: same agents, cash (float ==), payables (debtor, creditor, amount as int, due) and row
order, on thousands of random parameter sets.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

import numpy as np
import pytest

from bilancio.model import ModelParams, generate
from bilancio.model import _amounts as am
from bilancio.model.scenario import (
    MARKET_MAKERS,
    Payable,
    Scenario,
    ScenarioArrays,
    generate_arrays,
)

# -- the reference: the generator before issue 15, arithmetic unchanged ----------------------

BUCKETS = ("short", "mid", "long")
MIN_AMOUNT = Decimal("0.01")


def bucket_of(days: int) -> str | None:
    if days < 1:
        return None
    if days <= 3:
        return "short"
    if days <= 8:
        return "mid"
    return "long"


def draw_amounts(n, q_total, concentration, rng):
    q = Decimal(str(q_total))
    weights = [Decimal(str(rng.gammavariate(concentration, 1.0))) for _ in range(n)]
    total_w = sum(weights, Decimal(0))
    amounts = [q * w / total_w for w in weights[:-1]]
    amounts.append(q - sum(amounts, Decimal(0)))
    return amounts


def _take_back(amounts, excess):
    for i in sorted(range(len(amounts)), key=lambda k: amounts[k], reverse=True):
        if excess <= 0:
            break
        give = min(excess, amounts[i] - MIN_AMOUNT)
        if give > 0:
            amounts[i] -= give
            excess -= give
    return excess


def apply_minimum(amounts, q_total):
    q = Decimal(str(q_total))
    a = list(amounts)
    added = Decimal(0)
    for i, x in enumerate(a):
        if x <= 0:
            added += MIN_AMOUNT - x
            a[i] = MIN_AMOUNT
    if added > 0:
        _take_back(a, added)
    total = sum(a, Decimal(0))
    if total > q:
        _take_back(a, total - q)
    elif total < q:
        a[-1] += q - total
    a = [max(x, MIN_AMOUNT) for x in a]
    last = q - sum(a[:-1], Decimal(0))
    a[-1] = max(last, MIN_AMOUNT)
    return a


def apply_monotonicity(amounts, m, rng):
    if abs(m) < 1e-9:
        return amounts
    n = len(amounts)
    a = sorted(amounts, reverse=m > 0)
    if abs(m) < 1:
        swaps = min(round((1 - abs(m)) * n * max(1, n - 1)), n * (n - 1))
        for _ in range(swaps):
            j = rng.randrange(n - 1)
            a[j], a[j + 1] = a[j + 1], a[j]
    return a


def due_days(n, maturity_days, mu):
    t = maturity_days
    lag = min(max(round(mu * (t - 1)), 0), t - 1)
    if t <= 1 or lag == 0:
        return [1] * n
    return [((i - 1) * lag) % t + 1 for i in range(n)]


def reference_generate(p: ModelParams) -> tuple:
    """(agents, cash, payables, n_traders, market_makers) as the old ``generate`` made them."""
    n = p.n_agents
    rng = random.Random(p.seed)
    amounts = apply_minimum(draw_amounts(n, p.q_total, p.concentration, rng), p.q_total)
    amounts = apply_monotonicity(amounts, p.monotonicity, rng)
    dues = due_days(n, p.maturity_days, p.mu)
    traders = [f"H{i + 1}" for i in range(n)]
    bucket_total = {b: Decimal(0) for b in BUCKETS}
    for a, d in zip(amounts, dues, strict=True):
        bucket_total[bucket_of(d)] += a
    ring = [
        (traders[i], traders[(i + 1) % n], math.floor(float(amounts[i])), dues[i]) for i in range(n)
    ]
    v, d = Decimal(str(p.vbt_share)), Decimal(str(p.dealer_share))
    buckets = [bucket_of(due) for due in dues]
    shares = [a / bucket_total[b] for a, b in zip(amounts, buckets, strict=True)]
    legs = _market_legs(traders, shares, dues, buckets, bucket_total, v, "vbt")
    legs += _market_legs(traders, shares, dues, buckets, bucket_total, d, "dealer")
    cash = _initial_cash(p, bucket_total, v, d)
    return (tuple(traders) + MARKET_MAKERS, tuple(cash), tuple(ring + legs), n, MARKET_MAKERS)


def _market_legs(traders, shares, dues, buckets, bucket_total, share, kind):
    bucket_debt = {b: share * total for b, total in bucket_total.items()}
    creditor = {b: f"{kind}_{b}" for b in BUCKETS}
    legs = []
    for i, ratio in enumerate(shares):
        b = buckets[i]
        amount = bucket_debt[b] * ratio
        if amount > MIN_AMOUNT:
            legs.append((traders[i], creditor[b], math.floor(float(amount)), dues[i]))
    return legs


def _initial_cash(p, bucket_total, v, d):
    n = p.n_agents
    q = Decimal(str(p.q_total))
    kappa = Decimal(str(p.kappa))
    rho = Decimal(str(p.outside_mid_ratio))
    market_funding = sum(((v + d) * bucket_total[b] for b in BUCKETS), Decimal(0)) / n
    if p.liquidity_mode == "uniform":
        base = [kappa * q / n] * n
    else:
        base = [Decimal(0)] * n
        base[int(p.liquidity_agent[1:]) - 1] = kappa * q
    cash = [float(x + market_funding) for x in base]
    for b in BUCKETS:
        cash.append(float(v * bucket_total[b] * rho))
        cash.append(float(d * bucket_total[b] * rho))
    return cash


# -- random parameter sets ---------------------------------------------------------------------

CASES = 5_000
CHUNKS = 10


def random_params(rng: random.Random) -> ModelParams:
    """Mostly small n; concentrations down to the 0.01 minimum; every kind of share and Q."""
    size = rng.random()
    if size < 0.65:
        n = rng.randint(3, 40)
    elif size < 0.96:
        n = rng.randint(41, 400)
    else:
        n = rng.randint(401, 3000)
    conc = rng.choice(
        [rng.uniform(0.01, 0.05), rng.uniform(0.01, 0.3), rng.uniform(0.3, 2), rng.uniform(2, 20)]
    )
    m = rng.choice([0.0, 0.3, -0.3, 1.0, -1.0, rng.uniform(-1, 1), rng.choice([1e-10, -1e-9])])
    if n > 60 and 1e-9 <= abs(m) < 0.99:  # keep the reference's swap loop short
        m = math.copysign(rng.uniform(0.99, 1 - 1e-7), m)
    q = rng.choice(
        [10000.0, 12345.67, 0.5, 1e6, 0.05, 1e12, 3e17, round(rng.uniform(1, 1e5), 2), 7.0]
    )
    share = [0.0, 0.25, 0.125, 1.0, rng.uniform(0, 2), 3e-5]
    if rng.random() < 0.05:
        share.append(2e6)  # above 1e6: every leg is evaluated in Decimal
    mode = rng.choice(["uniform", "single_at"])
    return ModelParams(
        n_agents=n,
        maturity_days=rng.randint(1, 20),
        q_total=q,
        kappa=rng.choice([1.0, 0.5, rng.uniform(0.01, 5)]),
        concentration=conc,
        mu=rng.choice([0.0, 0.5, 1.0, rng.random()]),
        monotonicity=m,
        seed=rng.randrange(2**63),
        outside_mid_ratio=rng.choice([1.0, rng.uniform(0.01, 2)]),
        vbt_share=rng.choice(share),
        dealer_share=rng.choice(share),
        liquidity_mode=mode,
        liquidity_agent=f"H{rng.randint(1, n)}",
    )


def as_tuple(s: Scenario) -> tuple:
    return (s.agents, s.cash, tuple(map(tuple, s.payables)), s.n_traders, s.market_makers)


def check_same(p: ModelParams, via_generate: bool = True) -> None:
    expected = reference_generate(p)
    arrays = generate_arrays(p)
    got = arrays.to_scenario()
    assert as_tuple(got) == expected, p
    assert [type(x.amount) for x in got.payables] == [type(x[2]) for x in expected[2]]
    if via_generate:
        assert as_tuple(generate(p)) == expected
    assert arrays.agents == expected[0]
    assert arrays.cash.dtype == np.float64 and arrays.amount.dtype == np.float64
    assert arrays.debtor.dtype == arrays.creditor.dtype == arrays.due.dtype == np.int64
    assert len(arrays.cash) == len(arrays.agents)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_equal_to_reference_on_random_parameters(chunk: int) -> None:
    rng = random.Random(20261207)
    params = [random_params(rng) for _ in range(CASES)]
    for p in params[chunk::CHUNKS]:
        check_same(p, via_generate=False)


def test_spec_minimum_example() -> None:
    # MODEL.md §2.1: n=50, Q=10000, c=0.2, seed=300451: the last ring payable is 5
    p = ModelParams(n_agents=50, q_total=10000, concentration=0.2, seed=300451)
    check_same(p)
    arrays = generate_arrays(p)
    assert arrays.amount[49] == 5
    assert arrays.debtor[49] == 49 and arrays.creditor[49] == 0


def test_defaults_and_sizes() -> None:
    for n in (3, 100, 1000, 5000):
        check_same(ModelParams(n_agents=n, seed=n))


def test_minimum_rule_branches() -> None:
    # amounts ≤ 0 (weights that underflow), totals above Q, and tiny Q all take the full rule
    for p in (
        ModelParams(n_agents=200, concentration=0.01, seed=3),
        ModelParams(n_agents=30, q_total=0.05, concentration=0.5, seed=1),
        ModelParams(n_agents=1000, q_total=12345.67, concentration=0.05, seed=8),
    ):
        check_same(p)


def test_to_arrays_round_trip() -> None:
    s = generate(ModelParams(n_agents=12, seed=4, maturity_days=12, mu=1.0))
    arrays = s.to_arrays()
    assert isinstance(arrays, ScenarioArrays)
    assert as_tuple(arrays.to_scenario()) == as_tuple(s)
    fresh = generate_arrays(ModelParams(n_agents=12, seed=4, maturity_days=12, mu=1.0))
    for name in ("cash", "debtor", "creditor", "amount", "due"):
        assert np.array_equal(getattr(arrays, name), getattr(fresh, name))
    hand = Scenario(
        agents=("a", "b", "c"),
        cash=(1.0, 0.0, 2.5),
        payables=(Payable("a", "b", 1.5, 1), Payable("c", "a", 2, 3)),
    )
    back = hand.to_arrays()
    assert back.agents == ("a", "b", "c")
    assert back.debtor.tolist() == [0, 2] and back.creditor.tolist() == [1, 0]
    assert back.to_scenario() == hand


def test_one_function_draws_everything() -> None:
    """The compiled draws are random.Random(seed)'s: n gamma weights, then (only when
    1e-9 ≤ |m| < 1) the swaps of §2.2, each j = randrange(n − 1), applied to the positions."""
    weights, swapped = am.draws(5, 1.0, 0.5, 9)
    rng = random.Random(9)
    assert weights.tolist() == [rng.gammavariate(1.0, 1.0) for _ in range(5)]
    positions = list(range(5))
    for _ in range(10):  # round((1 − 0.5)·5·4)
        j = rng.randrange(4)
        positions[j], positions[j + 1] = positions[j + 1], positions[j]
    assert swapped.tolist() == positions
    for m in (1.0, 1e-10, -1.0):
        assert am.draws(5, 1.0, m, 9)[1].tolist() == [0, 1, 2, 3, 4]
    big = 2**63 - 1  # the largest seed: three 32-bit words of key
    rng = random.Random(big)
    assert am.draws(3, 0.3, 0, big)[0].tolist() == [rng.gammavariate(0.3, 1.0) for _ in range(3)]


def test_fast_minimum_is_the_three_passes() -> None:
    # §2.1 step 4's shortcut against ``apply_minimum`` (the passes as the reference has them),
    # including the branches the random scenarios rarely reach: a total above Q, amounts ≤ 0
    rng = random.Random(5)
    seen = {"shortcut": 0, "declined": 0}
    for _ in range(400):
        n = rng.randint(2, 30)
        q_total = rng.choice([10000.0, 0.5, 12345.67])
        weights = [rng.gammavariate(rng.choice([0.01, 0.1, 1.0]), 1.0) for _ in range(n)]
        if sum(weights) == 0:
            continue
        amounts, rest = am.exact_amounts(q_total, weights)
        q = Decimal(str(q_total))
        bump = rng.random()
        if bump < 0.2:  # a total just above Q
            amounts[-1] += Decimal("1e-20")
        elif bump < 0.3:  # an amount ≤ 0
            amounts[0] = Decimal(0) if bump < 0.25 else Decimal("-0.5")
            rest = sum(amounts[:-1], Decimal(0))
        est = np.array([float(a) for a in amounts])
        got = am.fast_minimum(list(amounts), rest, q, est, am.rel_tol(n))
        expected = apply_minimum(amounts, q_total)
        if got is None:
            seen["declined"] += 1
            assert min(amounts) <= 0 or rest + amounts[-1] > q
        else:
            seen["shortcut"] += 1
            assert got == expected
            assert est.tolist() == [float(a) for a in expected]
    assert seen["shortcut"] > 100 and seen["declined"] > 50


def test_a_narrower_decimal_context_is_followed() -> None:
    # like the old generator, the arrays use the caller's context; the margins widen with it
    import decimal

    with decimal.localcontext() as context:
        context.prec = 3
        for seed in range(30):
            check_same(ModelParams(n_agents=40, seed=seed, concentration=0.15, q_total=12345.67))
