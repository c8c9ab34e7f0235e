"""Experiment designs beyond the grid (issue 14): the points of a Latin hypercube, a scrambled
Sobol' sequence or a Saltelli sample over continuous ranges.

A range is Hydra's own ``interval(a,b)`` override, ``tag(log, interval(a,b))`` for a log scale.
The points come from ``scipy.stats.qmc`` (``LatinHypercube``, ``Sobol``) and from SALib
(``SALib.sample.sobol``, the Saltelli scheme, N·(2D+2) points), never from a hand-written
sampler. Drawing is deterministic in the design's seed; the drawn points are what a job stores,
so a rerun never draws again.

The sweeper's ``hydra.sweeper.design`` (``plan.py``) turns the points into one axis of the
sweep, crossed with the lists, ``range()`` and ``seed``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DESIGNS = ("grid", "lhs", "sobol", "saltelli", "frontier")
SAMPLED = ("lhs", "sobol", "saltelli")


class DesignError(ValueError):
    """A design that cannot be drawn as given; the message names the setting and what is
    allowed."""


@dataclass(frozen=True)
class Range:
    """One continuous parameter of a design: ``key`` in [low, high], on a log scale if ``log``."""

    key: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise DesignError(
                f"invalid range for {self.key}: interval({self.low},{self.high}); allowed "
                "finite bounds with low < high"
            )
        if self.log and self.low <= 0:
            raise DesignError(
                f"invalid range for {self.key}: tag(log, interval({self.low},{self.high})); a "
                "log scale needs low > 0"
            )

    @property
    def bounds(self) -> tuple[float, float]:
        """The bounds on the sampled scale (log10 for a log range)."""
        if self.log:
            return math.log10(self.low), math.log10(self.high)
        return self.low, self.high

    def value(self, sampled: float) -> float:
        """A value on the sampled scale back on the parameter's own."""
        value = 10.0**sampled if self.log else float(sampled)
        return min(max(value, self.low), self.high)  # no rounding error past a bound


def range_of(override: Any) -> Range:
    """A Range from a parsed Hydra override whose value is ``interval(...)`` (tags: ``log``)."""
    interval = override.value()
    tags = set(getattr(interval, "tags", set()) or set())
    unknown = tags - {"log"}
    if unknown:
        raise DesignError(
            f"invalid tag for {override.key_or_group}: {', '.join(sorted(unknown))}; allowed "
            "tag(log, interval(a,b)) for a log scale"
        )
    return Range(override.key_or_group, float(interval.start), float(interval.end), "log" in tags)


def check(design: Any, samples: Any, seed: Any) -> None:
    """The sweeper's design settings: each refusal names the setting, its value and what is
    allowed."""
    if design not in DESIGNS:
        raise DesignError(
            f"invalid hydra.sweeper.design={design!r}: allowed {', '.join(map(repr, DESIGNS))}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DesignError(f"invalid hydra.sweeper.design_seed={seed!r}: allowed an integer >= 0")
    if design in ("grid", "frontier"):
        if samples is not None:
            raise DesignError(
                f"hydra.sweeper.samples={samples!r} needs a sampled design: "
                "hydra.sweeper.design=lhs, sobol or saltelli (the grid crosses every list; the "
                "frontier searches hydra.sweeper.frontier.param)"
            )
    elif isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise DesignError(
            f"invalid hydra.sweeper.samples={samples!r}: hydra.sweeper.design={design} "
            "needs the number of points, an integer >= 1"
        )


def points(
    design: str, ranges: Sequence[Range], samples: int, seed: int
) -> tuple[list[dict[str, float]], list[str]]:
    """The design's points (one dict of values per point, in draw order) and the warnings the
    sampler gave (Sobol' counts that are not a power of two, as scipy says)."""
    if design in DESIGNS and design not in SAMPLED:
        raise DesignError(f"hydra.sweeper.design={design} draws no points")
    check(design, samples, seed)
    if not ranges:
        raise DesignError(
            f"hydra.sweeper.design={design} needs at least one continuous range, as "
            "key='interval(a,b)' (or 'tag(log, interval(a,b))')"
        )
    keys = [r.key for r in ranges]
    if len(set(keys)) != len(keys):
        raise DesignError(f"a key has two ranges: {', '.join(keys)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unit = _unit_points(design, ranges, samples, seed)
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    drawn = [{r.key: r.value(x) for r, x in zip(ranges, row, strict=True)} for row in unit.tolist()]
    return drawn, said


def _unit_points(design: str, ranges: Sequence[Range], samples: int, seed: int) -> Any:
    """Points on the sampled scale (log10 for log ranges), one row per point."""
    import numpy as np

    lows = np.array([r.bounds[0] for r in ranges])
    highs = np.array([r.bounds[1] for r in ranges])
    if design == "saltelli":
        saltelli = require_salib("sample")
        problem = {
            "num_vars": len(ranges),
            "names": [r.key for r in ranges],
            "bounds": [list(r.bounds) for r in ranges],
        }
        return saltelli.sample(problem, samples, calc_second_order=True, seed=seed)
    from scipy.stats import qmc

    if design == "lhs":
        sampler = qmc.LatinHypercube(d=len(ranges), rng=seed)
    else:
        sampler = qmc.Sobol(d=len(ranges), scramble=True, rng=seed)
    return qmc.scale(sampler.random(samples), lows, highs)


def require_salib(part: str) -> Any:
    """SALib's ``sample.sobol`` or ``analyze.sobol`` module; DesignError naming the extra if
    SALib is not installed."""
    import importlib

    try:
        return importlib.import_module(f"SALib.{part}.sobol")
    except ImportError:
        raise DesignError(
            "hydra.sweeper.design=saltelli and its sensitivity indices need SALib, which is not "
            "installed: pip install 'bilancio[designs]' (or, from a clone, uv run --extra "
            "designs ...)"
        ) from None


def saltelli_size(samples: int, dimensions: int) -> int:
    """Points of a Saltelli sample with second-order indices: N·(2D+2)."""
    return samples * (2 * dimensions + 2)


def design_settings(overrides: list[str] | None) -> dict[str, str]:
    """The ``hydra.sweeper.*`` settings among a job row's overrides (as strings)."""
    out = {}
    for o in overrides or []:
        key, _, value = o.partition("=")
        if key.startswith("hydra.sweeper."):
            out[key.removeprefix("hydra.sweeper.")] = value
    return out
