"""Plain-text rendering of results for the terminal."""

from __future__ import annotations

from typing import Any

from bilancio.model import ModelParams, PairResult
from bilancio.rows import TRADE_METRICS


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def describe_params(params: ModelParams) -> str:
    return (
        f"n={params.n_agents} T={params.maturity_days} Q={params.q_total:g} "
        f"κ={params.kappa:g} c={params.concentration:g} μ={params.mu:g} "
        f"ρ={params.outside_mid_ratio:g} seed={params.seed} {params.default_handling}"
    )


RUN_ROWS = [
    ("δ  delta_total (unpaid share of face)", "delta_total"),
    ("φ  phi_total (settled on time)", "phi_total"),
    ("unpaid face", "unpaid_face"),
    ("total face", "total_face"),
    ("defaults", "n_defaults"),
    ("payables cleared on time", "n_clears"),
    ("α₁ netting potential, day 1", "alpha_1"),
    ("Mpeak₁ peak liquidity, day 1", "mpeak_1"),
    ("v₁ velocity, day 1", "v_1"),
    ("HHI⁺₁ creditor concentration", "hhi_plus_1"),
    ("time_to_stability (last due day)", "time_to_stability"),
    ("days run", "days_run"),
    ("stop reason", "stop_reason"),
]
TRADE_ROWS = [
    ("trades (sells / buys)", ("n_trades", "n_sells", "n_buys")),
    ("interior / pass-through", ("n_interior", "n_passthrough")),
    (
        "rejected sells / buys, unfilled sells",
        ("n_rejected_sells", "n_rejected_buys", "n_unfilled_sells"),
    ),
    ("volume: face / cash", ("trade_volume_face", "trade_volume_cash")),
    ("P&L: dealers / VBTs", ("dealer_pnl", "vbt_pnl")),
]


def format_pair(params: ModelParams, pair: PairResult) -> str:
    """A pair side by side, the trade counters of the active run, and the trading effect."""
    rows = [(label, getattr(pair.passive, k), getattr(pair.active, k)) for label, k in RUN_ROWS]
    width = max(len(label) for label, _ in RUN_ROWS + TRADE_ROWS)
    lines = [
        f"pair  {describe_params(params)}",
        f"  {'':<{width}}  {'passive':>12}  {'active':>12}",
    ]
    lines += [f"  {label:<{width}}  {_fmt(p):>12}  {_fmt(a):>12}" for label, p, a in rows]
    lines.append("  active market:")
    for label, keys in TRADE_ROWS:
        values = " / ".join(_fmt(getattr(pair.active, k)) for k in keys)
        lines.append(f"  {label:<{width}}  {values}")
    lines.append(
        f"  trading effect δ_passive − δ_active = {_fmt(pair.trading_effect)}"
        f"   (relief ratio {_fmt(pair.trading_relief_ratio)}; > 0 means trading reduced defaults)"
    )
    return "\n".join(lines)


