"""A read-only picture of a run's books (cash, payables, defaults), for hooks and callers.

The compiled kernel keeps the books in arrays (``kernel/layout.py``); a :class:`Ledger` copies
them into plain lists when asked, after a day or at the end of a run. A payable and everything it
is rolled over into form one *chain*, listed at the original payable's row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner import KernelRun

# States of a chain's current instance.
OPEN, SETTLED, DEFAULTED = 0, 1, 2


class Ledger:
    """The books of one run at one moment. Agents and payables are referred to by index."""

    def __init__(self, run: KernelRun):
        a = run.arenas
        n_rows = len(a.debtor)
        self.names: list[str] = list(run.names)
        self.n_traders: int = run.n_traders
        self.n_original: int = n_rows
        self.cash: list[float] = a.cash.tolist()
        self.defaulted: list[bool] = [bool(x) for x in a.defaulted.tolist()]
        self.n_defaulted: int = sum(self.defaulted)
        self.debtor: list[int] = a.debtor.tolist()
        self.creditor: list[int] = a.creditor.tolist()  # original creditor
        self.holder: list[int] = a.holder.tolist()  # who the current instance pays
        self.amount: list[float] = a.amount.tolist()
        self.original_due: list[int] = a.distance.tolist()
        self.due: list[int] = a.due.tolist()  # due day of the current instance
        self.distance: list[int] = a.distance.tolist()  # maturity distance = rollover period
        self.state: list[int] = a.state.tolist()
        self.rolled: list[bool] = [bool(x) for x in a.rolled.tolist()]
        self.settled_on: list[int] = a.settled_on.tolist()  # day paid in full on time, or −1

    def is_live(self, pid: int) -> bool:
        """Open and not written off (an expelled debtor's liabilities are written off)."""
        return self.state[pid] == OPEN and not self.defaulted[self.debtor[pid]]

    def any_open(self) -> bool:
        return any(self.is_live(pid) for pid in range(self.n_original))

    def total_cash(self) -> float:
        return sum(self.cash)
