"""The job aggregate of MODEL.md §6: the ``job_metrics`` row from a sweep's pairs."""

from __future__ import annotations

import statistics
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
    usable = [p for p in pairs if p.delta_passive is not None and p.delta_active is not None]
    n = len(usable)
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
    effects = [p.delta_passive - p.delta_active for p in usable]
    positive = sum(e > EFFECT_THRESHOLD for e in effects)
    negative = sum(e < -EFFECT_THRESHOLD for e in effects)
    mean_passive = statistics.fmean(p.delta_passive for p in usable)
    mean_active = statistics.fmean(p.delta_active for p in usable)
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
        "mean_delta_passive": mean_passive,
        "mean_delta_active": mean_active,
        "mean_phi_passive": statistics.fmean(1 - p.delta_passive for p in usable),
        "mean_phi_active": statistics.fmean(1 - p.delta_active for p in usable),
    }
