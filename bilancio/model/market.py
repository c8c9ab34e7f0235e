"""The dealer market of the active regime (MODEL.md §5): what it reports.

Each day, before settlement, traders short of cash sell claims they hold and traders with spare
cash buy claims, always against a market maker: the dealer of the claim's maturity bucket (at
its inventory-sensitive quotes) or, failing that, the value-based trader (VBT) at the outside
quotes. The market itself is compiled code (``kernel/market.py``); this module holds the
records it reports and the dealer kernel as a plain function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .kernel import quotes as _kernel

SEED_OFFSET = 1_000_003  # the market's random stream is Random(seed + SEED_OFFSET)


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
    return Quotes(*(float(v) for v in _kernel.dealer_quotes(mid, spread, x, cash, lot)))


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
