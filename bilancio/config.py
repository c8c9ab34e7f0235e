"""The structured schema of bilancio's Hydra config (types checked at compose time)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from bilancio.model import ModelParams, ParameterError


@dataclass
class SpreadsConfig:
    short: float = 0.20
    mid: float = 0.30
    long: float = 0.40


@dataclass
class RiskConfig:
    enabled: bool = True
    prior_default_prob: float = 0.05
    prior_weight: float = 10
    lookback: int = 5
    base_premium: float = 0.02
    urgency: float = 0.10
    buy_premium_multiplier: float = 2.0


@dataclass
class MarketConfig:
    spreads: SpreadsConfig = field(default_factory=SpreadsConfig)
    horizon: int = 10
    risk: RiskConfig = field(default_factory=RiskConfig)


@dataclass
class JobConfig:
    id: str | None = None  # give an existing id to resume that job
    description: str | None = None
    num: int | None = None  # set by the sweeper for each job; not for users
    # set by bilancio's sweeper for a generic Hydra launcher: the file of resolved pairs one
    # Hydra job runs (<sweep dir>/batches/<k>.json); not for users
    batch: str | None = None
    # reuse runs already completed in the store with the same parameters and model version
    skip_completed: bool = False
    # seconds between a running sweep's heartbeats (its lease on the job row and its progress
    # in jobs ls); a lease not renewed for 6 beats has ended
    heartbeat_seconds: float = 10.0


@dataclass
class StorageConfig:
    backend: str = "sqlite"  # sqlite | postgres
    path: str = "bilancio.db"  # SQLite file, relative to the directory bilancio was started in
    # PostgreSQL URL; null: $BILANCIO_DATABASE_URL. Never stored with results (it may hold a
    # password): prefer the environment variable.
    url: str | None = None
    # SQLite: seconds to wait for another process's write lock before giving up
    busy_timeout: float = 60.0
    # PostgreSQL: seconds one statement or connection attempt may take before it counts as failed
    timeout: float = 30.0


@dataclass
class RecordConfig:
    # true: a sweep also stores every trade of its active runs and each trader's default day
    # in both regimes (tables trades and agent_outcomes). Typed Any so that only true or false
    # pass (a bool field would read 'yes', 'on' or 1 as true): see record_trades()
    trades: Any = False


@dataclass
class RerunConfig:
    of: str | None = None  # re-execute this job from its stored configs (bilancio rerun)
    failed_only: bool = False  # only its failed runs, into the same job


@dataclass
class BilancioConfig:
    """Mirror of ModelParams; the model validates domains, this validates types."""

    n_agents: int = 100
    maturity_days: int = 10
    q_total: float = 10000
    kappa: float = 1.0
    concentration: float = 1.0
    mu: float = 0.5
    monotonicity: float = 0.0
    seed: int = 42
    outside_mid_ratio: float = 1.0
    face_value: float = 20
    vbt_share: float = 0.25
    dealer_share: float = 0.125
    liquidity_mode: str = "uniform"
    liquidity_agent: str = "H1"
    default_handling: str = "fail-fast"
    rollover: bool = True
    max_days: int | None = None
    quiet_days: int = 2
    stop_rule: str = "horizon"
    market: MarketConfig = field(default_factory=MarketConfig)
    job: JobConfig = field(default_factory=JobConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    rerun: RerunConfig = field(default_factory=RerunConfig)
    # for optimising sweepers (hydra/sweeper=optuna): what each job returns, one of
    # trading_effect, delta_passive, delta_active; null: the job's outcome as a dict
    objective: str | None = None


def register_configs() -> None:
    ConfigStore.instance().store(name="bilancio_schema", node=BilancioConfig)


class UnknownParameter(ParameterError):
    """A key of a composed config that the schema does not have (added with ``+`` or ``++``)."""

    def __init__(self, key: str):
        from bilancio.hydra_errors import unknown_key

        self.name, self.value, self.domain = key, None, "a key of bilancio's config"
        ValueError.__init__(self, unknown_key(key))


def unknown_key_in(cfg: DictConfig | dict[str, Any]) -> str | None:
    """The first dotted key of a task config (without ``hydra``) that is not in the schema
    ``bilancio_schema``; None if every key is. Struct mode refuses ``kapa=0.5``, but Hydra lets
    ``+kapa=0.5`` and ``++kapa=0.5`` add a key that nothing reads."""
    return _unknown(cfg, BilancioConfig, "")


def _unknown(node: Any, schema: type, prefix: str) -> str | None:
    hints = typing.get_type_hints(schema)
    for key in node:
        if not prefix and key == "hydra":
            continue
        if key not in hints:
            return f"{prefix}{key}"
        kind = hints[key]
        if dataclasses.is_dataclass(kind) and isinstance(node[key], dict | DictConfig):
            found = _unknown(node[key], kind, f"{prefix}{key}.")
            if found:
                return found
    return None


def record_trades(cfg: DictConfig | dict[str, Any]) -> bool:
    """``record.trades`` of a composed or resolved config: True or False (a config stored
    before the section existed: False). Any other value is a ParameterError naming it."""
    section = cfg.get("record") if hasattr(cfg, "get") else None
    value = section.get("trades", False) if hasattr(section, "get") else False
    if not isinstance(value, bool):
        raise ParameterError("record.trades", value, "true or false")
    return value


def params_from_config(cfg: DictConfig | dict[str, Any], *, strict: bool = False) -> ModelParams:
    """Model parameters from a composed config (extra keys such as ``hydra`` are ignored).
    ``strict``: refuse a key the schema does not have (UnknownParameter, a ParameterError)."""
    if strict:
        key = unknown_key_in(cfg)
        if key is not None:
            raise UnknownParameter(key)
        record_trades(cfg)
    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    names = ModelParams.field_names()
    return ModelParams(**{k: data[k] for k in names if k in data})
