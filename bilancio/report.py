"""Plain-text rendering of results for the terminal."""

from __future__ import annotations

from bilancio.model import ModelParams, RunResult


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def format_run(params: ModelParams, result: RunResult) -> str:
    """A short, readable block: the scenario in one line, then one metric per line."""
    head = (
        f"{result.regime} run  n={params.n_agents} T={params.maturity_days} Q={params.q_total:g} "
        f"κ={params.kappa:g} c={params.concentration:g} μ={params.mu:g} "
        f"ρ={params.outside_mid_ratio:g} "
        f"seed={params.seed} {params.default_handling}"
    )
    rows = [
        ("δ  delta_total (unpaid share of face)", result.delta_total),
        ("φ  phi_total (settled on time)", result.phi_total),
        ("unpaid / total face", f"{_fmt(result.unpaid_face)} / {_fmt(result.total_face)}"),
        ("defaults", result.n_defaults),
        ("payables cleared on time", result.n_clears),
        ("α₁ netting potential, day 1", result.alpha_1),
        ("Mpeak₁ peak liquidity, day 1", result.mpeak_1),
        ("v₁ velocity, day 1", result.v_1),
        ("HHI⁺₁ creditor concentration", result.hhi_plus_1),
        ("time_to_stability (last due day)", result.time_to_stability),
        ("days run", result.days_run),
        ("stop reason", result.stop_reason),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join([head] + [f"  {label:<{width}}  {_fmt(v)}" for label, v in rows])
