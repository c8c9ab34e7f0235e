"""Global sensitivity of a Saltelli job (``hydra.sweeper.design=saltelli``): first-order and
total Sobol' indices, with their confidence intervals, for the trading effect, δ passive and
δ active, from SALib's ``analyze.sobol``.

SALib's estimator reads the outputs in the order of its own sample (blocks of N·(2D+2) rows:
A, the D mixed rows AB_i, the D rows BA_i, B). The job numbers keep that order: with every other
swept value fixed, a larger job number is a later point of the design. So the outputs are the
pairs sorted by job number within each combination of the other swept values and the seed,
never the cells (with D = 2, BA_1 = AB_2, so a cell may hold one point twice).

Each combination of the other swept parameters is a *group* with its own indices. Within a
group the seeds are replicates: the output at a point is the mean over the seeds, so the indices
describe the parameters, not the noise of one scenario draw. Seeds are never analysed as a
parameter.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass
from typing import Any

from bilancio.sweep.designs import Range, design_settings, saltelli_size

METRICS = {
    "trading_effect": "trading effect δ_passive − δ_active",
    "delta_passive": "δ passive",
    "delta_active": "δ active",
}
CONF_LEVEL = 0.95
RESAMPLES = 1000  # SALib's bootstrap resamples for the confidence intervals


class SensitivityError(ValueError):
    """A job whose indices cannot be computed; the message says why and what to do."""


@dataclass(frozen=True)
class SaltelliJob:
    """How a Saltelli job's points were drawn, as its job row records it."""

    ranges: tuple[Range, ...]
    samples: int
    seed: int

    @property
    def points(self) -> int:
        return saltelli_size(self.samples, len(self.ranges))


def saltelli_of(job: dict[str, Any]) -> SaltelliJob | None:
    """The job's Saltelli design, or None for a job drawn another way."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    from bilancio.sweep.designs import range_of

    overrides = job.get("overrides") or []
    said = design_settings(overrides)
    if said.get("design") != "saltelli":
        return None
    parsed = OverridesParser.create().parse_overrides(
        [o for o in overrides if not o.startswith("hydra.")]
    )
    ranges = tuple(range_of(o) for o in parsed if o.value_type == ValueType.INTERVAL_SWEEP)
    return SaltelliJob(ranges, int(said["samples"]), int(said["design_seed"]))


def indices(job: dict[str, Any], pairs: list[Any]) -> dict[str, Any]:
    """The job's indices: ``{"parameters", "samples", "points", "conf_level", "groups": [...]}``,
    one group per combination of the other swept values, each with its seeds and, per metric,
    S1, S1_conf, ST and ST_conf per parameter (None with a ``note`` where the output does not
    vary). ``pairs``: the job's completed pairs (cells.pairs_of)."""
    from bilancio.analysis.cells import flatten

    design = saltelli_of(job)
    if design is None:
        raise SensitivityError(
            f"job {job['job_id']} was not drawn as a Saltelli sample: sensitivity indices need "
            "hydra.sweeper.design=saltelli (with hydra.sweeper.samples=N)"
        )
    keys = [r.key for r in design.ranges]
    runs: dict[tuple, dict[int, list[Any]]] = {}
    others: dict[tuple, dict[str, Any]] = {}
    for pair in pairs:
        flat = flatten(pair.params)
        rest = {k: v for k, v in flat.items() if k not in keys}
        group = tuple(sorted((k, repr(v)) for k, v in rest.items()))
        others.setdefault(group, rest)
        runs.setdefault(group, {}).setdefault(pair.seed, []).append(pair)
    groups = []
    for group, by_seed in runs.items():
        groups.append(_group(design, others[group], by_seed))
    swept_rest = _varying([g["values"] for g in groups])
    for g in groups:
        g["values"] = {k: v for k, v in g["values"].items() if k in swept_rest}
    return {
        "parameters": [
            {"name": r.key, "low": r.low, "high": r.high, "log": r.log} for r in design.ranges
        ],
        "samples": design.samples,
        "points": design.points,
        "design_seed": design.seed,
        "conf_level": CONF_LEVEL,
        "outputs_per_point": "mean over the seeds of each group",
        "groups": groups,
    }


