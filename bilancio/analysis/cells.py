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
from array import array
from collections.abc import Iterable, Iterator, Sequence
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
        memo = repr(given)  # types told apart (1, 1.0, True); another key order: a new entry
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
    return list(iter_pairs(runs))


def iter_pairs(runs: Iterable[dict[str, Any]]) -> Iterator[Pair]:
    """The completed pairs of ``job_runs`` rows, one at a time, in the order of their pair keys.

    A list is put in that order first. Rows from an iterator must come as every store's
    ``job_runs`` and ``iter_job_runs`` give them, by job number; then only the pair being read
    is held, so a job of any size is summarised in memory that does not grow with it. Runs
    without a job number (bilancio 0.1's) are held to the end and come last, as their keys
    sort."""
    from bilancio.report import pair_key

    if isinstance(runs, Sequence):
        runs = sorted(runs, key=pair_key)
    cells = _Cells()
    held: dict[tuple, dict[str, dict[str, Any]]] = {}  # runs without a job number
    current: tuple | None = None  # the pair being read (a job number's key)
    found: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.get("status") != "completed":
            continue
        key = pair_key(run)
        if key[0] != 0:
            held.setdefault(key, {})[run["regime"]] = run
            continue
        if key != current:
            if current is not None:
                if key < current:
                    raise ValueError("iter_pairs: runs must come in the order of their job numbers")
                pair = _pair(found, cells)
                if pair is not None:
                    yield pair
            current, found = key, {}
        found[run["regime"]] = run
    pair = _pair(found, cells)
    if pair is not None:
        yield pair
    for key in sorted(held):
        pair = _pair(held[key], cells)
        if pair is not None:
            yield pair


def _pair(both: dict[str, dict[str, Any]], cells: _Cells) -> Pair | None:
    """The pair of a key's completed runs; None unless both regimes completed."""
    if "passive" not in both or "active" not in both:
        return None
    passive = both["passive"]
    key, params = cells.of(passive)
    seed = passive.get("seed")
    if seed is None:
        seed = (passive.get("config") or {}).get("seed", 0)
    return Pair(
        passive.get("job_num"), int(seed), key, params, _metrics(passive), _metrics(both["active"])
    )


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
        # importing scipy.stats takes 0.85 to 1.3 s on this 2-core machine (more on a cold
        # disk), and a sweep of one seed per cell needs nothing else from it.
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
    return cells_of_pairs(job_id, iter_pairs(runs))


class _Cell:
    """What a cell's row needs of its pairs, as float arrays (8 bytes a value): a cell of any
    number of pairs is summarised without holding the pairs."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.seeds: set[int] = set()
        self.effects = array("d")  # of the pairs whose two δ are defined ("usable")
        self.delta = (array("d"), array("d"))  # passive, active δ of the usable pairs
        self.ring = (array("d"), array("d"))  # passive, active delta_ring where present
        self.trades = {m: array("d") for m in TRADE_METRICS}  # the active run's, where present

    def add(self, pair: Pair) -> None:
        if pair.seed in self.seeds:
            # a pair that repeats a seed of the cell is the same simulation again (a Saltelli
            # sample's duplicated points, a swept non-model key) and counts once, or the
            # statistics would count one scenario as two replicates
            return
        self.seeds.add(pair.seed)
        effect = pair.effect
        if effect is not None:
            self.effects.append(effect)
            self.delta[0].append(float(pair.passive["delta_total"]))
            self.delta[1].append(float(pair.active["delta_total"]))
        for values, metrics in zip(self.ring, (pair.passive, pair.active), strict=True):
            _append(values, metrics.get("delta_ring"))
        for metric, values in self.trades.items():
            _append(values, pair.active.get(metric))

    def row(self, job_id: str, key: str) -> dict[str, Any]:
        params = self.params
        row: dict[str, Any] = {
            "cell_id": f"{job_id}-{key}",
            "job_id": job_id,
            "cell_key": key,
            "params": params,
            **{c: params.get(c) for c in PARAM_COLUMNS},
            "seeds": sorted(self.seeds),
            "n_pairs": len(self.seeds),
        }
        row.update(effect_statistics(self.effects.tolist()))
        row["mean_delta_passive"] = _mean(self.delta[0])
        row["mean_delta_active"] = _mean(self.delta[1])
        row["mean_delta_ring_passive"] = _mean(self.ring[0])
        row["mean_delta_ring_active"] = _mean(self.ring[1])
        for metric, values in self.trades.items():
            row[f"mean_{metric}"] = _mean(values)
        return row


def _append(values: array, value: Any) -> None:
    if value is not None:
        values.append(float(value))


class CellStatistics:
    """The ``cell_metrics`` rows of pairs added one at a time (see :class:`_Cell`)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._cells: dict[str, _Cell] = {}

    def add(self, pair: Pair) -> None:
        cell = self._cells.get(pair.cell_key)
        if cell is None:
            cell = self._cells[pair.cell_key] = _Cell(pair.params)
        cell.add(pair)

    def rows(self) -> list[dict[str, Any]]:
        """One row per cell, ordered by the cells' parameter values."""
        rows = [cell.row(self.job_id, key) for key, cell in self._cells.items()]
        rows.sort(key=lambda r: _sort_key(r["params"]))
        return rows


def cells_of_pairs(job_id: str, found: Iterable[Pair]) -> list[dict[str, Any]]:
    """:func:`cell_rows` of pairs already made by :func:`pairs_of` (or :func:`iter_pairs`)."""
    cells = CellStatistics(job_id)
    for pair in found:
        cells.add(pair)
    return cells.rows()


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


_ORDER = {name: i for i, name in enumerate(_flat(ModelParams().to_dict()))}
_SORTED: dict[tuple[str, ...], list[str]] = {}  # a set of keys as given → in the fields' order


def flatten(params: dict[str, Any]) -> dict[str, Any]:
    """``{"market": {"horizon": 10}}`` → ``{"market.horizon": 10}``, in the order of
    ModelParams' fields whatever order the store gave the keys in (PostgreSQL's JSONB sorts
    them by length); keys it does not know come last, by name."""
    flat = _flat(params)
    given = tuple(flat)
    order = _SORTED.get(given)
    if order is None:
        order = sorted(given, key=lambda k: (_ORDER.get(k, len(_ORDER)), k))
        if len(_SORTED) < 1000:  # the key sets of a few versions' configs
            _SORTED[given] = order
    return {k: flat[k] for k in order}


def swept_parameters(cells: Sequence[dict[str, Any]]) -> list[str]:
    """The (flattened) parameters whose value differs between the cells, in the order of
    ModelParams' fields."""
    flats = [flatten(c["params"]) for c in cells]
    if not flats:
        return []
    names = list(flats[0])
    return [k for k in names if len({_as_stored(f.get(k)) for f in flats}) > 1]


def _as_stored(value: Any) -> Any:
    """A value told apart as its JSON is (1, 1.0 and true differ; equal lists are equal)."""
    kind = type(value)
    if kind is float:
        return (kind, repr(value))  # as json.dumps: -0.0 is not 0.0, NaN is NaN
    if kind in (str, int, bool) or value is None:
        return (kind, value)
    return json.dumps(value, sort_keys=True)


def fixed_parameters(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The parameters every cell shares, with their values."""
    flats = [flatten(c["params"]) for c in cells]
    if not flats:
        return {}
    varying = set(swept_parameters(cells))
    return {k: v for k, v in flats[0].items() if k not in varying}
