"""The books shared by the settlement engine and the market: cash, payables, defaults.

A payable and everything it is rolled over into form one *chain* (MODEL.md §3.4 re-issues a
settled payable as a new one of the same amount): at any moment a chain has at most one
instance, so its state lives in parallel lists indexed by the chain id, which is the original
payable's row. Rollover updates the chain in place instead of appending a payable.

Row order (MODEL.md §2.7) is creation order: ``by_day[d]`` lists the chains due on day d in the
order their current instances were created, which is the order they must be settled in.
"""

from __future__ import annotations

from collections import defaultdict

from .scenario import Scenario

# States of a chain's current instance.
OPEN, SETTLED, DEFAULTED = 0, 1, 2

# A payment is "in full" when cash >= amount − EPS (MODEL.md §2.6).
EPS = 1e-9


class Ledger:
    """Mutable state of one run. Agents and payables are referred to by integer index."""

    def __init__(self, scenario: Scenario):
        self.names: list[str] = list(scenario.agents)
        index = {name: i for i, name in enumerate(self.names)}
        self.cash: list[float] = [float(c) for c in scenario.cash]
        self.defaulted: list[bool] = [False] * len(self.names)
        self.n_defaulted = 0
        pays = scenario.payables
        self.n_traders = scenario.n_traders  # the leading agents that are ring traders
        self.n_original = n = len(pays)
        self.debtor: list[int] = [index[p.debtor] for p in pays]
        self.creditor: list[int] = [index[p.creditor] for p in pays]  # original creditor
        self.holder: list[int] = list(self.creditor)  # who the current instance pays
        self.amount: list[float] = [p.amount for p in pays]
        self.original_due: list[int] = [p.due for p in pays]
        self.due: list[int] = list(self.original_due)  # due day of the current instance
        self.distance: list[int] = list(self.original_due)  # maturity distance = rollover period
        self.state: list[int] = [OPEN] * n
        self.rolled: list[bool] = [False] * n  # current instance is a rollover, not the original
        self.settled_on: list[int] = [-1] * n  # day the original was settled in full, or −1
        self.by_day: defaultdict[int, list[int]] = defaultdict(list)
        for pid, day in enumerate(self.original_due):
            self.by_day[day].append(pid)

    def is_live(self, pid: int) -> bool:
        """Open and not written off (an expelled debtor's liabilities are written off)."""
        return self.state[pid] == OPEN and not self.defaulted[self.debtor[pid]]

    def mark_defaulted(self, agent: int) -> None:
        if not self.defaulted[agent]:
            self.defaulted[agent] = True
            self.n_defaulted += 1

    def any_open(self) -> bool:
        return any(self.is_live(pid) for pid in range(self.n_original))

    def total_cash(self) -> float:
        return sum(self.cash)
