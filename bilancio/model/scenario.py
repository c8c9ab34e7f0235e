"""Scenario generation (MODEL.md §2): who owes whom, how much, when, and who holds cash.

Everything here is computed in ``decimal.Decimal`` with the default 28-digit context and the
standard-library ``random.Random(seed)`` stream, because that is what makes scenarios
identical to bilancio 0.1's for the same seed. ``generate_arrays`` emits the scenario as numpy
arrays (the arithmetic is in ``_amounts``: floored amounts are read off bounded float estimates
wherever no value within the bound floors differently, and off the Decimal everywhere else);
``generate`` turns those arrays into names and payables.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat
from typing import NamedTuple

import numpy as np

from . import _amounts as am
from ._amounts import MIN_AMOUNT as MIN_AMOUNT
from ._amounts import ZERO, apply_minimum
from .params import ModelParams

BUCKETS = ("short", "mid", "long")
MARKET_MAKERS = ("vbt_short", "dealer_short", "vbt_mid", "dealer_mid", "vbt_long", "dealer_long")


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

    def to_arrays(self) -> ScenarioArrays:
        """This scenario as arrays, agents indexed in ``agents`` order (names kept)."""
        index = {name: i for i, name in enumerate(self.agents)}
        rows = self.payables
        return ScenarioArrays(
            n_traders=self.n_traders,
            cash=np.array(self.cash, dtype=np.float64),
            debtor=np.array([index[p.debtor] for p in rows], dtype=np.int64),
            creditor=np.array([index[p.creditor] for p in rows], dtype=np.int64),
            amount=np.array([p.amount for p in rows], dtype=np.float64),
            due=np.array([p.due for p in rows], dtype=np.int64),
            names=tuple(self.agents),
            market_makers=tuple(self.market_makers),
            whole=all(isinstance(p.amount, int) for p in rows),
        )


@dataclass(frozen=True, eq=False)
class ScenarioArrays:
    """A generated scenario as arrays.

    Agent indices: H1..Hn are 0..n-1, then MARKET_MAKERS in order. Payables are rows in
    MODEL.md §2.7 order. ``names``/``market_makers`` are set only for a hand-written scenario
    (``Scenario.to_arrays``); a generated one names its agents on demand.
    """

    n_traders: int
    cash: np.ndarray  # float64, one per agent
    debtor: np.ndarray  # int64 agent index, payables in row order (MODEL.md §2.7)
    creditor: np.ndarray  # int64 agent index (original creditor)
    amount: np.ndarray  # float64 with integral values (floored)
    due: np.ndarray  # int64 original due day
    names: tuple[str, ...] | None = field(default=None, repr=False)
    market_makers: tuple[str, ...] = field(default=MARKET_MAKERS, repr=False)
    # every amount was given as an int (generated ones are): results report faces as ints
    whole: bool = field(default=True, repr=False)

    @property
    def agents(self) -> tuple[str, ...]:
        """Agent names in index order, built when asked."""
        if self.names is not None:
            return self.names
        return tuple([f"H{i}" for i in range(1, self.n_traders + 1)]) + MARKET_MAKERS

    def to_scenario(self) -> Scenario:
        """The ``Scenario`` of these arrays (integral amounts become ints, as generate's are)."""
        names = self.agents
        amounts = self.amount.tolist()
        if np.all(self.amount % 1 == 0):  # integral and finite
            amounts = list(map(int, amounts))
        rows = zip(
            map(names.__getitem__, self.debtor.tolist()),
            map(names.__getitem__, self.creditor.tolist()),
            amounts,
            self.due.tolist(),
            strict=True,
        )
        payables = map(tuple.__new__, repeat(Payable), rows)  # Payable(*row), without a frame
        return Scenario(
            agents=names,
            cash=tuple(self.cash.tolist()),
            payables=tuple(payables),
            n_traders=self.n_traders,
            market_makers=self.market_makers,
        )


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
    return am.exact_amounts(q_total, [rng.gammavariate(concentration, 1.0) for _ in range(n)])[0]


def apply_monotonicity(amounts: list[Decimal], m: float, rng: random.Random) -> list[Decimal]:
    """Reorder the debts by size (§2.2); draws from ``rng`` only when |m| ≥ 1e−9."""
    positions = list(range(len(amounts)))
    for _ in range(am.swap_count(len(amounts), m)):
        j = rng.randrange(len(amounts) - 1)
        positions[j], positions[j + 1] = positions[j + 1], positions[j]
    order = am.monotone_order(amounts, m, positions)
    return amounts if order is None else [amounts[i] for i in order]


def due_days(n: int, maturity_days: int, mu: float) -> list[int]:
    """Original due day of each ring payable (§2.3)."""
    return am.due_array(n, maturity_days, mu).tolist()


def _draws(p: ModelParams) -> tuple[np.ndarray, np.ndarray]:
    """Every use of the random stream: gamma weights, then the swap positions of §2.2."""
    return am.draws(p.n_agents, p.concentration, p.monotonicity, p.seed)


def generate(p: ModelParams) -> Scenario:
    """The balanced ring scenario of MODEL.md §2 for the parameters ``p``."""
    return generate_arrays(p).to_scenario()


def generate_arrays(p: ModelParams) -> ScenarioArrays:
    """The scenario of ``generate(p)`` as arrays, without names or Decimal per payable."""
    n = p.n_agents
    weights, swapped = _draws(p)
    amounts, rest = am.exact_amounts(p.q_total, weights)
    est = am.estimate(p.q_total, weights, amounts)
    rel = am.rel_tol(n)
    fixed = am.fast_minimum(amounts, rest, Decimal(str(p.q_total)), est, rel)
    if fixed is None:
        fixed = apply_minimum(amounts, p.q_total)
        est = np.array(list(map(float, fixed)), dtype=np.float64)
    amounts = fixed
    order = am.monotone_order(amounts, p.monotonicity, swapped)
    if order is not None:
        amounts = list(map(amounts.__getitem__, order))
        est = est[np.array(order, dtype=np.int64)]
    due = am.due_array(n, p.maturity_days, p.mu)
    bucket = (due >= 4).astype(np.int64) + (due >= 9)
    bk = bucket.tolist()
    totals = [ZERO, ZERO, ZERO]  # B_b, summed left to right
    for a, b in zip(amounts, bk, strict=True):
        totals[b] += a
    v, d = Decimal(str(p.vbt_share)), Decimal(str(p.dealer_share))
    kinds = [(k, x, s) for k, x, s in ((0, v, p.vbt_share), (1, d, p.dealer_share)) if x != 0]
    debts = [[x * total for total in totals] for _, x, _ in kinds]  # (x·B_b) per bucket

    def leg(j: int) -> Decimal:  # leg j of the concatenated kinds: (x·B_b)·(a_i/B_b)
        i, b = j % n, bk[j % n]
        return debts[j // n][b] * (amounts[i] / totals[b])

    guesses = [s * est if s <= 1e6 else est * np.nan for *_, s in kinds]  # x·a_i, in float
    amount, made = am.settle(
        np.concatenate([est, *guesses]),
        n,
        lambda r: amounts[r] if r < n else leg(r - n),
        rel,
    )
    pos = made % n
    kind = np.array([k for k, _, _ in kinds] or [0], dtype=np.int64)[made // n]
    traders = np.arange(n, dtype=np.int64)
    return ScenarioArrays(
        n_traders=n,
        cash=_initial_cash(p, totals, v, d),
        debtor=np.concatenate([traders, pos]),
        creditor=np.concatenate([(traders + 1) % n, n + 2 * bucket[pos] + kind]),
        amount=amount,
        due=np.concatenate([due, due[pos]]),
    )


def _initial_cash(p: ModelParams, totals: list[Decimal], v: Decimal, d: Decimal) -> np.ndarray:
    """Cash of traders then market makers, in agent order (§2.5); totals by bucket."""
    n = p.n_agents
    q = Decimal(str(p.q_total))
    kappa = Decimal(str(p.kappa))
    rho = Decimal(str(p.outside_mid_ratio))
    market_funding = sum(((v + d) * total for total in totals), ZERO) / n
    cash = np.empty(n + 6, dtype=np.float64)
    if p.liquidity_mode == "uniform":
        cash[:n] = float(kappa * q / n + market_funding)
    else:
        cash[:n] = float(ZERO + market_funding)
        cash[int(p.liquidity_agent[1:]) - 1] = float(kappa * q + market_funding)
    cash[n:] = [float(x * total * rho) for total in totals for x in (v, d)]
    return cash
