"""Metrics of one run (MODEL.md §4), from the final ledger and the engine's outcome."""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Outcome
from .ledger import Ledger


@dataclass(frozen=True)
class DayOneStats:
    alpha: float | None
    hhi_plus: float | None
    mpeak: float | None
    v: float | None


def day_one_stats(ledger: Ledger, outcome: Outcome) -> DayOneStats:
    """α₁, HHI⁺₁ (scenario statistics, original creditors) and Mpeak₁, v₁ (the replay)."""
    ids = [pid for pid, due in enumerate(ledger.original_due) if due == 1]
    if not ids:
        return DayOneStats(None, None, None, None)
    total = sum(ledger.amount[pid] for pid in ids)
    net: dict[int, float] = {}
    for pid in ids:
        a = ledger.amount[pid]
        net[ledger.debtor[pid]] = net.get(ledger.debtor[pid], 0) - a
        net[ledger.creditor[pid]] = net.get(ledger.creditor[pid], 0) + a
    alpha = None
    if total > 0:
        mbar = sum(-x for x in net.values() if x < 0)
        alpha = 1 - mbar / total
    positive = [x for x in net.values() if x > 0]
    pos_sum = sum(positive)
    hhi = sum((x / pos_sum) ** 2 for x in positive) if pos_sum > 0 else None
    mpeak, gross = peak_liquidity(outcome.day1_payments)
    v = gross / mpeak if mpeak > 0 else None
    return DayOneStats(alpha, hhi, mpeak, v)


def peak_liquidity(payments: list[tuple[int, int, float]]) -> tuple[float, float]:
    """Replay payments in order; return (Mpeak, gross): the peak of Σ max(Δ_i, 0), and Σ amounts."""
    delta: dict[int, float] = {}
    positive = 0.0  # running Σ max(Δ_i, 0), kept incrementally
    peak = gross = 0.0
    for payer, payee, a in payments:
        for agent, change in ((payer, a), (payee, -a)):
            old = delta.get(agent, 0.0)
            new = old + change
            delta[agent] = new
            positive += max(new, 0.0) - max(old, 0.0)
        peak = max(peak, positive)
        gross += a
    return peak, gross


def ring_delta(ledger: Ledger) -> float | None:
    """``delta_ring`` (MODEL.md §4): unpaid face ÷ face of the original ring payables only,
    those whose debtor and original creditor are both traders (the market makers' legs left
    out); None when that face is 0. A scenario without traders (a hand-written ring) counts
    every agent as a trader."""
    traders = ledger.n_traders or len(ledger.names)
    total = unpaid = 0
    for pid in range(ledger.n_original):
        if ledger.debtor[pid] < traders and ledger.creditor[pid] < traders:
            total += ledger.amount[pid]
            if ledger.settled_on[pid] != ledger.original_due[pid]:
                unpaid += ledger.amount[pid]
    return unpaid / total if total > 0 else None


def face_totals(ledger: Ledger) -> tuple[float, float, int]:
    """(total original face, unpaid original face, payables cleared in full on their due day)."""
    total = unpaid = 0
    clears = 0
    for pid in range(ledger.n_original):
        a = ledger.amount[pid]
        total += a
        if ledger.settled_on[pid] == ledger.original_due[pid]:
            clears += 1
        else:
            unpaid += a
    return total, unpaid, clears