def job_indices(store: Any, job: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(the job's indices, whether they are the stored ones): a finished job's stored indices
    (``job_metrics.raw_summary["sensitivity"]``); otherwise computed from its runs now."""
    from bilancio.analysis.cells import pairs_of

    stored = ((job.get("job_metrics") or {}).get("raw_summary") or {}).get("sensitivity")
    if job.get("status") != "running" and stored and "error" not in stored:
        return stored, True
    return indices(job, pairs_of(store.job_runs(job["job_id"]))), False


def _varying(values: list[dict[str, Any]]) -> set[str]:
    """The keys whose value differs between the groups (the other swept parameters)."""
    keys = {k for v in values for k in v}
    return {k for k in keys if len({repr(v.get(k)) for v in values}) > 1}


def _group(design: SaltelliJob, values: dict[str, Any], by_seed: dict[int, list]) -> dict:
    seeds = sorted(by_seed)
    found = {"values": values, "seeds": seeds, "metrics": {}}
    short = {s: len(p) for s, p in by_seed.items() if len(p) != design.points}
    if short:
        found["note"] = (
            f"incomplete: the design has {design.points} points, and "
            + ", ".join(f"seed {s} has {n} completed pairs" for s, n in sorted(short.items()))
            + "; resume the sweep with its job.id to complete it"
        )
        return found
    ordered = {s: sorted(p, key=lambda q: q.job_num) for s, p in by_seed.items()}
    for metric in METRICS:
        outputs = []
        for i in range(design.points):
            values_at = [_metric(ordered[s][i], metric) for s in seeds]
            if any(v is None for v in values_at):
                found["metrics"][metric] = {"note": "undefined at some points (δ without debt)"}
                break
            outputs.append(statistics.fmean(values_at))
        else:
            found["metrics"][metric] = _analyse(design, outputs)
    return found


def _metric(pair: Any, metric: str) -> float | None:
    if metric == "trading_effect":
        return pair.effect
    value = (pair.passive if metric == "delta_passive" else pair.active).get("delta_total")
    return None if value is None else float(value)


def _analyse(design: SaltelliJob, outputs: list[float]) -> dict[str, Any]:
    import numpy as np

    from bilancio.sweep.designs import DesignError, require_salib

    try:
        sobol = require_salib("analyze")
    except DesignError as err:
        raise SensitivityError(str(err)) from None
    y = np.asarray(outputs, dtype=float)
    if float(np.std(y)) == 0.0:
        return {
            "note": f"no variation: the output is {y[0]:.6g} at every point, so it depends on "
            "no parameter (indices undefined)",
            "indices": None,
        }
    problem = {
        "num_vars": len(design.ranges),
        "names": [r.key for r in design.ranges],
        "bounds": [list(r.bounds) for r in design.ranges],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # SALib's 0/0 for a flat mixed column
        result = sobol.analyze(
            problem,
            y,
            calc_second_order=True,
            num_resamples=RESAMPLES,
            conf_level=CONF_LEVEL,
            seed=bootstrap_seed(design.seed),
        )
    return {
        "variance": float(np.var(y)),
        "indices": {
            r.key: {k: _finite(result[k][i]) for k in ("S1", "S1_conf", "ST", "ST_conf")}
            for i, r in enumerate(design.ranges)
        },
    }


def bootstrap_seed(design_seed: int) -> int:
    """The seed of SALib's bootstrap: the design seed + 1, because SALib's ``analyze.sobol``
    tests ``if seed:`` and so draws unseeded (other intervals every time) for a seed of 0."""
    return design_seed + 1


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def format_indices(found: dict[str, Any]) -> str:
    """The indices as a table per group."""
    names = [p["name"] for p in found["parameters"]]
    scale = ", ".join(
        f"{p['name']} in [{p['low']:g}, {p['high']:g}]{' (log)' if p['log'] else ''}"
        for p in found["parameters"]
    )
    lines = [
        f"Sobol' indices (SALib, Saltelli sample of N = {found['samples']}, "
        f"{found['points']} points; ±: {found['conf_level']:.0%} bootstrap interval) over {scale}"
    ]
    for g in found["groups"]:
        where = ", ".join(f"{k}={v}" for k, v in g["values"].items())
        seeds = g["seeds"]
        lines.append(
            f"\n{where + ': ' if where else ''}{len(seeds)} seed{'s' * (len(seeds) != 1)}"
            + (" (outputs averaged over them)" if len(seeds) > 1 else "")
        )
        if g.get("note"):
            lines.append(f"  {g['note']}")
            continue
        lines.append(
            f"  {'output':<38} {'parameter':<16} {'S1 (first order)':>18} {'ST (total)':>18}"
        )
        for metric, label in METRICS.items():
            got = g["metrics"].get(metric) or {}
            if not got.get("indices"):
                lines.append(f"  {label:<38} {got.get('note', '–')}")
                continue
            for i, name in enumerate(names):
                v = got["indices"][name]
                lines.append(
                    f"  {label if i == 0 else '':<38} {name:<16} "
                    f"{_pm(v['S1'], v['S1_conf']):>18} {_pm(v['ST'], v['ST_conf']):>18}"
                )
    return "\n".join(lines)


def _pm(value: float | None, conf: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f} ± {conf:.3f}" if conf is not None else f"{value:.3f}"
