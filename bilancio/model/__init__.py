"""The bilancio model: pure functions of their parameters (no I/O, no globals)."""

from .market import Quotes, TradeRecord, dealer_quotes
from .params import MODEL_VERSION, MarketParams, ModelParams, ParameterError, RiskParams, Spreads
from .results import PairResult, RunResult
from .scenario import Payable, Scenario, ScenarioArrays, generate, generate_arrays
from .simulate import run_scenario, simulate, simulate_pair, simulate_scenario

__all__ = [
    "MODEL_VERSION",
    "MarketParams",
    "ModelParams",
    "PairResult",
    "Quotes",
    "TradeRecord",
    "RiskParams",
    "Spreads",
    "dealer_quotes",
    "simulate_pair",
    "simulate_scenario",
    "ParameterError",
    "Payable",
    "RunResult",
    "Scenario",
    "ScenarioArrays",
    "generate",
    "generate_arrays",
    "run_scenario",
    "simulate",
]
