"""Two jobs cell by cell: the difference in trading effect with its 95% CI (e.g. ρ = 1 against
ρ = 0.5, or the same grid under two code versions).

Cells are matched on every parameter whose values the two jobs share; a parameter whose set of
values differs between the jobs is what is being compared. Seeds are common random numbers
(MODEL.md §6): where both cells have a seed, its two effects come from the same debts, so the
difference is taken seed by seed and tested as a paired sample; cells without common seeds fall
back to Welch's two-sample interval.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from bilancio.analysis.cells import flatten


def _flat_cells(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(c, flat=flatten(c["params"])) for c in cells]


def _effects_by_seed(pairs: Any, cell_key: str) -> dict[int, float]:
    mine = pairs[(pairs.cell_key == cell_key) & pairs.trading_effect.notna()]
    return {int(s): float(e) for s, e in zip(mine.seed, mine.trading_effect, strict=True)}


def compare(
    cells_a: list[dict[str, Any]], pairs_a: Any, cells_b: list[dict[str, Any]], pairs_b: Any
) -> dict[str, Any]:
    """``{"differing": {param: (values in A, values in B)}, "matched_on": [...],
    "rows": [...], "unmatched": (count in A, count in B)}``; each row has the matched
    parameters' values, n, both mean effects, the difference A − B, its CI, p and method."""
    from scipy import stats

    a, b = _flat_cells(cells_a), _flat_cells(cells_b)
    keys = list(dict.fromkeys([k for c in a + b for k in c["flat"]]))
    values = {
        k: ({repr(c["flat"].get(k)) for c in a}, {repr(c["flat"].get(k)) for c in b}) for k in keys
    }
    differing = {
        k: (
            sorted({c["flat"].get(k) for c in a}, key=repr),
            sorted({c["flat"].get(k) for c in b}, key=repr),
        )
        for k, (va, vb) in values.items()
        if va != vb
    }
    matched_on = [k for k in keys if k not in differing and len(values[k][0]) > 1]
    same = [k for k in keys if k not in differing]

    def groups(cells: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
        out: dict[tuple, list[dict[str, Any]]] = {}
        for c in cells:
            out.setdefault(tuple(repr(c["flat"].get(k)) for k in same), []).append(c)
        return out

    ga, gb = groups(a), groups(b)
    rows = []
    for key, found in ga.items():
        if len(found) != 1 or len(gb.get(key, [])) != 1:
            continue
        ca, cb = found[0], gb[key][0]
        ea, eb = (
            _effects_by_seed(pairs_a, ca["cell_key"]),
            _effects_by_seed(pairs_b, cb["cell_key"]),
        )
        common = sorted(set(ea) & set(eb))
        row: dict[str, Any] = {k: ca["flat"].get(k) for k in matched_on}
        row.update(
            effect_a=statistics.fmean(ea.values()) if ea else None,
            effect_b=statistics.fmean(eb.values()) if eb else None,
            n_a=len(ea),
            n_b=len(eb),
        )
        low = high = p = None
        if common:
            d = [ea[s] - eb[s] for s in common]
            diff, n, method = statistics.fmean(d), len(d), "paired by seed"
            if n > 1:
                sd = statistics.stdev(d)
                half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
                low, high = diff - half, diff + half
                if sd > 0:
                    p = float(stats.ttest_1samp(d, 0.0).pvalue)
        elif len(ea) > 1 and len(eb) > 1:
            test = stats.ttest_ind(list(ea.values()), list(eb.values()), equal_var=False)
            diff, n, method = row["effect_a"] - row["effect_b"], 0, "Welch (no common seeds)"
            ci = test.confidence_interval(0.95)
            low, high, p = float(ci.low), float(ci.high), float(test.pvalue)
        else:
            diff = None if not ea or not eb else row["effect_a"] - row["effect_b"]
            n, method = 0, "too few pairs"
        p = None if p is not None and not math.isfinite(p) else p
        row.update(difference=diff, n_common=n, ci95_low=low, ci95_high=high, p=p, method=method)
        rows.append(row)
    matched = len(rows)
    return {
        "differing": differing,
        "matched_on": matched_on,
        "rows": rows,
        "unmatched": (len(a) - matched, len(b) - matched),
    }


def as_cells(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparison's rows as cell-like dicts (the difference as ``mean_effect``), so that the
    report's effect figure can draw them."""
    out = []
    for i, row in enumerate(result["rows"]):
        params = {k: row[k] for k in result["matched_on"]}
        out.append(
            {
                "params": params,
                "cell_key": f"comparison-{i}",
                "n": row["n_common"],
                "n_pairs": row["n_common"],
                "mean_effect": row["difference"],
                "ci95_low": row["ci95_low"],
                "ci95_high": row["ci95_high"],
            }
        )
    return out


def describe_difference(result: dict[str, Any], job_a: str, job_b: str) -> str:
    """'A (job x): ρ = 1; B (job y): ρ = 0.5' — what the two jobs differ in."""
    from bilancio.analysis.report.common import value_text
    from bilancio.analysis.tables import label

    def side(index: int) -> str:
        return ", ".join(
            f"{label(k)} = {'/'.join(value_text(v) for v in vs[index])}"
            for k, vs in result["differing"].items()
        )

    if not result["differing"]:
        return f"A = {job_a} and B = {job_b} have the same cells (another code version, say)"
    return f"A = {job_a}: {side(0)}; B = {job_b}: {side(1)}"


def format_comparison(result: dict[str, Any], job_a: str, job_b: str) -> str:
    from bilancio.analysis.report.common import value_text
    from bilancio.analysis.tables import _num, _p, label

    head = [label(k) for k in result["matched_on"]] + [
        "n",
        "effect A",
        "effect B",
        "A − B",
        "95% CI",
        "p",
        "method",
    ]
    body = []
    for row in result["rows"]:
        ci = "–" if row["ci95_low"] is None else f"[{row['ci95_low']:.4f}, {row['ci95_high']:.4f}]"
        body.append(
            [value_text(row[k]) for k in result["matched_on"]]
            + [
                str(row["n_common"]),
                _num(row["effect_a"]),
                _num(row["effect_b"]),
                _num(row["difference"]),
                ci,
                _p(row["p"]),
                row["method"],
            ]
        )
    lines = [
        f"comparison: {describe_difference(result, job_a, job_b)}; "
        f"{len(result['rows'])} cells matched"
    ]
    if not body:
        lines.append("no cell of A matches a cell of B on the parameters they share")
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    unmatched = result["unmatched"]
    if any(unmatched):
        lines.append(f"  (unmatched cells: {unmatched[0]} of A, {unmatched[1]} of B)")
    return "\n".join(lines)
