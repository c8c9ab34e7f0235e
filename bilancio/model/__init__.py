"""The bilancio model: pure functions of their parameters (no I/O, no globals)."""

from .params import ModelParams, ParameterError
from .results import RunResult
from .scenario import Payable, Scenario, generate
from .simulate import run_scenario, simulate

__all__ = [
    "ModelParams",
    "ParameterError",
    "Payable",
    "RunResult",
    "Scenario",
    "generate",
    "run_scenario",
    "simulate",
]
