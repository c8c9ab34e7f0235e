"""Result objects of a run: plain floats, ints and None, JSON-serialisable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunResult:
    """The metrics of one run (MODEL.md §4; the trade metrics of §5.7 are None when passive)."""

    regime: str
    delta_total: float | None
    phi_total: float | None
    alpha_1: float | None
    mpeak_1: float | None
    v_1: float | None
    hhi_plus_1: float | None
    time_to_stability: int | None
    n_defaults: int
    n_clears: int
    days_run: int
    stop_reason: str
    total_face: float
    unpaid_face: float
    # unpaid share of the ring's own payables (δ also counts the market makers' legs)
    delta_ring: float | None = None
    # §5.7 trade metrics: None for passive runs.
    n_trades: int | None = None
    n_sells: int | None = None
    n_buys: int | None = None
    n_interior: int | None = None
    n_passthrough: int | None = None
    n_rejected_sells: int | None = None
    n_rejected_buys: int | None = None
    n_unfilled_sells: int | None = None
    trade_volume_face: float | None = None
    trade_volume_cash: float | None = None
    dealer_pnl: float | None = None
    vbt_pnl: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # every field is a scalar: a shallow copy is a full copy


@dataclass(frozen=True)
class PairResult:
    """A passive and an active run of the same scenario (MODEL.md §6)."""

    passive: RunResult
    active: RunResult

    @property
    def trading_effect(self) -> float | None:
        """δ_passive − δ_active: positive when trading reduced defaults (None if δ undefined)."""
        dp, da = self.passive.delta_total, self.active.delta_total
        if dp is None or da is None:
            return None
        return dp - da

    @property
    def trading_relief_ratio(self) -> float | None:
        """trading_effect / δ_passive, 0 when δ_passive = 0."""
        effect = self.trading_effect
        if effect is None:
            return None
        dp = self.passive.delta_total
        return effect / dp if dp else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "passive": self.passive.to_dict(),
            "active": self.active.to_dict(),
            "trading_effect": self.trading_effect,
            "trading_relief_ratio": self.trading_relief_ratio,
        }
