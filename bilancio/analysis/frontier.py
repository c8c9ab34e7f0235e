"""A frontier job's answers (``hydra.sweeper.design=frontier``, :mod:`bilancio.sweep.frontier`):
per cell κ*_passive, κ*_active and the liquidity saved κ*_passive − κ*_active, each replayed
from the job's stored pairs; per group of cells that differ only by seed, the means with their
95% t-intervals. "Not reached within [low, high]" stays a status, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bilancio.analysis.cells import _metrics
from bilancio.sweep.frontier import (
    AT_LOW,
    METRICS,
    MISSING,
    NOT_REACHED,
    REACHED,
    REGIMES,
    Frontier,
    replay,
)


def frontier_of(job: dict[str, Any]) -> Frontier | None:
    """A job's frontier settings, as its row's overrides record them; None for other jobs."""
    from bilancio.sweep.designs import design_settings

    said = design_settings(job.get("overrides"))
    if said.get("design") != "frontier":
        return None
    raw = {k.removeprefix("frontier."): v for k, v in said.items() if k.startswith("frontier.")}
    f = Frontier()
    typed = {
        k: type(getattr(f, k))(v) if not isinstance(getattr(f, k), str) else v
        for k, v in raw.items()
    }
    return Frontier.of(typed)


def results(f: Frontier, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The frontier of every cell (its other values and seed) from the job's runs, and the
    liquidity saved per group of cells that differ only by seed, with its 95% t-interval."""
    from bilancio.analysis.cells import flatten
    from bilancio.report import pair_key

    by_pair: dict[tuple, dict[str, dict[str, Any]]] = {}
    for run in runs:
        by_pair.setdefault(pair_key(run), {})[run["regime"]] = run
    cells: dict[str, dict[str, Any]] = {}
    evaluations: dict[str, dict[float, Any]] = {}
    for both in by_pair.values():
        run = both.get("passive") or both.get("active")
        config = run.get("config") or {}
        value = config.get(f.param)
        if value is None:
            continue
        rest = {k: v for k, v in flatten(_params(config)).items() if k != f.param}
        key = repr(sorted(rest.items()))
        cells.setdefault(key, rest)
        evaluations.setdefault(key, {})[float(value)] = _evaluation(f, both)
    out = []
    for key, rest in cells.items():
        found = evaluations[key]
        cell = replay(f, lambda v, found=found: found.get(v, MISSING))
        out.append(
            {
                "values": rest,
                "passive": cell.regimes["passive"].as_dict(),
                "active": cell.regimes["active"].as_dict(),
                "saved": cell.saved(),
                "rounds": cell.rounds,
                "finished": cell.done,
                "evaluations": len(found),
            }
        )
    swept = _varying([c["values"] for c in out])
    for c in out:
        c["values"] = {k: v for k, v in c["values"].items() if k in swept}
    out.sort(key=lambda c: [_sortable(v) for v in c["values"].values()])
    return {
        "settings": {k: getattr(f, k) for k in f.__dataclass_fields__},
        "resolution": f.resolution,
        "cells": out,
        "groups": _groups(out),
    }


def _params(config: dict[str, Any]) -> dict[str, Any]:
    from bilancio.model import ModelParams

    fields = ModelParams.field_names()
    return {k: config[k] for k in fields if k in config}


def _evaluation(f: Frontier, both: dict[str, dict[str, Any]]) -> Any:
    """What replay needs of a stored pair: the metric of each regime, or the error of a failed
    one (a pair still missing a regime is MISSING)."""
    if any(r.get("status") == "failed" for r in both.values()):
        failed = next(r for r in both.values() if r.get("status") == "failed")
        return f"failed: {failed.get('error') or 'unknown error'}"
    if set(both) != set(REGIMES) or any(r.get("status") != "completed" for r in both.values()):
        return MISSING
    out = {}
    for regime, run in both.items():
        value = _metrics(run).get(METRICS[f.metric])
        out[regime] = None if value is None else float(value)
    return out


def _varying(values: list[dict[str, Any]]) -> set[str]:
    keys = {k for v in values for k in v}
    return {k for k in keys if len({repr(v.get(k)) for v in values}) > 1}


def _sortable(value: Any) -> tuple:
    return (value is None, value if isinstance(value, int | float) else str(value))


