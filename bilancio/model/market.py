"""The dealer market of the active regime (MODEL.md §5).

Each day, before settlement, traders short of cash sell claims they hold and traders with spare
cash buy claims, always against a market maker: the dealer of the claim's maturity bucket (at
its inventory-sensitive quotes) or, failing that, the value-based trader (VBT) at the outside
quotes. Trades move cash and claims in the ledger the settlement engine uses.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from .ledger import EPS, Ledger
from .params import ModelParams
from .scenario import BUCKETS, bucket_of

SEED_OFFSET = 1_000_003  # the market's random stream is Random(seed + SEED_OFFSET)


@dataclass(frozen=True)
class Quotes:
    bid: float
    ask: float
    capacity: float  # X*, in face


def dealer_quotes(mid: float, spread: float, x: float, cash: float, lot: float) -> Quotes:
    """The dealer kernel of §5.3: quotes for inventory ``x`` (face) and ``cash``."""
    outside_ask = mid + spread / 2
    outside_bid = max(0.0, mid - spread / 2)
    if mid <= 0.02:
        return Quotes(outside_bid, outside_ask, 0.0)
    value = mid * x + cash
    capacity = lot * math.floor(value / (mid * lot) + 1e-9)
    inside = lot / (capacity + lot) * spread
    centre = mid - spread * (x - capacity / 2) / (capacity + 2 * lot)
    bid = min(mid, max(outside_bid, centre - inside / 2))
    ask = min(outside_ask, max(outside_bid, centre + inside / 2))
    return Quotes(bid, ask, capacity)


@dataclass(frozen=True)
class TradeRecord:
    """One executed trade, with what the risk check saw (for logs and audits)."""

    day: int
    side: str  # "sell" (customer sells to a market maker) or "buy"
    customer: str
    market_maker: str
    payable: int  # row of the claim
    face: float
    unit_price: float
    cash: float  # what changed hands
    default_prob: float  # p of §5.6 on that day
    shortfall: float | None  # g, for sales
    wealth: float | None  # W at the offer, for sales


TradeHook = Callable[[TradeRecord], None]


@dataclass
class TradeStats:
    """The trade metrics of §5.7 (P&L is filled in at the end of the run)."""

    n_trades: int = 0
    n_sells: int = 0
    n_buys: int = 0
    n_interior: int = 0
    n_passthrough: int = 0
    n_rejected_sells: int = 0
    n_rejected_buys: int = 0
    n_unfilled_sells: int = 0
    trade_volume_face: float = 0.0
    trade_volume_cash: float = 0.0
    dealer_pnl: float = 0.0
    vbt_pnl: float = 0.0


class _Book:
    """What the market phase of one day knows about every customer and market maker."""

    def __init__(self, n_agents: int, horizon: int):
        self.obligations = [[0.0] * (horizon + 1) for _ in range(n_agents)]  # O_i(t+k)
        self.receivables = [[0.0] * (horizon + 1) for _ in range(n_agents)]  # R_i(t+k)
        self.next_obligation = [math.inf] * n_agents
        self.claims: list[list[int]] = [[] for _ in range(n_agents)]  # claims held, row order
        self.claim_face = [0.0] * n_agents
        # per market maker: its in-bucket claims, sorted by (due, row)
        self.inventory: dict[int, list[tuple[int, int]]] = {}
        self.inventory_face: dict[int, float] = {}
        self.owed_total = [0.0] * n_agents  # Σ_k O_i(t+k)
        self.quotes: dict[str, Quotes] = {}  # per bucket, dropped whenever its dealer trades


class Market:
    """The market phase (§5.5), called by the engine at the start of every day."""

    def __init__(
        self,
        ledger: Ledger,
        params: ModelParams,
        n_traders: int,
        on_trade: TradeHook | None = None,
    ):
        self.ledger = ledger
        self.on_trade = on_trade
        self.n_traders = n_traders
        self.mid = params.outside_mid_ratio
        self.lot = params.face_value
        self.horizon = params.market.horizon
        self.risk = params.market.risk
        self.rng = random.Random(params.seed + SEED_OFFSET)
        index = {name: i for i, name in enumerate(ledger.names)}
        missing = [
            f"{k}_{b}" for b in BUCKETS for k in ("vbt", "dealer") if f"{k}_{b}" not in index
        ]
        if missing:
            raise ValueError(f"the active regime needs market makers; missing {missing}")
        self.vbt = {b: index[f"vbt_{b}"] for b in BUCKETS}
        self.dealer = {b: index[f"dealer_{b}"] for b in BUCKETS}
        self.spread = {b: getattr(params.market.spreads, b) for b in BUCKETS}
        self.outside_ask = {b: self.mid + self.spread[b] / 2 for b in BUCKETS}
        self.outside_bid = {b: max(0.0, self.mid - self.spread[b] / 2) for b in BUCKETS}
        # remaining-maturity range (τ) of each market maker's own bucket, §5.1
        tau = {"short": (1, 3), "mid": (4, 8), "long": (9, math.inf)}
        self.maker_tau = {a: tau[b] for b in BUCKETS for a in (self.vbt[b], self.dealer[b])}
        self.stats = TradeStats()
        self.originals_by_due: dict[int, list[int]] = {}
        for pid, due in enumerate(ledger.original_due):
            if ledger.amount[pid] > 0:
                self.originals_by_due.setdefault(due, []).append(pid)
        self._initial_value = {kind: self.maker_value(kind) for kind in ("dealer", "vbt")}

    # -- valuation ---------------------------------------------------------------------------

    def maker_value(self, kind: str) -> float:
        """Cash plus M·face of live receivables, summed over the three market makers of a kind."""
        led = self.ledger
        makers = set((self.dealer if kind == "dealer" else self.vbt).values())
        face = sum(
            led.amount[pid]
            for pid in range(led.n_original)
            if led.holder[pid] in makers and led.is_live(pid)
        )
        return sum(led.cash[a] for a in makers) + self.mid * face

    def finish(self) -> TradeStats:
        """Fill in the P&L and return the run's trade metrics."""
        self.stats.dealer_pnl = self.maker_value("dealer") - self._initial_value["dealer"]
        self.stats.vbt_pnl = self.maker_value("vbt") - self._initial_value["vbt"]
        return self.stats

    # -- the day -----------------------------------------------------------------------------

    def default_probability(self, day: int) -> float:
        """p of §5.6 from the original payables due in the lookback window before ``day``."""
        r = self.risk
        due_in_window = settled_late = 0
        for d in range(day - r.lookback, day):
            for pid in self.originals_by_due.get(d, ()):
                due_in_window += 1
                if self.ledger.settled_on[pid] != d:
                    settled_late += 1
        return (r.prior_weight * r.prior_default_prob + settled_late) / (
            r.prior_weight + due_in_window
        )

    def trade(self, day: int) -> None:
        led = self.ledger
        p = self.default_probability(day)
        book = self._survey(day)
        customers = [i for i in range(self.n_traders) if not led.defaulted[i]]
        shortfalls = {i: s for i in customers if (s := self._shortfall(i, book)) is not None}
        sellers = [i for i in customers if i in shortfalls]
        self.rng.shuffle(sellers)
        sold_today: set[int] = set()
        for i in sellers:
            self._sell(i, day, p, shortfalls[i], book, sold_today)
        buyers = [i for i in customers if i not in shortfalls]
        self.rng.shuffle(buyers)
        for i in buyers:
            self._buy(i, day, p, book, sold_today)

    def _survey(self, day: int) -> _Book:
        """One pass over the live payables: dues, receivables, claims and inventories."""
        led = self.ledger
        h = self.horizon
        book = _Book(len(led.names), h)
        defaulted = led.defaulted
        is_customer = [i < self.n_traders and not defaulted[i] for i in range(len(led.names))]
        makers = self.maker_tau
        for a in makers:
            book.inventory[a] = []
            book.inventory_face[a] = 0.0
        obligations, receivables, owed_total = book.obligations, book.receivables, book.owed_total
        next_obligation, claims, claim_face = book.next_obligation, book.claims, book.claim_face
        rows = zip(led.state, led.debtor, led.due, led.amount, led.holder, led.rolled, strict=True)
        for pid, (state, debtor, due, a, holder, rolled) in enumerate(rows):
            if state or defaulted[debtor]:
                continue  # settled, defaulted or written off
            ahead = due - day
            if is_customer[debtor]:
                if ahead <= h:
                    obligations[debtor][ahead] += a
                    owed_total[debtor] += a
                if a > 0 and due < next_obligation[debtor]:
                    next_obligation[debtor] = due
            if is_customer[holder]:
                if ahead <= h:
                    receivables[holder][ahead] += a
                if a > 0 and not rolled:
                    claims[holder].append(pid)
                    claim_face[holder] += a
            elif a > 0 and not rolled and holder in makers:
                low, high = makers[holder]
                if low <= ahead <= high:
                    book.inventory[holder].append((due, pid))
                    book.inventory_face[holder] += a
        for inv in book.inventory.values():
            inv.sort()
        return book

    def _shortfall(self, i: int, book: _Book) -> tuple[int, float] | None:
        """(k*, g) for the first k with gap_i(k) > 1e−9, or None (§5.5)."""
        cash = self.ledger.cash[i]
        if book.owed_total[i] - cash <= EPS:
            return None  # every gap_i(k) ≤ Σ O_i − cash
        owed = due = 0.0
        obligations, receivables = book.obligations[i], book.receivables[i]
        for k in range(self.horizon + 1):
            owed += obligations[k]
            due += receivables[k]
            gap = owed - cash - due
            if gap > EPS:
                return k, gap
        return None

    def _quotes(self, bucket: str, book: _Book) -> Quotes:
        """The dealer's current quotes; cached until the dealer next trades."""
        q = book.quotes.get(bucket)
        if q is None:
            dealer = self.dealer[bucket]
            q = dealer_quotes(
                self.mid,
                self.spread[bucket],
                book.inventory_face[dealer],
                self.ledger.cash[dealer],
                self.lot,
            )
            book.quotes[bucket] = q
        return q

    # -- sellers -----------------------------------------------------------------------------

    def _sell(
        self,
        i: int,
        day: int,
        p: float,
        shortfall: tuple[int, float],
        book: _Book,
        sold_today: set[int],
    ) -> None:
        led = self.ledger
        k_star, g = shortfall
        offers = sorted(
            (led.due[pid], pid) for pid in book.claims[i] if led.due[pid] > day + k_star
        )
        proceeds = 0.0
        for due, pid in offers:
            if proceeds >= g - EPS:
                break
            face = led.amount[pid]
            bucket = bucket_of(due - day)
            dealer, vbt = self.dealer[bucket], self.vbt[bucket]
            q = self._quotes(bucket, book)
            if (
                book.inventory_face[dealer] + face <= q.capacity + EPS
                and led.cash[dealer] >= q.bid * face - EPS
            ):
                maker, unit = dealer, q.bid
            elif led.cash[vbt] >= self.outside_bid[bucket] * face - EPS:
                maker, unit = vbt, self.outside_bid[bucket]
            else:
                self.stats.n_unfilled_sells += 1
                continue
            wealth = led.cash[i] + (1 - p) * book.claim_face[i]
            if not self._accept_sale(unit, p, g, wealth):
                self.stats.n_rejected_sells += 1
                continue
            price = unit * face
            paid = min(price, led.cash[maker])
            led.cash[maker] -= paid
            led.cash[i] += paid
            led.holder[pid] = maker
            proceeds += paid
            book.claim_face[i] -= face
            bisect.insort(book.inventory[maker], (due, pid))
            book.inventory_face[maker] += face
            sold_today.add(i)
            if maker == dealer:
                del book.quotes[bucket]
            self._count(face, paid, sell=True, interior=maker == dealer)
            if self.on_trade is not None:
                self.on_trade(
                    TradeRecord(
                        day,
                        "sell",
                        led.names[i],
                        led.names[maker],
                        pid,
                        face,
                        unit,
                        paid,
                        p,
                        g,
                        wealth,
                    )
                )

    def _accept_sale(self, unit: float, p: float, g: float, wealth: float) -> bool:
        """§5.6: a sale at ``unit`` is accepted iff unit ≥ (1 − p) + θ, θ = θ0 − u·g/W."""
        r = self.risk
        if not r.enabled:
            return True
        theta = r.base_premium - r.urgency * g / wealth if wealth > 0 else -1.0
        return unit >= (1 - p) + theta - EPS

    # -- buyers ------------------------------------------------------------------------------

    def _buy(self, i: int, day: int, p: float, book: _Book, sold_today: set[int]) -> None:
        led = self.ledger
        before = book.next_obligation[i]
        if before <= day + 1:
            return  # every claim on offer is due on day + 1 or later: none is early enough
        free = max(0.0, led.cash[i] - book.owed_total[i])
        for bucket in BUCKETS:
            dealer, vbt = self.dealer[bucket], self.vbt[bucket]
            pid = None
            stock = book.inventory[dealer]
            if stock and stock[0][0] < before:  # sorted by due: else nothing is early enough
                maker, unit = dealer, self._quotes(bucket, book).ask
                pid = self._candidate(stock, i, unit, free, before, sold_today)
            if pid is None:
                stock = book.inventory[vbt]
                if not stock or stock[0][0] >= before:
                    continue
                maker, unit = vbt, self.outside_ask[bucket]
                pid = self._candidate(stock, i, unit, free, before, sold_today)
            if pid is None:
                continue
            if not self._accept_purchase(unit, p):
                self.stats.n_rejected_buys += 1
                continue
            face = led.amount[pid]
            paid = min(unit * face, free)
            led.cash[i] -= paid
            led.cash[maker] += paid
            led.holder[pid] = i
            book.inventory[maker].remove((led.due[pid], pid))
            book.inventory_face[maker] -= face
            if maker == dealer:
                del book.quotes[bucket]
            self._count(face, paid, sell=False, interior=maker == dealer)
            if self.on_trade is not None:
                self.on_trade(
                    TradeRecord(
                        day,
                        "buy",
                        led.names[i],
                        led.names[maker],
                        pid,
                        face,
                        unit,
                        paid,
                        p,
                        None,
                        None,
                    )
                )
            return

    def _candidate(
        self,
        inventory: list[tuple[int, int]],
        buyer: int,
        unit: float,
        free: float,
        before: float,
        sold_today: set[int],
    ) -> int | None:
        """The earliest-due, lowest-row claim the buyer may take from this inventory."""
        led = self.ledger
        for due, pid in inventory:
            if due >= before:
                break  # sorted by due: every later claim is due too late as well
            issuer = led.debtor[pid]
            if issuer == buyer or issuer in sold_today or led.defaulted[issuer]:
                continue
            if free >= unit * led.amount[pid] - EPS:
                return pid
        return None

    def _accept_purchase(self, unit: float, p: float) -> bool:
        """§5.6: a purchase at ``unit`` is accepted iff 1 − p ≥ unit + m·θ0."""
        r = self.risk
        if not r.enabled:
            return unit <= 1 + EPS
        return (1 - p) >= unit + r.buy_premium_multiplier * r.base_premium - EPS

    def _count(self, face: float, paid: float, *, sell: bool, interior: bool) -> None:
        s = self.stats
        s.n_trades += 1
        s.n_sells += sell
        s.n_buys += not sell
        s.n_interior += interior
        s.n_passthrough += not interior
        s.trade_volume_face += face
        s.trade_volume_cash += paid
