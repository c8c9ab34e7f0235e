"""Plain-text rendering of results for the terminal."""

from __future__ import annotations

from bilancio.model import ModelParams, PairResult, RunResult


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


def format_run(params: ModelParams, result: RunResult) -> str:
    """One run: the scenario in one line, then one metric per line."""
    width = max(len(label) for label, _ in RUN_ROWS)
    lines = [f"{result.regime} run  {describe_params(params)}"]
    lines += [f"  {label:<{width}}  {_fmt(getattr(result, key))}" for label, key in RUN_ROWS]
    return "\n".join(lines)


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
