"""Entry points of the model: run a generated or an explicit scenario and measure it."""

from __future__ import annotations

from dataclasses import asdict

from .engine import DayHook, DefaultHook, Outcome, Rules, run
from .ledger import Ledger
from .market import Market, TradeHook, TradeStats
from .metrics import day_one_stats, face_totals, ring_delta
from .params import DEFAULT_HANDLINGS, STOP_RULES, ModelParams, check_choice, check_regime
from .results import PairResult, RunResult
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
    params: ModelParams,
    regime: str = "passive",
    *,
    on_day_end: DayHook | None = None,
    on_trade: TradeHook | None = None,
    on_default: DefaultHook | None = None,
) -> RunResult:
    """Generate the scenario of ``params`` and run it in ``regime`` ("passive" or "active").

    ``on_day_end(day, ledger)`` is called after every completed day, ``on_trade(record)``
    after every trade and ``on_default(day, agent)`` for every agent that defaults (under
    fail-fast: the one whose failure ends the run); all are for inspection and must not
    change the ledger.
    """
    _check_params(params)
    regime = check_regime(regime)
    return simulate_scenario(
        generate(params), params, regime, rules_of(params), on_day_end, on_trade, on_default
    )


def simulate_pair(params: ModelParams) -> PairResult:
    """Run the passive and the active regime on the same generated scenario (MODEL.md §6)."""
    _check_params(params)
    scenario = generate(params)
    rules = rules_of(params)
    return PairResult(
        passive=simulate_scenario(scenario, params, "passive", rules),
        active=simulate_scenario(scenario, params, "active", rules),
    )


def run_scenario(
    scenario: Scenario,
    *,
    default_handling: str = "fail-fast",
    rollover: bool = True,
    max_days: int = 30,
    quiet_days: int = 2,
    stop_rule: str = "horizon",
    regime: str = "passive",
    params: ModelParams | None = None,
    on_day_end: DayHook | None = None,
    on_trade: TradeHook | None = None,
    on_default: DefaultHook | None = None,
) -> tuple[RunResult, Ledger]:
    """Run a hand-written scenario; return its metrics and the final books.

    The keyword arguments are the engine rules. In the active regime, ``params`` supplies the
    market settings (seed, ``outside_mid_ratio``, ``face_value``, ``market``); the scenario must
    then name its traders first (``n_traders``) and contain the six market makers.
    """
    rules = Rules(
        default_handling=check_choice("default_handling", default_handling, DEFAULT_HANDLINGS),
        rollover=rollover,
        max_days=max_days,
        quiet_days=quiet_days,
        stop_rule=check_choice("stop_rule", stop_rule, STOP_RULES),
    )
    regime = check_regime(regime)
    ledger = Ledger(scenario.validate())
    market = _market(ledger, scenario, params or ModelParams(), regime, rules.max_days, on_trade)
    outcome = run(ledger, rules, market=market, on_day_end=on_day_end, on_default=on_default)
    return measure(ledger, outcome, regime, market.finish() if market else None), ledger


def _check_params(params: object) -> None:
    if not isinstance(params, ModelParams):
        raise TypeError(f"params must be a ModelParams, not {type(params).__name__}")


def _market(
    ledger: Ledger,
    scenario: Scenario,
    params: ModelParams,
    regime: str,
    max_days: int,
    on_trade: TradeHook | None = None,
) -> Market | None:
    if regime == "passive":
        return None
    if scenario.n_traders < 1:
        raise ValueError("an active run needs a scenario with n_traders >= 1")
    return Market(ledger, params, scenario.n_traders, max_days, on_trade)


def simulate_scenario(
    scenario: Scenario,
    params: ModelParams,
    regime: str,
    rules: Rules | None = None,
    on_day_end: DayHook | None = None,
    on_trade: TradeHook | None = None,
    on_default: DefaultHook | None = None,
) -> RunResult:
    """Run a generated scenario (``generate(params)``) in one regime; rules default to params'.
    The hooks are :func:`simulate`'s."""
    rules = rules or rules_of(params)
    ledger = Ledger(scenario)
    market = _market(ledger, scenario, params, regime, rules.max_days, on_trade)
    outcome = run(ledger, rules, market=market, on_day_end=on_day_end, on_default=on_default)
    return measure(ledger, outcome, regime, market.finish() if market else None)


def measure(
    ledger: Ledger, outcome: Outcome, regime: str, trades: TradeStats | None = None
) -> RunResult:
    """The §4 metrics of a finished run, plus the §5.7 trade metrics of an active one."""
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
        delta_ring=ring_delta(ledger),
        **(asdict(trades) if trades is not None else {}),
    )
