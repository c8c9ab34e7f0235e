"""The liquidity frontier (``hydra.sweeper.design=frontier``): for every cell of the other swept
values (seeds included), the smallest value of ``param`` in [low, high] at which a metric of the
run is at most ``target``, found by bisection for each regime separately.

The search runs in rounds. Round 0 evaluates ``low`` and ``high``; a regime whose metric is
above the target at ``high`` has *not reached* it (stored as such, never as a number); one at or
below it at ``low`` is *at low* (the value is ``low``: the crossing is at or below it). Every
other regime brackets its crossing in (low, high], and each of the ``iterations`` rounds that
follow halves its bracket at the midpoint. The answer is the bracket's upper end: the metric is
at most the target there, and above it at the lower end, (high − low)/2^iterations below.

An evaluation is an ordinary pair of the job (both regimes on one scenario), so a midpoint that
the two regimes share is run once. Each round is one batch through the launcher. The search is
a pure function of the stored pairs: :func:`replay` rebuilds it from them (resuming a job, and
the summaries after it), and asks for the values the next round needs.

The bisection assumes what it searches: the metric falls as ``param`` grows (δ against κ). Where
it does not, the answer is still a crossing: a value within (high − low)/2^iterations of a point
where the metric goes from above the target to at most the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PARAMS = ("kappa", "concentration", "mu", "outside_mid_ratio")
METRICS = {"delta": "delta_total", "delta_ring": "delta_ring"}  # setting → run metric
REGIMES = ("passive", "active")
MAX_ITERATIONS = 40
REACHED, AT_LOW, NOT_REACHED, FAILED, UNDEFINED = (
    "reached",
    "at low",
    "not reached",
    "failed",
    "undefined",
)


class FrontierError(ValueError):
    """Frontier settings that cannot be searched; the message names the setting."""


@dataclass(frozen=True)
class Frontier:
    param: str = "kappa"
    low: float = 0.1
    high: float = 4.0
    target: float = 0.02
    iterations: int = 6
    metric: str = "delta"

    @classmethod
    def of(cls, settings: dict[str, Any] | None) -> Frontier:
        """The settings of ``hydra.sweeper.frontier``, checked; each refusal names the
        setting, its value and what is allowed."""
        given = {k: v for k, v in (settings or {}).items() if v is not None}
        unknown = set(given) - set(cls.__dataclass_fields__)
        if unknown:
            raise FrontierError(
                f"unknown hydra.sweeper.frontier.{sorted(unknown)[0]}: allowed "
                + ", ".join(cls.__dataclass_fields__)
            )
        f = cls(**given)
        if f.param not in PARAMS:
            raise FrontierError(
                f"invalid hydra.sweeper.frontier.param={f.param!r}: allowed "
                + ", ".join(map(repr, PARAMS))
            )
        for name in ("low", "high", "target"):
            value = getattr(f, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FrontierError(
                    f"invalid hydra.sweeper.frontier.{name}={value!r}: allowed a number"
                )
            if not math.isfinite(value):
                raise FrontierError(
                    f"invalid hydra.sweeper.frontier.{name}={value!r}: allowed a finite number"
                )
        if not 0 <= f.target < 1:
            raise FrontierError(
                f"invalid hydra.sweeper.frontier.target={f.target!r}: allowed a default rate "
                "in [0, 1) (δ and delta_ring are shares of the debt)"
            )
        if f.low >= f.high:
            raise FrontierError(
                f"invalid hydra.sweeper.frontier.low={f.low!r} with high={f.high!r}: allowed "
                "low < high"
            )
        if (
            isinstance(f.iterations, bool)
            or not isinstance(f.iterations, int)
            or not 1 <= f.iterations <= MAX_ITERATIONS
        ):
            raise FrontierError(
                f"invalid hydra.sweeper.frontier.iterations={f.iterations!r}: allowed an integer "
                f"from 1 to {MAX_ITERATIONS}"
            )
        if f.metric not in METRICS:
            raise FrontierError(
                f"invalid hydra.sweeper.frontier.metric={f.metric!r}: allowed "
                + ", ".join(map(repr, METRICS))
            )
        return cls(f.param, float(f.low), float(f.high), float(f.target), f.iterations, f.metric)

    def overrides(self) -> list[str]:
        """How the job row records the search (beside hydra.sweeper.design=frontier)."""
        return [f"hydra.sweeper.frontier.{k}={getattr(self, k)}" for k in self.__dataclass_fields__]

    @property
    def resolution(self) -> float:
        """The bracket's width after the last round: (high − low)/2^iterations."""
        return (self.high - self.low) / 2**self.iterations

    @property
    def max_pairs_per_cell(self) -> int:
        return 2 + 2 * self.iterations


