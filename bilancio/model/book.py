"""What the market knows about every agent (MODEL.md §5.5), kept up to date incrementally.

A pass over every payable each morning would dominate an active run, so the book starts from
the scenario and, before each market phase, applies only what changed: the chains that fell due
on the previous market day (settled, defaulted, skipped or rolled over) and the liabilities of
agents expelled since then. Trades update it as they happen.

Obligations O_i(d) and receivables R_i(d) are rows indexed by the absolute due day. Days before
today are never read again, so nothing has to be removed when a payable is settled; an expelled
debtor is no longer a customer, so its own row is never read again either. Obligations are thus
only ever added to, and their sums are exactly the from-scratch sums.
"""

from __future__ import annotations

import bisect

from .ledger import EPS, OPEN, Ledger


class MarketBook:
    def __init__(self, ledger: Ledger, n_traders: int, makers: set[int], span: int):
        """``span``: one more than the last day that can be read (last market day + horizon)."""
        self.ledger = ledger
        n_agents = len(ledger.names)
        self.makers = makers
        # the customers in order H1..Hn, as a dict (an ordered set): an expelled one leaves in
        # O(1), not in a scan of the list
        self.customers: dict[int, None] = dict.fromkeys(
            i for i in range(n_traders) if not ledger.defaulted[i]
        )
        last_due = max(ledger.original_due, default=0)
        width = max(span, last_due + 1) + max(ledger.distance, default=0)
        self.owed = [[0.0] * width for _ in range(n_agents)]  # O_i(d)
        self.held = [[0.0] * width for _ in range(n_agents)]  # R_i(d)
        self.claims: list[set[int]] = [set() for _ in range(n_agents)]  # held by customers
        self.claim_face = [0.0] * n_agents
        self.stock: dict[int, list[tuple[int, int]]] = {m: [] for m in makers}  # (due, row)
        self.by_debtor: list[list[int]] = [[] for _ in range(n_agents)]
        self._known_defaulted = {i for i, d in enumerate(ledger.defaulted) if d}
        self._pending: list[int] = []  # chains due on the last market day
        self._pending_claims: list[int] = []  # those of them whose due instance was a claim
        self._pending_day = -1
        for pid in range(ledger.n_original):
            self.by_debtor[ledger.debtor[pid]].append(pid)
            if ledger.is_live(pid):
                self._add(pid)
                if ledger.amount[pid] > 0:
                    self._take_claim(pid, ledger.holder[pid])

    # -- keeping up with settlement ----------------------------------------------------------

    def sync(self, day: int) -> None:
        """Apply what settlement changed since the last market phase; note today's dues.

        Calling it again for the same day changes nothing.
        """
        if day == self._pending_day:
            return
        led = self.ledger
        state, dues, amount, debtor, holder = led.state, led.due, led.amount, led.debtor, led.holder
        owed, held, last_day = self.owed, self.held, self._pending_day
        for pid in self._pending:
            due = dues[pid]
            if state[pid] == OPEN and due > last_day:  # rolled over: the new instance
                a = amount[pid]
                owed[debtor[pid]][due] += a
                held[holder[pid]][due] += a
        for pid in self._pending_claims:  # settled, defaulted or written off on their due day
            self._release_claim(pid, led.holder[pid], last_day)
        if led.n_defaulted > len(self._known_defaulted):
            for agent, defaulted in enumerate(led.defaulted):
                if defaulted and agent not in self._known_defaulted:
                    self._expel(agent, day)
        pending = led.by_day.get(day, ())
        self._pending = list(pending)
        self._pending_claims = [p for p in pending if not led.rolled[p] and led.amount[p] > 0]
        self._pending_day = day

    def _add(self, pid: int) -> None:
        led = self.ledger
        due, a = led.due[pid], led.amount[pid]
        self.owed[led.debtor[pid]][due] += a
        self.held[led.holder[pid]][due] += a

    def _expel(self, agent: int, day: int) -> None:
        """``agent`` was expelled: its liabilities are written off, it is no longer a customer."""
        led = self.ledger
        self._known_defaulted.add(agent)
        self.customers.pop(agent, None)
        for pid in self.by_debtor[agent]:
            due = led.due[pid]
            if led.state[pid] != OPEN or due < day:
                continue  # gone already, or due on a day the book no longer reads
            self.held[led.holder[pid]][due] -= led.amount[pid]
            if not led.rolled[pid] and led.amount[pid] > 0:
                self._release_claim(pid, led.holder[pid], due)

    def _take_claim(self, pid: int, holder: int) -> None:
        if holder in self.makers:
            bisect.insort(self.stock[holder], (self.ledger.due[pid], pid))
        elif pid not in self.claims[holder]:
            self.claims[holder].add(pid)
            self.claim_face[holder] += self.ledger.amount[pid]

    def _release_claim(self, pid: int, holder: int, due: int) -> None:
        if holder in self.makers:
            stock = self.stock[holder]
            entry = (due, pid)
            k = bisect.bisect_left(stock, entry)
            if k < len(stock) and stock[k] == entry:
                del stock[k]
        elif pid in self.claims[holder]:
            self.claims[holder].discard(pid)
            self.claim_face[holder] -= self.ledger.amount[pid]

    # -- trades ------------------------------------------------------------------------------

    def move_claim(self, pid: int, seller: int, buyer: int) -> None:
        """Record that claim ``pid`` passed from ``seller`` to ``buyer``."""
        led = self.ledger
        due, a = led.due[pid], led.amount[pid]
        self.held[seller][due] -= a
        self.held[buyer][due] += a
        self._release_claim(pid, seller, due)
        self._take_claim(pid, buyer)

    # -- queries -----------------------------------------------------------------------------

    def owed_within(self, agent: int, day: int, horizon: int) -> float:
        """Σ_{d=day}^{day+horizon} O_i(d)."""
        return sum(self.owed[agent][day : day + horizon + 1])

    def shortfall(self, agent: int, day: int, horizon: int) -> tuple[int, float] | None:
        """(k*, g): the first k ≤ horizon with gap_i(k) > 1e−9, and that gap; None if none."""
        cash = self.ledger.cash[agent]
        if self.owed_within(agent, day, horizon) - cash <= EPS:
            return None  # every gap(k) ≤ Σ O − cash
        owed, held = self.owed[agent], self.held[agent]
        total_owed = total_held = 0.0
        for k in range(horizon + 1):
            total_owed += owed[day + k]
            total_held += held[day + k]
            gap = total_owed - cash - total_held
            if gap > EPS:
                return k, gap
        return None

    def next_obligation(self, agent: int, day: int) -> float:
        """Earliest due day ≥ ``day`` of an obligation of positive amount (inf if none)."""
        owed = self.owed[agent]
        for d in range(day, len(owed)):
            if owed[d] > 0:
                return d
        return float("inf")

    def due_between(self, maker: int, first: int, last: float) -> tuple[int, int]:
        """Positions [start, end) in the maker's stock of its claims due in [first, last]."""
        stock = self.stock[maker]
        start = bisect.bisect_left(stock, (first, -1))
        end = len(stock) if last == float("inf") else bisect.bisect_left(stock, (last + 1, -1))
        return start, end
