"""The books shared by the settlement engine and the market: cash, payables, defaults.

Payables live in parallel lists indexed by a payable id; ids are given in creation order, so
"row order" (MODEL.md §2.7) is simply ascending id. The first ``n_original`` ids are the
scenario's payables; later ids are rolled-over ones.
"""

from __future__ import annotations

from .scenario import Scenario

# Payable states.
OPEN, SETTLED, DEFAULTED = 0, 1, 2

# A payment is "in full" when cash >= amount - EPS (MODEL.md §2.6).
EPS = 1e-9


class Ledger:
    """Mutable state of one run. Agents and payables are referred to by integer index."""

    def __init__(self, scenario: Scenario):
        self.names: list[str] = list(scenario.agents)
        index = {name: i for i, name in enumerate(self.names)}
        self.cash: list[float] = [float(c) for c in scenario.cash]
        self.defaulted: list[bool] = [False] * len(self.names)
        self.n_defaulted = 0
        self.debtor: list[int] = []
        self.creditor: list[int] = []  # original creditor (original payables only)
        self.holder: list[int] = []  # who will be paid (changes when a claim is sold)
        self.amount: list[float] = []
        self.due: list[int] = []
        self.distance: list[int] = []  # maturity_distance, the rollover period
        self.state: list[int] = []
        self.settled_on: list[int] = []  # day settled in full, -1 if not (originals only)
        self.by_day: dict[int, list[int]] = {}
        for p in scenario.payables:
            self.creditor.append(index[p.creditor])
            self.settled_on.append(-1)
            self.add_payable(index[p.debtor], index[p.creditor], p.amount, p.due, p.due)
        self.n_original = len(self.amount)

    def add_payable(self, debtor: int, holder: int, amount: float, due: int, distance: int) -> int:
        """Append a payable (rolled payables use this; the engine inlines it in its hot loop)."""
        pid = len(self.amount)
        self.debtor.append(debtor)
        self.holder.append(holder)
        self.amount.append(amount)
        self.due.append(due)
        self.distance.append(distance)
        self.state.append(OPEN)
        self.by_day.setdefault(due, []).append(pid)
        return pid

    def is_live(self, pid: int) -> bool:
        """Open and not written off (an expelled debtor's liabilities are written off)."""
        return self.state[pid] == OPEN and not self.defaulted[self.debtor[pid]]

    def mark_defaulted(self, agent: int) -> None:
        if not self.defaulted[agent]:
            self.defaulted[agent] = True
            self.n_defaulted += 1

    def transfer(self, payer: int, payee: int, amount: float) -> None:
        self.cash[payer] -= amount
        self.cash[payee] += amount

    def any_open(self) -> bool:
        return any(self.is_live(pid) for pid in range(len(self.state)))

    def total_cash(self) -> float:
        return sum(self.cash)
