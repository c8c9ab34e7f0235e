"""What the report's figures share: which parameters were swept and how much, panels for the
parameters a figure does not put on an axis, labels, hover text and confidence intervals."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bilancio.analysis.cells import flatten, swept_parameters
from bilancio.analysis.tables import label

MAX_PANELS = 24  # beyond this a figure colours by one more parameter instead


@dataclass
class Grid:
    """A job's cells (dicts of cell_metrics) with their flattened parameters and its pairs (the
    results API's frame), and the swept parameters, most-swept first."""

    cells: list[dict[str, Any]]
    pairs: Any  # pandas DataFrame
    swept: list[str]
    summary: dict[str, Any] | None = None  # job_metrics.raw_summary (a design's results)

    @classmethod
    def of(
        cls, cells: Sequence[dict[str, Any]], pairs: Any, job: dict[str, Any] | None = None
    ) -> Grid:
        cells = [dict(c, flat=flatten(c["params"])) for c in cells]
        swept = swept_parameters(cells)
        counts = {p: len({repr(c["flat"][p]) for c in cells}) for p in swept}
        ordered = sorted(swept, key=lambda p: (-counts[p], swept.index(p)))
        summary = ((job or {}).get("job_metrics") or {}).get("raw_summary")
        return cls(cells, pairs, ordered, summary)

    def values(self, parameter: str) -> list[Any]:
        return sorted({c["flat"][parameter] for c in self.cells}, key=_sortable)

    def effects(self, cell: dict[str, Any]) -> list[float]:
        """The cell's pair effects (δ defined in both regimes)."""
        mine = self.pairs[self.pairs.cell_key == cell["cell_key"]]
        return [float(e) for e in mine.trading_effect.dropna()]

    def regime_deltas(self, cell: dict[str, Any], regime: str) -> list[float]:
        mine = self.pairs[self.pairs.cell_key == cell["cell_key"]]
        return [float(d) for d in mine[f"delta_{regime}"].dropna()]


def _sortable(value: Any) -> tuple:
    return (value is None, value if isinstance(value, int | float) else str(value))


def value_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format(float(value), "g")


def assignment(cell: dict[str, Any], parameters: Sequence[str]) -> str:
    """'κ = 0.5, μ = 1'."""
    return ", ".join(f"{label(p)} = {value_text(cell['flat'][p])}" for p in parameters)


def panels(grid: Grid, over: Sequence[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The cells split by every combination of the parameters ``over`` (in order), each with a
    title; one untitled panel when ``over`` is empty."""
    if not over:
        return [("", grid.cells)]
    out = []
    for combo in itertools.product(*(grid.values(p) for p in over)):
        chosen = list(zip(over, combo, strict=True))
        mine = [c for c in grid.cells if all(c["flat"][p] == v for p, v in chosen)]
        if mine:
            title = ", ".join(f"{label(p)} = {value_text(v)}" for p, v in chosen)
            out.append((title, mine))
    return out


def layout_grid(count: int) -> tuple[int, int]:
    """Rows and columns for ``count`` panels (at most three columns)."""
    columns = min(3, max(1, count))
    return math.ceil(count / columns), columns


def t_interval(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The 95% t-interval of the mean (None, None for fewer than two values)."""
    import statistics

    from scipy import stats

    if len(values) < 2:
        return None, None
    mean = statistics.fmean(values)
    half = (
        float(stats.t.ppf(0.975, len(values) - 1))
        * statistics.stdev(values)
        / math.sqrt(len(values))
    )
    return mean - half, mean + half


def hover(cell: dict[str, Any], swept: Sequence[str]) -> str:
    """A cell's parameters, n, mean effect and CI, as hover text."""
    ci = (
        "–"
        if cell.get("ci95_low") is None
        else f"[{float(cell['ci95_low']):.4f}, {float(cell['ci95_high']):.4f}]"
    )
    mean = cell.get("mean_effect")
    return "<br>".join(
        [
            assignment(cell, swept) or "the only cell",
            f"n = {cell.get('n') or 0}",
            f"mean effect = {'–' if mean is None else f'{float(mean):.4f}'}",
            f"95% CI = {ci}",
        ]
    )


def base_layout(title: str, height: int = 420) -> dict[str, Any]:
    # no title inside the figure: the page's heading and caption say what it is, and a paper's
    # figure has its own caption
    return {
        "template": "plotly_white",
        "height": height,
        "margin": {"l": 60, "r": 30, "t": 40, "b": 60},
        "font": {"family": "Helvetica, Arial, sans-serif", "size": 13},
    }


EFFECT_LABEL = "trading effect δ_passive − δ_active"
