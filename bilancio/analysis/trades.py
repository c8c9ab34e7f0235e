"""What a job's recorded trades say (``record.trades=true``): who sold and was saved, who newly
defaulted, and how much of the trading went through the dealers (``bilancio jobs show JOB
--trades``).

A trader is *saved* in a pair when it defaulted in the passive run and not in the active one,
and a *new defaulter* when the reverse holds; a *seller* is a trader that completed at least one
sale in the pair's active run. Agents are counted per pair: the same trader in two pairs counts
twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from bilancio.model.scenario import BUCKETS

VENUES = ("dealer", "vbt")
HOW_TO_RECORD = (
    "no trades recorded for this job: run the sweep with record.trades=true to store every "
    "trade and each trader's default day (tables trades and agent_outcomes)"
)


@dataclass
class TradeSummary:
    pairs_recorded: int  # pairs with agent outcomes of both regimes
    n_trades: int = 0
    n_sells: int = 0
    n_buys: int = 0
    # venue → bucket → number of trades; and venue → face and cash traded there
    by_venue: dict[str, dict[str, int]] = field(default_factory=dict)
    face: dict[str, float] = field(default_factory=dict)
    cash: dict[str, float] = field(default_factory=dict)
    sellers: int = 0  # (pair, trader) that completed a sale
    saved_sellers: int = 0  # sellers that defaulted passively and not in the active run
    sellers_defaulted_both: int = 0
    sellers_defaulted_neither: int = 0
    sellers_newly_defaulted: int = 0
    saved: int = 0  # every trader saved, seller or not
    new_defaulters: int = 0
    new_defaulters_sold: int = 0
    new_defaulters_bought: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise_trades(trades: list[dict[str, Any]], outcomes: list[dict[str, Any]]) -> TradeSummary:
    """The summary of a job's ``trades`` and ``agent_outcomes`` rows."""
    status: dict[tuple[int, str], dict[str, bool]] = {}
    for o in outcomes:
        status.setdefault((o["job_num"], o["agent"]), {})[o["regime"]] = bool(o["defaulted"])
    pairs = {num for (num, _), regimes in status.items() if len(regimes) == 2}
    out = TradeSummary(pairs_recorded=len(pairs))
    _count_trades(out, trades)
    sold = {(t["job_num"], t["seller"]) for t in trades if t["side"] == "sell"}
    bought = {(t["job_num"], t["buyer"]) for t in trades if t["side"] == "buy"}
    for key, regimes in status.items():
        passive, active = regimes.get("passive"), regimes.get("active")
        if passive is None or active is None:
            continue
        out.saved += passive and not active
        out.new_defaulters += active and not passive
        if active and not passive:
            out.new_defaulters_sold += key in sold
            out.new_defaulters_bought += key in bought
        if key in sold:
            out.sellers += 1
            out.saved_sellers += passive and not active
            out.sellers_defaulted_both += passive and active
            out.sellers_defaulted_neither += not passive and not active
            out.sellers_newly_defaulted += active and not passive
    return out


def _count_trades(out: TradeSummary, trades: list[dict[str, Any]]) -> None:
    counts = Counter((t["venue"], t["bucket"]) for t in trades)
    out.by_venue = {v: {b: counts[(v, b)] for b in BUCKETS} for v in VENUES}
    out.face = {v: sum(float(t["face"]) for t in trades if t["venue"] == v) for v in VENUES}
    out.cash = {v: sum(float(t["cash"]) for t in trades if t["venue"] == v) for v in VENUES}
    out.n_trades = len(trades)
    out.n_sells = sum(t["side"] == "sell" for t in trades)
    out.n_buys = out.n_trades - out.n_sells


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def format_trade_summary(summary: TradeSummary | None, completed_pairs: int) -> str:
    """The ``--trades`` section of ``jobs show``; ``None``: nothing was recorded."""
    if summary is None or not summary.pairs_recorded:
        return HOW_TO_RECORD
    s = summary
    lines = [
        f"trades: recorded for {s.pairs_recorded} of {completed_pairs} completed pairs; "
        f"{s.n_trades} trades ({s.n_sells} sells, {s.n_buys} buys)"
    ]
    if s.pairs_recorded < completed_pairs:
        lines.append(
            "  (the other pairs ran without record.trades=true, e.g. before a resume, or were "
            "copied from another job)"
        )
    lines.append(
        f"  {'venue':<8}"
        + "".join(f"{b:>8}" for b in (*BUCKETS, "all"))
        + f"{'face':>14}{'cash':>14}"
    )
    for v in VENUES:
        row = s.by_venue[v]
        lines.append(
            f"  {v:<8}"
            + "".join(f"{row[b]:>8}" for b in BUCKETS)
            + f"{sum(row.values()):>8}{s.face[v]:>14.2f}{s.cash[v]:>14.2f}"
        )
    dealer, face = sum(s.by_venue["dealer"].values()), sum(s.face.values())
    lines.append(
        f"dealer use: {dealer} of {s.n_trades} trades ({_share(dealer, s.n_trades)}), face "
        f"{s.face['dealer']:.2f} of {face:.2f} ({_share(s.face['dealer'], face)})"
    )
    lines.append(
        f"sellers (trader × pair): {s.sellers}; saved {s.saved_sellers} (defaulted in the passive "
        f"run, not in the active one), defaulted in both {s.sellers_defaulted_both}, in neither "
        f"{s.sellers_defaulted_neither}, newly defaulted {s.sellers_newly_defaulted}"
    )
    lines.append(
        f"saved traders: {s.saved} ({s.saved_sellers} of them sold); new defaulters: "
        f"{s.new_defaulters} ({s.new_defaulters_sold} sold, {s.new_defaulters_bought} bought)"
    )
    return "\n".join(lines)