MISSING = object()  # an evaluation not run (or not finished) yet


@dataclass
class Search:
    """One regime's search in one cell."""

    status: str | None = None  # None while searching
    lo: float = 0.0
    hi: float = 0.0
    value: float | None = None  # the answer (reached, at low), never a number otherwise
    note: str | None = None  # why a failed or undefined search stopped

    def as_dict(self) -> dict[str, Any]:
        out = {"status": self.status, "value": self.value}
        if self.status == REACHED:
            out["bracket"] = [self.lo, self.hi]
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class CellSearch:
    """Both regimes' searches of one cell, how far they got and what they need next."""

    regimes: dict[str, Search] = field(default_factory=dict)
    rounds: int = 0  # rounds finished
    wanted: list[float] = field(default_factory=list)  # values the next round evaluates

    @property
    def done(self) -> bool:
        return not self.wanted

    def saved(self) -> float | None:
        """The liquidity saved, κ*_passive − κ*_active, when both regimes reached the target
        inside (low, high]: an answer "at low" is a bound (κ* ≤ low), not a value."""
        p, a = self.regimes["passive"], self.regimes["active"]
        if p.status != REACHED or a.status != REACHED:
            return None
        return p.value - a.value


Lookup = Callable[[float], Any]  # value → MISSING, an error text, or {regime: metric or None}


def replay(f: Frontier, lookup: Lookup) -> CellSearch:
    """One cell's search as far as its evaluations go: ``lookup(value)`` is MISSING for a value
    not evaluated yet, a string (the error) for a failed evaluation, or the metric of each
    regime (None where it is undefined)."""
    cell = CellSearch({r: Search(lo=f.low, hi=f.high) for r in REGIMES})
    ends = {v: lookup(v) for v in (f.low, f.high)}
    missing = [v for v, got in ends.items() if got is MISSING]
    if missing:
        cell.wanted = missing
        return cell
    for regime, search in cell.regimes.items():
        at_low, at_high = (_metric(ends[v], regime) for v in (f.low, f.high))
        if _stopped(search, at_low) or _stopped(search, at_high):
            continue
        if at_high > f.target:
            search.status = NOT_REACHED
        elif at_low <= f.target:
            search.status, search.value = AT_LOW, f.low
    cell.rounds = 1
    for _ in range(f.iterations):
        open_ = {r: s for r, s in cell.regimes.items() if s.status is None}
        if not open_:
            break
        mids = {r: (s.lo + s.hi) / 2 for r, s in open_.items()}
        got = {m: lookup(m) for m in dict.fromkeys(mids.values())}
        missing = [m for m, g in got.items() if g is MISSING]
        if missing:
            cell.wanted = missing
            return cell
        for regime, search in open_.items():
            mid = mids[regime]
            value = _metric(got[mid], regime)
            if _stopped(search, value):
                continue
            if value <= f.target:
                search.hi = mid
            else:
                search.lo = mid
        cell.rounds += 1
    for search in cell.regimes.values():
        if search.status is None:
            search.status, search.value = REACHED, search.hi
    return cell


def _metric(got: Any, regime: str) -> Any:
    """The regime's metric of an evaluation, or the error text of a failed one."""
    return got if isinstance(got, str) else got[regime]


def _stopped(search: Search, value: Any) -> bool:
    """A failed or undefined evaluation ends the regime's search (stated as such)."""
    if isinstance(value, str):
        search.status, search.note = FAILED, value
    elif value is None:
        search.status = UNDEFINED
        search.note = "the metric is undefined (a ring without debt)"
    else:
        return False
    return True
