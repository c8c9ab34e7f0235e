"""Entry points of the model: run a generated or an explicit scenario and measure it."""

from __future__ import annotations

from .engine import DayHook, Outcome, Rules, run
from .ledger import Ledger
from .metrics import day_one_stats, face_totals
from .params import DEFAULT_HANDLINGS, STOP_RULES, ModelParams, check_choice, check_regime
from .results import RunResult
from .scenario import Scenario, generate


def rules_of(params: ModelParams) -> Rules:
    return Rules(
        default_handling=params.default_handling,
        rollover=params.rollover,
        max_days=params.horizon_days,
        quiet_days=params.quiet_days,
        stop_rule=params.stop_rule,
    )


def simulate(
    params: ModelParams, regime: str = "passive", *, on_day_end: DayHook | None = None
) -> RunResult:
    """Generate the scenario of ``params`` and run it in ``regime`` ("passive" or "active")."""
    if not isinstance(params, ModelParams):
        raise TypeError(f"params must be a ModelParams, not {type(params).__name__}")
    regime = check_regime(regime)
    if regime == "active":
        raise NotImplementedError("the active regime is not implemented yet")
    ledger = Ledger(generate(params))
    outcome = run(ledger, rules_of(params), on_day_end=on_day_end)
    return measure(ledger, outcome, regime)


def run_scenario(
    scenario: Scenario,
    *,
    default_handling: str = "fail-fast",
    rollover: bool = True,
    max_days: int = 30,
    quiet_days: int = 2,
    stop_rule: str = "horizon",
    on_day_end: DayHook | None = None,
) -> tuple[RunResult, Ledger]:
    """Run a hand-written scenario (passive regime); return its metrics and the final books."""
    rules = Rules(
        default_handling=check_choice("default_handling", default_handling, DEFAULT_HANDLINGS),
        rollover=rollover,
        max_days=max_days,
        quiet_days=quiet_days,
        stop_rule=check_choice("stop_rule", stop_rule, STOP_RULES),
    )
    ledger = Ledger(scenario.validate())
    outcome = run(ledger, rules, on_day_end=on_day_end)
    return measure(ledger, outcome, "passive"), ledger


def measure(ledger: Ledger, outcome: Outcome, regime: str) -> RunResult:
    """The §4 metrics of a finished run."""
    total, unpaid, clears = face_totals(ledger)
    n_defaults = 1 if outcome.failed_fast else ledger.n_defaulted
    delta = unpaid / total if total > 0 else None
    day1 = day_one_stats(ledger, outcome)
    return RunResult(
        regime=regime,
        delta_total=delta,
        phi_total=None if delta is None else 1 - delta,
        alpha_1=day1.alpha,
        mpeak_1=day1.mpeak,
        v_1=day1.v,
        hhi_plus_1=day1.hhi_plus,
        time_to_stability=max(ledger.original_due, default=None),
        n_defaults=n_defaults,
        n_clears=clears,
        days_run=outcome.days_run,
        stop_reason=outcome.stop_reason,
        total_face=total,
        unpaid_face=unpaid,
    )
