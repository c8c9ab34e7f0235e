"""Scenario generation (MODEL.md §2): who owes whom, how much, when, and who holds cash.

Everything here is computed in ``decimal.Decimal`` with the default 28-digit context and the
standard-library ``random.Random(seed)`` stream, because that is what makes scenarios
identical to bilancio 0.1's for the same seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from .params import ModelParams

BUCKETS = ("short", "mid", "long")
MARKET_MAKERS = ("vbt_short", "dealer_short", "vbt_mid", "dealer_mid", "vbt_long", "dealer_long")
MIN_AMOUNT = Decimal("0.01")


class Payable(NamedTuple):
    """An obligation: ``debtor`` pays ``amount`` to ``creditor`` on day ``due``."""

    debtor: str
    creditor: str
    amount: float
    due: int


@dataclass(frozen=True)
class Scenario:
    """A starting position: agents with cash, and payables in row order (MODEL.md §2.7).

    Agent and payable order matter: it is the order of settlement and of tie-breaks.
    ``n_traders`` counts the leading agents that are ring traders (customers in the market).
    """

    agents: tuple[str, ...]
    cash: tuple[float, ...]
    payables: tuple[Payable, ...]
    n_traders: int = 0
    market_makers: tuple[str, ...] = field(default=())

    def validate(self) -> Scenario:
        """Raise ValueError naming the first inconsistency of a hand-written scenario."""
        if len(self.agents) != len(self.cash):
            raise ValueError(
                f"scenario has {len(self.agents)} agents but {len(self.cash)} cash balances"
            )
        if len(set(self.agents)) != len(self.agents):
            raise ValueError("scenario agent names must be unique")
        names = set(self.agents)
        for i, c in enumerate(self.cash):
            if not math.isfinite(c) or c < 0:
                raise ValueError(f"cash of {self.agents[i]}={c!r}: allowed a finite number >= 0")
        for k, p in enumerate(self.payables):
            for role in ("debtor", "creditor"):
                if getattr(p, role) not in names:
                    raise ValueError(f"payable {k}: unknown {role} {getattr(p, role)!r}")
            if p.debtor == p.creditor:
                raise ValueError(f"payable {k}: debtor and creditor are both {p.debtor!r}")
            if not math.isfinite(p.amount) or p.amount < 0:
                raise ValueError(f"payable {k}: amount={p.amount!r}: allowed a finite number >= 0")
            if isinstance(p.due, bool) or not isinstance(p.due, int) or p.due < 1:
                raise ValueError(f"payable {k}: due={p.due!r}: allowed an integer day >= 1")
        return self


def bucket_of(days: int) -> str | None:
    """Maturity bucket of a due day or remaining maturity (§2.4, §5.1)."""
    if days < 1:
        return None
    if days <= 3:
        return "short"
    if days <= 8:
        return "mid"
    return "long"


def draw_amounts(n: int, q_total: float, concentration: float, rng: random.Random) -> list[Decimal]:
    """Dirichlet debt sizes summing to Q exactly (§2.1 steps 2–3), before the minimum rule."""
    q = Decimal(str(q_total))
    weights = [Decimal(str(rng.gammavariate(concentration, 1.0))) for _ in range(n)]
    total_w = sum(weights, Decimal(0))
    amounts = [q * w / total_w for w in weights[:-1]]
    amounts.append(q - sum(amounts, Decimal(0)))
    return amounts


def _take_back(amounts: list[Decimal], excess: Decimal) -> Decimal:
    """Reduce amounts, largest first, each down to at most 0.01; return what is left over."""
    for i in sorted(range(len(amounts)), key=lambda k: amounts[k], reverse=True):
        if excess <= 0:
            break
        give = min(excess, amounts[i] - MIN_AMOUNT)
        if give > 0:
            amounts[i] -= give
            excess -= give
    return excess


def apply_minimum(amounts: list[Decimal], q_total: float) -> list[Decimal]:
    """The 0.01 floor of §2.1 step 4, in its three passes."""
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


def apply_monotonicity(amounts: list[Decimal], m: float, rng: random.Random) -> list[Decimal]:
    """Reorder the debts by size (§2.2); draws from ``rng`` only when |m| ≥ 1e−9."""
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


def due_days(n: int, maturity_days: int, mu: float) -> list[int]:
    """Original due day of each ring payable (§2.3)."""
    t = maturity_days
    lag = min(max(round(mu * (t - 1)), 0), t - 1)
    if t <= 1 or lag == 0:
        return [1] * n
    return [((i - 1) * lag) % t + 1 for i in range(n)]


def generate(p: ModelParams) -> Scenario:
    """The balanced ring scenario of MODEL.md §2 for the parameters ``p``."""
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
        Payable(traders[i], traders[(i + 1) % n], math.floor(float(amounts[i])), dues[i])
        for i in range(n)
    ]
    v, d = Decimal(str(p.vbt_share)), Decimal(str(p.dealer_share))
    buckets = [bucket_of(due) for due in dues]
    shares = [a / bucket_total[b] for a, b in zip(amounts, buckets, strict=True)]
    legs = _market_legs(traders, shares, dues, buckets, bucket_total, v, "vbt")
    legs += _market_legs(traders, shares, dues, buckets, bucket_total, d, "dealer")
    cash = _initial_cash(p, bucket_total, v, d)
    return Scenario(
        agents=tuple(traders) + MARKET_MAKERS,
        cash=tuple(cash),
        payables=tuple(ring + legs),
        n_traders=n,
        market_makers=MARKET_MAKERS,
    )


def _market_legs(
    traders: Sequence[str],
    shares: Sequence[Decimal],
    dues: Sequence[int],
    buckets: Sequence[str],
    bucket_total: dict[str, Decimal],
    share: Decimal,
    kind: str,
) -> list[Payable]:
    """Each trader's debt to the market makers of its bucket: (share·B_b)·(a_i/B_b)."""
    bucket_debt = {b: share * total for b, total in bucket_total.items()}
    creditor = {b: f"{kind}_{b}" for b in BUCKETS}
    legs = []
    for i, ratio in enumerate(shares):
        b = buckets[i]
        amount = bucket_debt[b] * ratio
        if amount > MIN_AMOUNT:
            legs.append(Payable(traders[i], creditor[b], math.floor(float(amount)), dues[i]))
    return legs


def _initial_cash(
    p: ModelParams, bucket_total: dict[str, Decimal], v: Decimal, d: Decimal
) -> list[float]:
    """Cash of traders then market makers, in agent order (§2.5)."""
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
