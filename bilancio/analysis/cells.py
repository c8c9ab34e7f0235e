"""Cells and their statistics (MODEL.md §6, "Cell statistics"): the ``cell_metrics`` rows.

A *cell* is a distinct combination of every model parameter except ``seed`` (market parameters
included), compared after the normalisation of the config hash; its pairs are its replicates.
For each cell: n, the trading effect's mean, sd, standard error and 95% t-interval, the paired
t-test and Wilcoxon signed-rank p-values (the effect is a paired difference δ_passive − δ_active
of the same scenario, so a one-sample test of the effects against 0 is the paired test), the
positive/negative/neutral counts, mean δ and ``delta_ring`` of both regimes and the means of the
active runs' trade metrics (§5.7).
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bilancio.model import ModelParams
from bilancio.rows import EFFECT_COLUMNS, MEAN_COLUMNS, TRADE_METRICS
from bilancio.sweep.aggregate import EFFECT_THRESHOLD

# the run columns a cell repeats, so that SQL can select cells without reading JSON
PARAM_COLUMNS = ("kappa", "concentration", "mu", "outside_mid_ratio")
CELL_COLUMNS = (
    "cell_id",
    "job_id",
    "cell_key",
    "params",
    *PARAM_COLUMNS,
    "seeds",
    "n_pairs",
    *EFFECT_COLUMNS,
    *MEAN_COLUMNS,
)
_FIELDS = ModelParams.field_names()


@dataclass(frozen=True)
class Pair:
    """A completed pair of a job, with the cell it belongs to."""

    job_num: int | None  # None for bilancio 0.1's runs
    seed: int
    cell_key: str
    params: dict[str, Any]  # every model parameter but seed, as ModelParams.to_dict() has it
    passive: dict[str, Any]  # the run's metrics (raw_metrics, the metric columns as fallback)
    active: dict[str, Any]

    @property
    def effect(self) -> float | None:
        dp, da = self.passive.get("delta_total"), self.active.get("delta_total")
        return None if dp is None or da is None else float(dp) - float(da)


class _Cells:
    """Cell keys of run configs, each distinct parameter set validated once."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, dict[str, Any]]] = {}

    def of(self, run: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        config = run.get("config") or {}
        given = {k: config[k] for k in _FIELDS if k in config and k != "seed"}
        for column in PARAM_COLUMNS:  # bilancio 0.1's runs have them as columns only
            if column not in given and run.get(column) is not None:
                given[column] = float(run[column])
        memo = json.dumps(given, sort_keys=True, default=str)
        if memo not in self._known:
            try:  # the defaults of keys an older config lacks
                params = ModelParams(**given).to_dict()
                del params["seed"]
            except (TypeError, ValueError):  # not a config this version accepts: as stored
                params = given
            self._known[memo] = (cell_key(params), params)
        return self._known[memo]


def cell_key(params: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of a cell's parameters (without seed;
    without the model version, so that two code versions' jobs can be compared cell by cell)."""
    from bilancio.sweep.records import normalise

    body = {k: v for k, v in params.items() if k != "seed"}
    canonical = json.dumps(normalise(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _metrics(run: dict[str, Any]) -> dict[str, Any]:
    out = dict(run.get("raw_metrics") or {})
    for column in ("delta_total", "phi_total", "n_defaults", "n_clears", "time_to_stability"):
        if out.get(column) is None and run.get(column) is not None:
            out[column] = run[column]
    return out


def pairs_of(runs: Iterable[dict[str, Any]]) -> list[Pair]:
    """The completed pairs (both regimes completed) of a store's ``job_runs`` rows."""
    from bilancio.report import pair_key

    by_pair: dict[tuple, dict[str, dict[str, Any]]] = {}
    for run in runs:
        if run.get("status") == "completed":
            by_pair.setdefault(pair_key(run), {})[run["regime"]] = run
    cells = _Cells()
    pairs = []
    for found in sorted(by_pair):
        both = by_pair[found]
        if "passive" not in both or "active" not in both:
            continue
        passive = both["passive"]
        key, params = cells.of(passive)
        seed = passive.get("seed")
        if seed is None:
            seed = (passive.get("config") or {}).get("seed", 0)
        pairs.append(
            Pair(
                passive.get("job_num"),
                int(seed),
                key,
                params,
                _metrics(passive),
                _metrics(both["active"]),
            )
        )
    return pairs


def effect_statistics(effects: Sequence[float]) -> dict[str, Any]:
    """The §6 statistics of one cell's effects e₁…eₙ (the EFFECT_COLUMNS)."""
    e = [float(x) for x in effects]
    n = len(e)
    positive = sum(x > EFFECT_THRESHOLD for x in e)
    negative = sum(x < -EFFECT_THRESHOLD for x in e)
    out: dict[str, Any] = dict.fromkeys(EFFECT_COLUMNS)
    out.update(
        n=n,
        positive_effects=positive,
        negative_effects=negative,
        neutral_effects=n - positive - negative,
    )
    if n == 0:
        return out
    out["mean_effect"] = mean = statistics.fmean(e)
    nonzero = sum(x != 0 for x in e)
    if nonzero == 1:
        # the exact test of one nonzero difference: its signed rank is +1 or −1 with
        # probability 1/2 each, so the two-sided p is 1 (scipy gives 1.0). Said here because
        # importing scipy.stats takes about 3 s on a 2-core machine, and a sweep of one seed
        # per cell needs nothing else from it.
        out["p_wilcoxon"] = 1.0
    if n < 2 and nonzero < 2:
        return out
    from scipy import stats

    if nonzero > 1:
        with warnings.catch_warnings():  # see below
            warnings.simplefilter("ignore", RuntimeWarning)
            out["p_wilcoxon"] = _finite(stats.wilcoxon(e, zero_method="wilcox").pvalue)
    if n < 2:
        return out
    # statistics.stdev is exact (rational arithmetic): equal effects give sd = 0 exactly, where
    # numpy's two-pass formula leaves ~1e-17 and a t-test on that noise would "find" an effect
    sd = statistics.stdev(e)
    se = sd / math.sqrt(n)
    half = float(stats.t.ppf(0.975, n - 1)) * se
    out.update(sd_effect=sd, se_effect=se, ci95_low=mean - half, ci95_high=mean + half)
    with warnings.catch_warnings():
        # scipy warns of precision loss for nearly equal effects; the p-value is still its own
        warnings.simplefilter("ignore", RuntimeWarning)
        if sd > 0:
            out["p_ttest"] = _finite(stats.ttest_1samp(e, 0.0).pvalue)
    return out


def _finite(value: Any) -> float | None:
    """A p-value as a float; NaN (which JSON and the stores cannot hold) as None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _mean(values: Iterable[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _sort_key(params: dict[str, Any]) -> tuple:
    flat = flatten(params)
    return tuple((flat[k] is None, flat[k] if flat[k] is not None else 0) for k in flat)


def cell_rows(job_id: str, runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``cell_metrics`` row per cell of the job's completed pairs, ordered by the cells'
    parameter values."""
    return cells_of_pairs(job_id, pairs_of(runs))


def cells_of_pairs(job_id: str, found: Iterable[Pair]) -> list[dict[str, Any]]:
    """:func:`cell_rows` of pairs already made by :func:`pairs_of`."""
    groups: dict[str, dict[int, Pair]] = {}
    for pair in found:
        # a cell's replicates are its seeds: a pair that repeats a seed of the cell is the same
        # simulation again (a Saltelli sample's duplicated points, a swept non-model key) and
        # counts once, or its statistics would count one scenario as two replicates
        groups.setdefault(pair.cell_key, {}).setdefault(pair.seed, pair)
    rows = []
    for key, by_seed in groups.items():
        pairs = list(by_seed.values())
        params = pairs[0].params
        usable = [p for p in pairs if p.effect is not None]
        row: dict[str, Any] = {
            "cell_id": f"{job_id}-{key}",
            "job_id": job_id,
            "cell_key": key,
            "params": params,
            **{c: params.get(c) for c in PARAM_COLUMNS},
            "seeds": sorted({p.seed for p in pairs}),
            "n_pairs": len(pairs),
        }
        row.update(effect_statistics([p.effect for p in usable]))  # type: ignore[misc]
        row["mean_delta_passive"] = _mean(p.passive["delta_total"] for p in usable)
        row["mean_delta_active"] = _mean(p.active["delta_total"] for p in usable)
        row["mean_delta_ring_passive"] = _mean(p.passive.get("delta_ring") for p in pairs)
        row["mean_delta_ring_active"] = _mean(p.active.get("delta_ring") for p in pairs)
        for metric in TRADE_METRICS:
            row[f"mean_{metric}"] = _mean(p.active.get(metric) for p in pairs)
        rows.append(row)
    rows.sort(key=lambda r: _sort_key(r["params"]))
    return rows


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


_ORDER = {name: i for i, name in enumerate(_flat(ModelParams().to_dict()))}


def flatten(params: dict[str, Any]) -> dict[str, Any]:
    """``{"market": {"horizon": 10}}`` → ``{"market.horizon": 10}``, in the order of
    ModelParams' fields whatever order the store gave the keys in (PostgreSQL's JSONB sorts
    them by length); keys it does not know come last, by name."""
    flat = _flat(params)
    return {k: flat[k] for k in sorted(flat, key=lambda k: (_ORDER.get(k, len(_ORDER)), k))}


def swept_parameters(cells: Sequence[dict[str, Any]]) -> list[str]:
    """The (flattened) parameters whose value differs between the cells, in the order of
    ModelParams' fields."""
    flats = [flatten(c["params"]) for c in cells]
    if not flats:
        return []
    names = list(flats[0])
    return [k for k in names if len({json.dumps(f.get(k)) for f in flats}) > 1]


def fixed_parameters(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The parameters every cell shares, with their values."""
    flats = [flatten(c["params"]) for c in cells]
    if not flats:
        return {}
    varying = set(swept_parameters(cells))
    return {k: v for k, v in flats[0].items() if k not in varying}
