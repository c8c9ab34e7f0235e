"""The job aggregate of MODEL.md §6: the ``job_metrics`` row from a sweep's pairs."""

from __future__ import annotations

import statistics
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

EFFECT_THRESHOLD = 0.001  # |effect| above this counts as positive / negative


@dataclass(frozen=True)
class PairDeltas:
    """What the aggregate needs of one pair."""

    delta_passive: float | None
    delta_active: float | None


def aggregate(pairs: Iterable[PairDeltas]) -> dict[str, Any]:
    """The job_metrics columns over the pairs whose two δ are defined."""
    total = Aggregate()
    for p in pairs:
        total.add(p.delta_passive, p.delta_active)
    return total.row()


class Aggregate:
    """The job aggregate of pairs added one at a time, as two float arrays (8 bytes a δ)."""

    def __init__(self) -> None:
        self.passive, self.active = array("d"), array("d")

    def add(self, delta_passive: float | None, delta_active: float | None) -> None:
        if delta_passive is not None and delta_active is not None:
            self.passive.append(delta_passive)
            self.active.append(delta_active)

    def row(self) -> dict[str, Any]:
        """The job_metrics columns."""
        n = len(self.passive)
        if n == 0:
            return {
                "n_comparisons": 0,
                "n_pairs": 0,
                "positive_effects": 0,
                "negative_effects": 0,
                "neutral_effects": 0,
                "mean_trading_effect": None,
                "min_trading_effect": None,
                "max_trading_effect": None,
                "std_trading_effect": None,
                "mean_delta_passive": None,
                "mean_delta_active": None,
                "mean_phi_passive": None,
                "mean_phi_active": None,
            }
        passive, active = self.passive, self.active
        effects = [p - a for p, a in zip(passive, active, strict=True)]
        positive = sum(e > EFFECT_THRESHOLD for e in effects)
        negative = sum(e < -EFFECT_THRESHOLD for e in effects)
        return {
            "n_comparisons": n,
            "n_pairs": n,
            "mean_trading_effect": statistics.fmean(effects),
            "min_trading_effect": min(effects),
            "max_trading_effect": max(effects),
            "std_trading_effect": statistics.stdev(effects) if n > 1 else 0.0,
            "positive_effects": positive,
            "negative_effects": negative,
            "neutral_effects": n - positive - negative,
            "mean_delta_passive": statistics.fmean(passive),
            "mean_delta_active": statistics.fmean(active),
            "mean_phi_passive": statistics.fmean(1 - p for p in passive),
            "mean_phi_active": statistics.fmean(1 - a for a in active),
        }