def _num(value: object, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{float(value):.{digits}f}"


def pair_key(run: dict) -> tuple:
    """A pair's key: its job number; for runs written by bilancio 0.1, which had none, the
    pair's parameters (its passive and active run share them)."""
    if run.get("job_num") is not None:
        return (0, run["job_num"])
    params = ("kappa", "concentration", "mu", "outside_mid_ratio", "seed")
    return (1, *(float(run[p]) if run.get(p) is not None else -1.0 for p in params))


def pair_rows(runs: list[dict]) -> list[dict]:
    """One row per pair with both regimes' δ, from a store's ``job_runs``."""
    rows: dict[tuple, dict] = {}
    for run in runs:
        row = rows.setdefault(
            pair_key(run),
            {
                "job_num": run["job_num"],
                "kappa": run["kappa"],
                "concentration": run["concentration"],
                "mu": run["mu"],
                "outside_mid_ratio": run["outside_mid_ratio"],
                "seed": run["seed"],
                "status": run["status"],
                "error": run["error"],
            },
        )
        row[f"delta_{run['regime']}"] = run.get("delta_total")
        row["trading_effect"] = run.get("trading_effect")
        if run["status"] != "completed":
            row["status"], row["error"] = run["status"], run["error"]
    return [rows[k] for k in sorted(rows)]


def format_pairs(rows: list[dict], limit: int | None = None) -> str:
    head = (
        f"{'#':>5}  {'κ':>6} {'c':>6} {'μ':>5} {'ρ':>5} {'seed':>7}  "
        f"{'δ_passive':>9} {'δ_active':>9} {'effect':>8}"
    )
    lines = [head]
    shown = rows if limit is None else rows[:limit]
    for r in shown:
        if r["status"] == "completed":
            tail = (
                f"{_num(r.get('delta_passive')):>9} {_num(r.get('delta_active')):>9} "
                f"{_num(r.get('trading_effect')):>8}"
            )
        else:
            tail = f"{r['status']}: {str(r['error'])[:60]}"
        lines.append(
            f"{_cell(r['job_num'], 'd'):>5}  {_cell(r['kappa']):>6} {_cell(r['concentration']):>6} "
            f"{_cell(r['mu']):>5} {_cell(r['outside_mid_ratio']):>5} {_cell(r['seed'], 'd'):>7}  "
            f"{tail}"
        )
    if limit is not None and len(rows) > limit:
        lines.append(f"  … {len(rows) - limit} more pairs")
    return "\n".join(lines)


def _cell(value: object, kind: str = "g") -> str:
    if value is None:
        return "–"
    return format(int(value) if kind == "d" else float(value), kind)


def format_aggregate(row: dict) -> str:
    if not row or not row.get("n_pairs"):
        return "job_metrics: no completed pairs"
    return (
        f"job_metrics: {row['n_pairs']} pairs, mean trading effect "
        f"{_num(row['mean_trading_effect'])} (min {_num(row['min_trading_effect'])}, max "
        f"{_num(row['max_trading_effect'])}, sd {_num(row['std_trading_effect'])}); "
        f"{row['positive_effects']} positive, {row['negative_effects']} negative, "
        f"{row['neutral_effects']} neutral; mean δ passive {_num(row['mean_delta_passive'])}, "
        f"active {_num(row['mean_delta_active'])}"
    )


def format_sweep(summary, row: dict, cells: list[dict], limit: int = 40) -> str:
    """The end-of-sweep report: the cell table, the aggregate, failures, and where to find
    everything (the pairs: ``bilancio jobs show JOB --pairs``)."""
    from bilancio.analysis.tables import format_cells

    design = row.get("raw_summary") or {}
    if design.get("frontier"):  # a frontier's answer is its table; its cells are evaluations
        from bilancio.analysis.frontier import format_frontier

        lines = [format_frontier(design["frontier"]), format_aggregate(row)]
    else:
        lines = [format_cells(cells, limit=limit), format_aggregate(row)]
        if len(cells) > limit:
            lines.insert(1, f"  (every cell: {show_command(summary)})")
    sensitivity = design.get("sensitivity") or {}
    if sensitivity.get("groups"):
        from bilancio.analysis.sensitivity import format_indices

        lines.insert(len(lines) - 1, format_indices(sensitivity))
    elif sensitivity.get("error"):
        lines.append(f"sensitivity indices not computed: {sensitivity['error']}")
    if summary.failures:
        lines.append(f"FAILED: {len(summary.failures)} job(s):")
        for num, overrides, error in summary.failures[:20]:
            lines.append(f"  #{num} [{' '.join(overrides)}]: {error}")
        if len(summary.failures) > 20:
            lines.append(f"  … {len(summary.failures) - 20} more ({show_command(summary)})")
    backend = summary.storage.get("backend")
    where = summary.storage.get("path") if backend == "sqlite" else f"{backend} database"
    lines.append(
        f"job {summary.job_id} → {where}  (pairs: {show_command(summary)} --pairs;"
        f" Hydra outputs: {summary.sweep_dir})"
    )
    return "\n".join(lines)


def show_command(summary) -> str:
    """The `bilancio jobs show` command line that reads this sweep's job where it was stored."""
    import shlex
    from pathlib import Path

    backend, args = summary.storage.get("backend"), ["bilancio", "jobs", "show", summary.job_id]
    if backend == "postgres":
        args.append("--postgres")  # the URL stays in $BILANCIO_DATABASE_URL
    elif backend == "supabase":
        args.append("--cloud")
    elif Path(summary.storage.get("path", "")).resolve() != Path("bilancio.db").resolve():
        args += ["--db", summary.storage["path"]]
    return shlex.join(args)


# the active run's trade metrics (MODEL.md §5.7) but n_trades (bilancio 0.1's total_trades)
MECHANISM_COLUMNS = tuple(m for m in TRADE_METRICS if m != "n_trades")
EXPORT_COLUMNS = (
    "kappa",
    "concentration",
    "mu",
    "monotonicity",
    "seed",
    "face_value",
    "outside_mid_ratio",
    "delta_passive",
    "delta_active",
    "trading_effect",
    "trading_relief_ratio",
    "phi_passive",
    "phi_active",
    "passive_run_id",
    "passive_status",
    "active_run_id",
    "active_status",
    "total_trades",
    # the trade mechanism (MODEL.md §5.7, of the active run) and delta_ring (§4), after
    # bilancio 0.1's columns
    *MECHANISM_COLUMNS,
    "delta_ring_passive",
    "delta_ring_active",
)


def export_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per pair, from a store's job_runs."""
    pairs: dict[tuple, dict[str, Any]] = {}
    for run in runs:
        pair = pairs.setdefault(pair_key(run), {})
        pair[run["regime"]] = run
    out = []
    for num in sorted(pairs):
        p, a = pairs[num].get("passive", {}), pairs[num].get("active", {})
        any_run = p or a
        config = any_run.get("config") or {}
        raw = a.get("raw_metrics") or p.get("raw_metrics") or {}
        active_raw = a.get("raw_metrics") or {}
        out.append(
            {
                "kappa": any_run.get("kappa"),
                "concentration": any_run.get("concentration"),
                "mu": any_run.get("mu"),
                "monotonicity": config.get("monotonicity"),
                "seed": any_run.get("seed"),
                "face_value": config.get("face_value"),
                "outside_mid_ratio": any_run.get("outside_mid_ratio"),
                "delta_passive": p.get("delta_total"),
                "delta_active": a.get("delta_total"),
                "trading_effect": a.get("trading_effect"),
                "trading_relief_ratio": raw.get("trading_relief_ratio"),
                "phi_passive": p.get("phi_total"),
                "phi_active": a.get("phi_total"),
                "passive_run_id": p.get("run_id"),
                "passive_status": p.get("status"),
                "active_run_id": a.get("run_id"),
                "active_status": a.get("status"),
                "total_trades": a.get("total_trades"),
                **{c: active_raw.get(c) for c in MECHANISM_COLUMNS},
                "delta_ring_passive": (p.get("raw_metrics") or {}).get("delta_ring"),
                "delta_ring_active": active_raw.get("delta_ring"),
            }
        )
    return out
