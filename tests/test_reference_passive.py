"""Passive runs agree with bilancio 0.1 on every reference case (MODEL.md §4, reference/README)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from bilancio.model import ModelParams, simulate

from .conftest import REFERENCE

CASES = json.loads((REFERENCE / "bilancio01_passive_cases.json").read_text())
RATIOS = ("delta_total", "phi_total", "alpha_1", "mpeak_1", "v_1", "hhi_plus_1")


def _case_id(case: dict) -> str:
    return f"n{case['n_agents']}-s{case['seed']}-{case['default_handling']}"


@pytest.mark.parametrize("stop_rule", ["bilancio", "horizon"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_bilancio01(case: dict, stop_rule: str) -> None:
    inputs = {k: v for k, v in case.items() if k != "expected"}
    expected = case["expected"]
    result = simulate(ModelParams(**inputs, stop_rule=stop_rule), regime="passive")
    for key in RATIOS:
        want, got = expected[key], getattr(result, key)
        if want is None:
            assert got is None, key
        else:
            assert got is not None, key
            assert abs(Decimal(want) - Decimal(got)) <= Decimal("1e-12"), (key, want, got)
    assert result.time_to_stability == expected["time_to_stability"]
    assert result.days_run == expected["days_run"]
    if case["default_handling"] == "expel-agent":
        assert result.n_defaults == expected["n_defaulted_agents"]
    else:
        # bilancio 0.1 never marks an agent under fail-fast; we count the run-ending default.
        assert expected["n_defaulted_agents"] == 0
        assert result.n_defaults == (1 if result.stop_reason == "default" else 0)


def test_reference_file_is_the_one_described() -> None:
    assert len(CASES) == 24
    assert Path(REFERENCE / "bilancio01_passive_cases.json").exists()
