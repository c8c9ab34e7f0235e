"""The settlement engine (MODEL.md §3): days, settlement in row order, defaults, rollover, stop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .ledger import DEFAULTED, EPS, OPEN, SETTLED, Ledger


@dataclass(frozen=True)
class Rules:
    """How the engine runs a scenario (the engine-facing part of ModelParams)."""

    default_handling: str = "fail-fast"
    rollover: bool = True
    max_days: int = 30
    quiet_days: int = 2
    stop_rule: str = "horizon"


@dataclass
class Outcome:
    """How a run ended, plus the raw records the metrics need."""

    stop_reason: str = "max_days"
    days_run: int = 0
    failed_fast: bool = False
    # (payer, payee, amount) of every payment in full on day 1, in order, for Mpeak₁.
    day1_payments: list[tuple[int, int, float]] = field(default_factory=list)


class MarketPhase(Protocol):
    def trade(self, day: int) -> None: ...


DayHook = Callable[[int, Ledger], None]
DefaultHook = Callable[[int, str], None]  # (day, agent) when an agent defaults


def run(
    ledger: Ledger,
    rules: Rules,
    *,
    market: MarketPhase | None = None,
    on_day_end: DayHook | None = None,
    on_default: DefaultHook | None = None,
) -> Outcome:
    """Run days 0 .. max_days − 1 on ``ledger`` (mutated) and say how the run ended.

    ``on_default(day, agent)`` is called for every agent that defaults, in the order they do;
    under fail-fast for the debtor whose failure ends the run."""
    out = Outcome()
    defaulters: list[int] | None = [] if on_default is not None else None
    fail_fast = rules.default_handling == "fail-fast"
    last_due = max(ledger.original_due, default=0)
    n_agents = len(ledger.names)
    quiet_streak = 0
    for t in range(rules.max_days):
        if market is not None:
            market.trade(t)
        settled, failed = settle_due(
            ledger, t, fail_fast, out.day1_payments if t == 1 else None, defaulters
        )
        if defaulters:
            for agent in defaulters:
                on_default(t, ledger.names[agent])  # type: ignore[misc]
            defaulters.clear()
        if failed:
            out.stop_reason, out.days_run, out.failed_fast = "default", t, True
            return out
        if rules.rollover:
            roll_over(ledger, settled, t)
        out.days_run = t + 1
        if on_day_end is not None:
            on_day_end(t, ledger)
        if ledger.n_defaulted == n_agents:
            out.stop_reason = "all_defaulted"
            return out
        quiet_streak = 0 if settled else quiet_streak + 1
        if _is_stable(ledger, rules, quiet_streak, t >= last_due):
            out.stop_reason = "stable"
            return out
    out.stop_reason = "max_days"
    return out


def _is_stable(ledger: Ledger, rules: Rules, quiet_streak: int, past_last_due: bool) -> bool:
    if quiet_streak < rules.quiet_days:
        return False
    if rules.stop_rule == "horizon" and not past_last_due:
        return False
    return rules.rollover or not ledger.any_open()


def settle_due(
    ledger: Ledger,
    day: int,
    fail_fast: bool,
    record: list[tuple[int, int, float]] | None,
    defaulters: list[int] | None = None,
) -> tuple[list[int], bool]:
    """Settle every payable due on ``day`` in row order (§3.2–3.3).

    Returns the ids settled in full, in order, and whether a fail-fast default ended the run.
    ``defaulters``, if given, gets every debtor that defaults, in order (under fail-fast the
    one whose failure ended the run).
    """
    settled: list[int] = []
    due_ids = ledger.by_day.pop(day, None)
    if not due_ids:
        return settled, False
    cash, state, defaulted = ledger.cash, ledger.state, ledger.defaulted
    debtor, holder, amount = ledger.debtor, ledger.holder, ledger.amount
    rolled, settled_on = ledger.rolled, ledger.settled_on
    for pid in due_ids:
        d = debtor[pid]
        if state[pid] or defaulted[d]:
            continue
        a = amount[pid]
        have = cash[d]
        c = holder[pid]
        if have >= a - EPS:
            pay = a if have >= a else have
            cash[d] = have - pay
            cash[c] += pay
            state[pid] = SETTLED
            if not rolled[pid]:
                settled_on[pid] = day
            settled.append(pid)
            if record is not None and a > 0:
                record.append((d, c, a))
        elif fail_fast:
            if defaulters is not None:
                defaulters.append(d)
            return settled, True
        else:
            cash[d] = 0.0
            cash[c] += have
            state[pid] = DEFAULTED
            ledger.mark_defaulted(d)
            if defaulters is not None:
                defaulters.append(d)
    return settled, False


def roll_over(ledger: Ledger, settled: list[int], day: int) -> None:
    """Re-issue each payable settled today to the agent it paid (§3.4).

    The new payable continues the settled one's chain (same id), due ``day + distance``.
    """
    cash, defaulted, by_day = ledger.cash, ledger.defaulted, ledger.by_day
    debtor, holder, amount = ledger.debtor, ledger.holder, ledger.amount
    due, distance, state, rolled = ledger.due, ledger.distance, ledger.state, ledger.rolled
    for pid in settled:
        d, h = debtor[pid], holder[pid]
        if defaulted[d] or defaulted[h]:
            continue
        a = amount[pid]
        new_due = day + distance[pid]
        due[pid] = new_due
        state[pid] = OPEN
        rolled[pid] = True
        by_day[new_due].append(pid)
        have = cash[h]
        lend = a if have >= a else have
        cash[h] = have - lend
        cash[d] += lend
