"""Result objects of a run: plain floats, ints and None, JSON-serialisable."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
