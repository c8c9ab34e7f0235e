"""Entry points of the model: run a generated or an explicit scenario and measure it."""

from __future__ import annotations

from collections.abc import Callable

from .ledger import Ledger
from .market import TradeHook
from .params import DEFAULT_HANDLINGS, STOP_RULES, ModelParams, check_choice, check_regime
from .results import PairResult, RunResult
from .runner import KernelRun, Rules
from .scenario import Scenario, ScenarioArrays, generate_arrays

DayHook = Callable[[int, Ledger], None]
DefaultHook = Callable[[int, str], None]  # (day, agent) when an agent defaults


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
    fail-fast: the one whose failure ends the run); all are for inspection: the ledger is a
    copy of the books.
    """
    _check_params(params)
    regime = check_regime(regime)
    return simulate_scenario(
        generate_arrays(params), params, regime, rules_of(params), on_day_end, on_trade, on_default
    )


def simulate_pair(params: ModelParams) -> PairResult:
    """Run the passive and the active regime on the same generated scenario (MODEL.md §6)."""
    _check_params(params)
    rows = generate_arrays(params)
    rules = rules_of(params)
    return PairResult(
        passive=_finish(KernelRun(rows, rules), "passive"),
        active=_finish(KernelRun(rows, rules, params, active=True), "active"),
    )


def _finish(run: KernelRun, regime: str) -> RunResult:
    run.advance()
    return run.result(regime)


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
    scenario.validate()
    if regime == "active" and scenario.n_traders < 1:
        raise ValueError("an active run needs a scenario with n_traders >= 1")
    run = _kernel_run(scenario, params or ModelParams(), regime, rules, on_trade is not None)
    result = _run(run, regime, on_day_end, on_trade, on_default)
    return result, Ledger(run)


def _check_params(params: object) -> None:
    if not isinstance(params, ModelParams):
        raise TypeError(f"params must be a ModelParams, not {type(params).__name__}")


def _kernel_run(
    scenario: Scenario | ScenarioArrays,
    params: ModelParams,
    regime: str,
    rules: Rules,
    trade_log: bool,
) -> KernelRun:
    rows = scenario if isinstance(scenario, ScenarioArrays) else scenario.to_arrays()
    return KernelRun(rows, rules, params, regime == "active", trade_log)


def simulate_scenario(
    scenario: Scenario | ScenarioArrays,
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
    run = _kernel_run(scenario, params, regime, rules, on_trade is not None)
    return _run(run, regime, on_day_end, on_trade, on_default)


def _run(
    run: KernelRun,
    regime: str,
    on_day_end: DayHook | None,
    on_trade: TradeHook | None,
    on_default: DefaultHook | None,
) -> RunResult:
    """Run to the end; with hooks, one day at a time so each sees its day (the same kernel)."""
    if on_day_end is None and on_trade is None and on_default is None:
        run.advance()
        return run.result(regime)
    ended, n_defaults = False, 0
    while not ended:
        day = run.next_day
        ended = run.advance(day + 1)
        if on_trade is not None:
            for record in run.trades():
                on_trade(record)
        defaults = run.defaults(n_defaults)
        n_defaults += len(defaults)
        if on_default is not None:
            for when, agent in defaults:
                on_default(when, agent)
        if on_day_end is not None and run.days_run == day + 1:
            on_day_end(day, Ledger(run))
    return run.result(regime)
