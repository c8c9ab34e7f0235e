"""Cells as tables: the terminal table that ``bilancio jobs show`` and a sweep's end print,
DataFrames for the results API and the exports, and tables to paste (Markdown, LaTeX)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bilancio.analysis.cells import (
    CELL_COLUMNS,
    EFFECT_COLUMNS,
    MEAN_COLUMNS,
    flatten,
    swept_parameters,
)

SYMBOLS = {"kappa": "κ", "concentration": "c", "mu": "μ", "outside_mid_ratio": "ρ"}
LATEX_SYMBOLS = {
    "kappa": r"$\kappa$",
    "concentration": "$c$",
    "mu": r"$\mu$",
    "outside_mid_ratio": r"$\rho$",
}


def label(parameter: str) -> str:
    return SYMBOLS.get(parameter, parameter)


def _num(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


def _p(value: Any) -> str:
    if value is None:
        return "–"
    return "<0.0001" if float(value) < 0.0001 else f"{float(value):.4f}"


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format(float(value), "g")


def _ci(cell: dict[str, Any]) -> str:
    if cell.get("ci95_low") is None:
        return "–"
    return f"[{float(cell['ci95_low']):.4f}, {float(cell['ci95_high']):.4f}]"


def describe_cells(cells: Sequence[dict[str, Any]]) -> str:
    """'6 cells (κ × μ), 8 seeds each' — what the rows of the table are."""
    swept = swept_parameters(cells)
    sizes = sorted({int(c.get("n_pairs") or 0) for c in cells})
    each = " each" if len(cells) > 1 else ""
    seeds = (
        f"{sizes[0]} seed{'s' if sizes[0] != 1 else ''}{each}"
        if len(sizes) == 1
        else f"{sizes[0]}–{sizes[-1]} seeds each"
    )
    over = f" ({' × '.join(label(p) for p in swept)})" if swept else ""
    return f"{len(cells)} cell{'s' if len(cells) != 1 else ''}{over}, {seeds}"


def format_cells(cells: Sequence[dict[str, Any]], limit: int | None = None) -> str:
    """The cell table: swept parameters, n, mean effect with its 95% CI, the two p-values, mean
    δ of both regimes."""
    if not cells:
        return "cells: no completed pairs"
    swept = swept_parameters(cells)
    head = [label(p) for p in swept] + [
        "n",
        "effect",
        "95% CI",
        "p(t)",
        "p(Wilcoxon)",
        "δ_passive",
        "δ_active",
    ]
    body = []
    shown = list(cells) if limit is None else list(cells)[:limit]
    for cell in shown:
        flat = flatten(cell["params"])
        body.append(
            [_value(flat.get(p)) for p in swept]
            + [
                str(cell.get("n") or 0),
                _num(cell.get("mean_effect")),
                _ci(cell),
                _p(cell.get("p_ttest")),
                _p(cell.get("p_wilcoxon")),
                _num(cell.get("mean_delta_passive")),
                _num(cell.get("mean_delta_active")),
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    lines = [
        f"cells: {describe_cells(cells)}; effect = δ_passive − δ_active (> 0: trading reduced "
        "defaults), mean over the cell's seeds with its 95% t-interval",
        "  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)),
    ]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    if limit is not None and len(cells) > limit:
        lines.append(f"  … {len(cells) - limit} more cells")
    return "\n".join(lines)


def cells_frame(cells: Sequence[dict[str, Any]]) -> Any:
    """A pandas DataFrame, one row per cell: every model parameter as a column (swept ones
    first, market parameters dotted: ``market.risk.enabled``), then n and the statistics, the
    seeds, and the cell's keys."""
    import pandas as pd

    swept = swept_parameters(cells)
    records = []
    for cell in cells:
        flat = flatten(cell["params"] if isinstance(cell["params"], dict) else {})
        params = {p: flat.get(p) for p in swept} | {k: v for k, v in flat.items() if k not in swept}
        stats = {c: cell.get(c) for c in ("n_pairs", *EFFECT_COLUMNS, *MEAN_COLUMNS)}
        keys = {"seeds": cell.get("seeds"), **{k: cell.get(k) for k in ("cell_key", "cell_id")}}
        records.append(params | stats | keys | {"job_id": cell.get("job_id")})
    columns = list(records[0]) if records else list(CELL_COLUMNS)
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame.attrs["swept"] = swept
    return frame


def paste_table(cells: Sequence[dict[str, Any]], fmt: str) -> str:
    """The cell table as Markdown or LaTeX (``fmt``), rounded for reading."""
    import pandas as pd

    swept = swept_parameters(cells)
    names = LATEX_SYMBOLS if fmt == "latex" else SYMBOLS
    rows = []
    for cell in cells:
        flat = flatten(cell["params"])
        row = {names.get(p, p): _value(flat.get(p)) for p in swept}
        row.update(
            {
                "n": str(cell.get("n") or 0),
                "effect": _num(cell.get("mean_effect")),
                "95% CI": _ci(cell),
                "p (t)": _p(cell.get("p_ttest")),
                "p (Wilcoxon)": _p(cell.get("p_wilcoxon")),
                "δ passive": _num(cell.get("mean_delta_passive")),
                "δ active": _num(cell.get("mean_delta_active")),
                "δ ring passive": _num(cell.get("mean_delta_ring_passive")),
                "δ ring active": _num(cell.get("mean_delta_ring_active")),
            }
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    if fmt == "markdown":
        right = ["right"] * len(frame.columns)
        return frame.to_markdown(index=False, disable_numparse=True, colalign=right) + "\n"
    latex_names = {
        "95% CI": r"95\% CI",
        "δ passive": r"$\bar\delta_{\mathrm{passive}}$",
        "δ active": r"$\bar\delta_{\mathrm{active}}$",
        "δ ring passive": r"$\bar\delta^{\mathrm{ring}}_{\mathrm{passive}}$",
        "δ ring active": r"$\bar\delta^{\mathrm{ring}}_{\mathrm{active}}$",
        "p (t)": "$p$ ($t$)",
        "p (Wilcoxon)": "$p$ (Wilcoxon)",
        "n": "$n$",
    }
    frame = frame.rename(columns=latex_names)
    frame = frame.map(lambda v: v.replace("–", "--").replace("<", "$<$"))
    return frame.to_latex(index=False, escape=False, column_format="r" * len(frame.columns))


def json_ready(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells for ``--json`` output (params and seeds as JSON values, not strings)."""
    out = []
    for cell in cells:
        row = dict(cell)
        for key in ("params", "seeds"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
        out.append(row)
    return out
