"""The Hydra schema mirrors the model's parameters, field for field and default for default."""

from __future__ import annotations

from dataclasses import fields

from bilancio.config import BilancioConfig, MarketConfig, RiskConfig, SpreadsConfig
from bilancio.model import MarketParams, ModelParams, RiskParams, Spreads


def _defaults(cls) -> dict:
    return {f.name: getattr(cls(), f.name) for f in fields(cls)}


def test_top_level_keys_are_the_model_parameters_plus_job_and_storage() -> None:
    schema = {f.name for f in fields(BilancioConfig)}
    others = {"job", "storage", "record", "rerun", "objective"}
    assert schema == set(ModelParams.field_names()) | others


def test_defaults_agree() -> None:
    schema, model = _defaults(BilancioConfig), _defaults(ModelParams)
    for name, value in model.items():
        if name != "market":
            assert schema[name] == value, name
    assert _defaults(SpreadsConfig) == _defaults(Spreads)
    assert _defaults(RiskConfig) == _defaults(RiskParams)
    assert {f.name for f in fields(MarketConfig)} == {f.name for f in fields(MarketParams)}
    assert MarketConfig().horizon == MarketParams().horizon