def _groups(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells that differ only by seed, pooled: per regime how many seeds reached the target
    inside (low, high] and the mean answer with its 95% t-interval; the liquidity saved
    likewise (over the seeds where both regimes reached it). "At low" and "not reached" are
    counted, never averaged."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    shown: dict[str, dict[str, Any]] = {}
    for c in cells:
        rest = {k: v for k, v in c["values"].items() if k != "seed"}
        key = repr(sorted(rest.items()))
        grouped.setdefault(key, []).append(c)
        shown[key] = rest
    out = []
    for key, members in grouped.items():
        group: dict[str, Any] = {"values": shown[key], "seeds": len(members)}
        for regime in REGIMES:
            # the mean of the values found inside (low, high]; "at low" is a bound, counted
            values = [m[regime]["value"] for m in members if m[regime]["status"] == REACHED]
            statuses = [m[regime]["status"] for m in members]
            group[regime] = {
                **_mean_ci(values),
                "not_reached": statuses.count(NOT_REACHED),
                "at_low": statuses.count(AT_LOW),
                "other": sum(s not in (REACHED, AT_LOW, NOT_REACHED) for s in statuses),
            }
        group["saved"] = _mean_ci([m["saved"] for m in members if m["saved"] is not None])
        out.append(group)
    return out


def _mean_ci(values: list[float]) -> dict[str, Any]:
    """n, mean and 95% t-interval (scipy.stats.t); no interval for fewer than 2 values."""
    import statistics

    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "ci95_low": None, "ci95_high": None}
    mean = statistics.fmean(values)
    if n < 2:
        return {"n": 1, "mean": mean, "ci95_low": None, "ci95_high": None}
    from scipy import stats

    sd = statistics.stdev(values)
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "ci95_low": mean - half, "ci95_high": mean + half}


def job_frontier(store: Any, job: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """(the job's frontier answers or None for another design, whether they are the stored
    ones): a finished job's stored answers, otherwise replayed from its runs now."""
    search = frontier_of(job)
    if search is None:
        return None, False
    stored = ((job.get("job_metrics") or {}).get("raw_summary") or {}).get("frontier")
    if job.get("status") != "running" and stored:
        return stored, True
    return results(search, store.job_runs(job["job_id"])), False


def _answer(regime: dict[str, Any], seeds: int) -> str:
    """A group's answer for one regime: the mean with its interval, and how many seeds did
    not reach the target (or reached it already at low)."""
    text = "–" if regime["mean"] is None else _ci_text(regime)
    notes = []
    if regime["not_reached"]:
        notes.append(f"{regime['not_reached']}/{seeds} not reached")
    if regime["at_low"]:
        notes.append(f"{regime['at_low']}/{seeds} at low")
    if regime["other"]:
        notes.append(f"{regime['other']}/{seeds} failed or undefined")
    return text + (f" ({', '.join(notes)})" if notes else "")


def _ci_text(found: dict[str, Any]) -> str:
    if found["ci95_low"] is None:
        return f"{found['mean']:.3f} (n={found['n']})"
    return f"{found['mean']:.3f} [{found['ci95_low']:.3f}, {found['ci95_high']:.3f}]"


def format_frontier(found: dict[str, Any]) -> str:
    """The frontier as a table: one row per group of cells that differ only by seed."""
    s = found["settings"]
    lines = [
        f"frontier: the smallest {s['param']} in [{s['low']:g}, {s['high']:g}] where "
        f"{s['metric']} ≤ {s['target']:g}, per regime (bisection, {s['iterations']} rounds after "
        f"the ends: ±{found['resolution']:.3g}); mean over the seeds with its 95% t-interval"
    ]
    groups = found["groups"]
    keys = sorted({k for g in groups for k in g["values"]})
    head = [*keys, "seeds", f"{s['param']}* passive", f"{s['param']}* active", "saved"]
    rows = []
    for g in groups:
        saved = g["saved"]
        rows.append(
            [
                *(f"{g['values'].get(k)}" for k in keys),
                str(g["seeds"]),
                _answer(g["passive"], g["seeds"]),
                _answer(g["active"], g["seeds"]),
                "–" if saved["mean"] is None else _ci_text(saved),
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)] if rows else []
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    if not rows:
        lines.append("  (no cell has both ends evaluated yet)")
    unfinished = sum(not c["finished"] for c in found["cells"])
    if unfinished:
        lines.append(
            f"  {unfinished} of {len(found['cells'])} cells have not finished their search "
            "(resume the job with its job.id)"
        )
    lines.append(
        f"  saved = {s['param']}*_passive − {s['param']}*_active, over the seeds where both "
        "reached the target"
    )
    return "\n".join(lines)


FRONTIER_COLUMNS = (
    "status_passive",
    "value_passive",
    "status_active",
    "value_active",
    "saved",
    "rounds",
    "evaluations",
    "finished",
)


def frontier_rows(found: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per cell (its other swept values and seed) for ``jobs export --frontier``; a
    value that was not reached is empty, with its status beside it."""
    out = []
    for c in found["cells"]:
        out.append(
            {
                **c["values"],
                "status_passive": c["passive"]["status"],
                "value_passive": c["passive"]["value"],
                "status_active": c["active"]["status"],
                "value_active": c["active"]["value"],
                "saved": c["saved"],
                "rounds": c["rounds"],
                "evaluations": c["evaluations"],
                "finished": c["finished"],
            }
        )
    return out
