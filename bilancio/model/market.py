"""The dealer market of the active regime (MODEL.md §5).

Each day, before settlement, traders short of cash sell claims they hold and traders with spare
cash buy claims, always against a market maker: the dealer of the claim's maturity bucket (at
its inventory-sensitive quotes) or, failing that, the value-based trader (VBT) at the outside
quotes. Trades move cash and claims in the ledger the settlement engine uses.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .book import MarketBook
from .ledger import EPS, Ledger
from .params import ModelParams
from .scenario import BUCKETS, bucket_of

SEED_OFFSET = 1_000_003  # the market's random stream is Random(seed + SEED_OFFSET)
TAU = {"short": (1, 3), "mid": (4, 8), "long": (9, math.inf)}  # remaining maturity, §5.1


@dataclass(frozen=True)
class Quotes:
    bid: float
    ask: float
    capacity: float  # X*, in face


def dealer_quotes(mid: float, spread: float, x: float, cash: float, lot: float) -> Quotes:
    """The dealer kernel of §5.3: quotes for inventory ``x`` (face) and ``cash``.

    ``spread`` is the bucket's VBT spread O and ``lot`` the lot size S. The bid is capped at the
    mid and the ask never falls below the VBT's bid.
    """
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
    side: str  # "sell" (a customer sells to a market maker) or "buy"
    customer: str
    market_maker: str
    payable: int  # row of the claim
    face: float
    unit_price: float
    cash: float  # what changed hands
    default_prob: float  # p of §5.6 on that day
    shortfall: float | None  # g, for sales
    wealth: float | None  # W at the offer, for sales
    # the price limit of §5.6's check: a sale needs unit_price ≥ threshold ((1 − p) + θ; None
    # with risk assessment off), a purchase unit_price ≤ threshold ((1 − p) − m·θ0; 1 when off)
    threshold: float | None = None
    bucket: str = ""  # maturity bucket of the claim on the trade day (§5.1)
    venue: str = ""  # "dealer" (interior) or "vbt" (pass-through)
    issuer: str = ""  # the claim's debtor
    due_day: int = 0  # the claim's due day


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


@dataclass
class _Day:
    """State of one market phase."""

    day: int
    p: float  # default probability of §5.6
    sold: set[int] = field(default_factory=set)  # customers that completed a sale today
    quotes: dict[str, Quotes] = field(default_factory=dict)  # dropped when the dealer trades
    bounds: dict[int, tuple[int, int]] = field(default_factory=dict)  # in-bucket slice of stock
    smallest: dict[int, float] = field(default_factory=dict)  # smallest face in that slice
    inventory: dict[str, float] = field(default_factory=dict)  # x of each bucket's dealer
    first_due: float | None = None  # earliest due day of any claim on offer; None: recompute


class Market:
    """The market phase (§5.5), called by the engine at the start of every day."""

    def __init__(
        self,
        ledger: Ledger,
        params: ModelParams,
        n_traders: int,
        max_days: int,
        on_trade: TradeHook | None = None,
    ):
        self.ledger = ledger
        self.on_trade = on_trade
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
        makers = set(self.vbt.values()) | set(self.dealer.values())
        self.book = MarketBook(ledger, n_traders, makers, max_days + self.horizon + 1)
        self.stats = TradeStats()
        self.originals_by_due: dict[int, list[int]] = {}
        for pid, due in enumerate(ledger.original_due):
            if ledger.amount[pid] > 0:
                self.originals_by_due.setdefault(due, []).append(pid)
        self._last_due = max(self.originals_by_due, default=0)  # of positive-amount originals
        self._history: dict[int, tuple[int, int]] = {}  # due day → (due, not paid in full)
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
        due_in_window = failed = 0
        for d in range(day - r.lookback, day):
            counts = self._history.get(d)
            if counts is None:  # day d is over: its counts never change again
                rows = self.originals_by_due.get(d, ())
                settled_on = self.ledger.settled_on
                counts = self._history[d] = (len(rows), sum(settled_on[p] != d for p in rows))
            due_in_window += counts[0]
            failed += counts[1]
        return (r.prior_weight * r.prior_default_prob + failed) / (r.prior_weight + due_in_window)

    def trade(self, day: int) -> None:
        """The day's market phase: sellers first, then buyers, each group in shuffled order."""
        if day >= self._last_due:
            # Only claims with τ ≥ 1 trade and no original payable falls due after this day, so
            # no offer, purchase or refusal can happen any more; the market's random draws feed
            # nothing but the market, so skipping them changes no result.
            return
        book = self.book
        book.sync(day)
        today = _Day(day, self.default_probability(day))
        owed, cash, end = book.owed, self.ledger.cash, day + self.horizon + 1
        shortfalls = {}
        for i in book.customers:  # in order H1..Hn
            # cheap test first: every gap is at most Σ O − cash
            if sum(owed[i][day:end]) - cash[i] > EPS:
                gap = book.shortfall(i, day, self.horizon)
                if gap is not None:
                    shortfalls[i] = gap
        sellers = list(shortfalls)
        self.rng.shuffle(sellers)
        for i in sellers:
            self._sell(i, shortfalls[i], today)
        buyers = [i for i in book.customers if i not in shortfalls]
        self.rng.shuffle(buyers)
        for i in buyers:
            # a purchase must fall due before the buyer's next obligation (of positive amount):
            # skip a buyer with an obligation on or before the first due day on offer
            first = today.first_due
            if first is None:
                first = self._first_due_on_offer(today)
            if first == math.inf or max(owed[i][day : first + 1]) > 0:
                continue
            self._buy(i, today)

    def _in_bucket(self, maker: int, bucket: str, today: _Day) -> range:
        """Positions in the maker's stock of the claims whose remaining maturity lies in
        ``bucket`` today (the stock is sorted by due day, then row)."""
        bounds = today.bounds.get(maker)
        if bounds is None:
            low, high = TAU[bucket]
            bounds = self.book.due_between(maker, today.day + low, today.day + high)
            today.bounds[maker] = bounds
        return range(*bounds)

    def _quotes(self, bucket: str, today: _Day) -> Quotes:
        """The bucket dealer's current quotes; cached until it next trades."""
        q = today.quotes.get(bucket)
        if q is None:
            dealer = self.dealer[bucket]
            q = dealer_quotes(
                self.mid,
                self.spread[bucket],
                self._inventory(bucket, today),
                self.ledger.cash[dealer],
                self.lot,
            )
            today.quotes[bucket] = q
        return q

    def _inventory(self, bucket: str, today: _Day) -> float:
        """x: face of the dealer's claims whose remaining maturity is in its bucket today."""
        x = today.inventory.get(bucket)
        if x is None:
            dealer = self.dealer[bucket]
            stock, amount = self.book.stock[dealer], self.ledger.amount
            x = sum(amount[stock[k][1]] for k in self._in_bucket(dealer, bucket, today))
            today.inventory[bucket] = x
        return x

    def _exchange(self, pid: int, buyer: int, seller: int, price: float, available: float) -> float:
        """The claim goes to ``buyer`` for min(price, available) cash; returns the cash paid."""
        led = self.ledger
        paid = min(price, available)
        led.cash[buyer] -= paid
        led.cash[seller] += paid
        self.book.move_claim(pid, seller, buyer)
        led.holder[pid] = buyer
        return paid

    # -- sellers -----------------------------------------------------------------------------

    def _sell(self, i: int, shortfall: tuple[int, float], today: _Day) -> None:
        """Offer the seller's late claims, earliest due first, until its shortfall is covered."""
        led = self.ledger
        day, p = today.day, today.p
        k_star, g = shortfall
        offers = sorted(
            (led.due[pid], pid) for pid in self.book.claims[i] if led.due[pid] > day + k_star
        )
        proceeds = 0.0
        for due, pid in offers:
            if proceeds >= g - EPS:
                break
            face = led.amount[pid]
            bucket = bucket_of(due - day)
            dealer, vbt = self.dealer[bucket], self.vbt[bucket]
            q = self._quotes(bucket, today)
            x = self._inventory(bucket, today)
            if x + face <= q.capacity + EPS and led.cash[dealer] >= q.bid * face - EPS:
                maker, unit = dealer, q.bid
            elif led.cash[vbt] >= self.outside_bid[bucket] * face - EPS:
                maker, unit = vbt, self.outside_bid[bucket]
            else:
                self.stats.n_unfilled_sells += 1
                continue
            wealth = led.cash[i] + (1 - p) * self.book.claim_face[i]
            threshold = self._sale_threshold(p, g, wealth)
            if threshold is not None and unit < threshold - EPS:
                self.stats.n_rejected_sells += 1
                continue
            paid = self._exchange(pid, maker, i, unit * face, led.cash[maker])
            proceeds += paid
            today.sold.add(i)
            sale = _Trade("sell", i, maker, pid, unit, paid, maker == dealer, threshold, g, wealth)
            self._record(today, sale)

    def _sale_threshold(self, p: float, g: float, wealth: float) -> float | None:
        """§5.6: the lowest unit price a sale is accepted at, (1 − p) + θ with θ = θ0 − u·g/W
        (None with risk assessment off: every sale is accepted)."""
        r = self.risk
        if not r.enabled:
            return None
        theta = r.base_premium - r.urgency * g / wealth if wealth > 0 else -1.0
        return (1 - p) + theta

    # -- buyers ------------------------------------------------------------------------------

    def _buy(self, i: int, today: _Day) -> None:
        """Buy at most one claim, trying the buckets short → mid → long."""
        led = self.ledger
        before = self.book.next_obligation(i, today.day)
        free = max(0.0, led.cash[i] - self.book.owed_within(i, today.day, self.horizon))
        for bucket in BUCKETS:
            dealer, vbt = self.dealer[bucket], self.vbt[bucket]
            maker, unit, pid = dealer, 0.0, None
            if self._first_due(dealer, bucket, today) < before:  # else nothing is early enough
                unit = self._quotes(bucket, today).ask
                pid = self._candidate(dealer, bucket, i, unit, free, before, today)
            if pid is None:
                if self._first_due(vbt, bucket, today) >= before:
                    continue
                maker, unit = vbt, self.outside_ask[bucket]
                pid = self._candidate(vbt, bucket, i, unit, free, before, today)
                if pid is None:
                    continue
            if not self._accept_purchase(unit, today.p):
                self.stats.n_rejected_buys += 1
                continue
            paid = self._exchange(pid, i, maker, unit * led.amount[pid], free)
            limit = self._purchase_limit(today.p)
            self._record(today, _Trade("buy", i, maker, pid, unit, paid, maker == dealer, limit))
            return

    def _first_due(self, maker: int, bucket: str, today: _Day) -> float:
        """Due day of the maker's earliest in-bucket claim (inf if it holds none)."""
        positions = self._in_bucket(maker, bucket, today)
        return self.book.stock[maker][positions.start][0] if positions else math.inf

    def _first_due_on_offer(self, today: _Day) -> float:
        if today.first_due is None:
            today.first_due = min(
                self._first_due(maker, bucket, today)
                for bucket in BUCKETS
                for maker in (self.dealer[bucket], self.vbt[bucket])
            )
        return today.first_due

    def _candidate(
        self,
        maker: int,
        bucket: str,
        buyer: int,
        unit: float,
        free: float,
        before: float,
        today: _Day,
    ) -> int | None:
        """The maker's earliest-due, lowest-row claim in ``bucket`` that the buyer may take."""
        led = self.ledger
        stock = self.book.stock[maker]
        positions = self._in_bucket(maker, bucket, today)
        smallest = today.smallest.get(maker)
        if smallest is None:
            amount = led.amount
            smallest = min((amount[stock[k][1]] for k in positions), default=math.inf)
            today.smallest[maker] = smallest
        if free < unit * smallest - EPS:
            return None  # not even the smallest claim is affordable
        for k in positions:
            due, pid = stock[k]
            if due >= before:
                return None  # by due day: every later claim is due too late as well
            issuer = led.debtor[pid]
            if issuer == buyer or issuer in today.sold or led.defaulted[issuer]:
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

    def _purchase_limit(self, p: float) -> float:
        """The highest unit price :meth:`_accept_purchase` accepts (for the trade record)."""
        r = self.risk
        if not r.enabled:
            return 1.0
        return (1 - p) - r.buy_premium_multiplier * r.base_premium

    def _record(self, today: _Day, trade: _Trade) -> None:
        """Count a trade, drop the dealer's stale quotes, and report it to ``on_trade``."""
        led, pid, maker = self.ledger, trade.pid, trade.maker
        face = led.amount[pid]
        today.bounds.pop(maker, None)
        today.smallest.pop(maker, None)
        today.first_due = None
        bucket = bucket_of(led.due[pid] - today.day)
        if trade.interior:
            today.quotes.pop(bucket, None)
            if bucket in today.inventory:
                today.inventory[bucket] += face if trade.side == "sell" else -face
        s = self.stats
        s.n_trades += 1
        s.n_sells += trade.side == "sell"
        s.n_buys += trade.side == "buy"
        s.n_interior += trade.interior
        s.n_passthrough += not trade.interior
        s.trade_volume_face += face
        s.trade_volume_cash += trade.paid
        if self.on_trade is not None:
            names = led.names
            self.on_trade(
                TradeRecord(
                    day=today.day,
                    side=trade.side,
                    customer=names[trade.customer],
                    market_maker=names[maker],
                    payable=pid,
                    face=face,
                    unit_price=trade.unit,
                    cash=trade.paid,
                    default_prob=today.p,
                    shortfall=trade.shortfall,
                    wealth=trade.wealth,
                    threshold=trade.threshold,
                    bucket=bucket or "",
                    venue="dealer" if trade.interior else "vbt",
                    issuer=names[led.debtor[pid]],
                    due_day=led.due[pid],
                )
            )


@dataclass(frozen=True)
class _Trade:
    """An executed trade as the market phase knows it (agents by index)."""

    side: str
    customer: int
    maker: int
    pid: int
    unit: float
    paid: float
    interior: bool
    threshold: float | None
    shortfall: float | None = None
    wealth: float | None = None
