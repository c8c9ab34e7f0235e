"""Model parameters (MODEL.md §1): a frozen, validated dataclass."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# Bumped whenever a change alters any result for some parameters; part of every config hash.
MODEL_VERSION = "2.0"

DEFAULT_HANDLINGS = ("fail-fast", "expel-agent")
LIQUIDITY_MODES = ("uniform", "single_at")
STOP_RULES = ("horizon", "bilancio")
REGIMES = ("passive", "active")
MAX_AGENTS = 1_000_000  # 10^6 agents already take ~40 s and ~2 GB per run
MAX_SEED = 2**63 - 1  # a seed must fit a 64-bit database integer
MIN_CONCENTRATION = 0.01  # below it every gamma draw can underflow to 0 (MODEL.md §1)


class ParameterError(ValueError):
    """A parameter outside its domain. Carries the name, the value and the allowed domain."""

    def __init__(self, name: str, value: Any, domain: str):
        self.name = name
        self.value = value
        self.domain = domain
        super().__init__(f"invalid {name}={value!r}: allowed {domain}")


def _is_int(value: Any) -> bool:
    kind = type(value)
    if kind is int:  # the common case, without the ABC's slower check
        return True
    return kind is not bool and isinstance(value, numbers.Integral)


def _is_real(value: Any) -> bool:
    kind = type(value)
    if kind is float or kind is int:  # the common cases, without the ABC's slower check
        return True
    return kind is not bool and isinstance(value, numbers.Real)


def check_int(name: str, value: Any, minimum: int, domain: str, maximum: int | None = None) -> int:
    if not _is_int(value) or value < minimum or (maximum is not None and value > maximum):
        raise ParameterError(name, value, domain)
    return int(value)


def check_real(
    name: str,
    value: Any,
    domain: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float if it is a finite real number inside [low, high]."""
    if not _is_real(value) or not math.isfinite(value):
        raise ParameterError(name, value, domain)
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise ParameterError(name, value, domain)
    if high is not None and (v > high or (high_open and v == high)):
        raise ParameterError(name, value, domain)
    return v


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(name, value, "true or false")
    return value


@dataclass(frozen=True)
class Spreads:
    """VBT spread O_b per maturity bucket (MODEL.md §5.2), per unit of face."""

    short: float = 0.20
    mid: float = 0.30
    long: float = 0.40

    def __post_init__(self) -> None:
        for name in ("short", "mid", "long"):
            value = check_real(
                f"market.spreads.{name}", getattr(self, name), "a finite number >= 0", low=0
            )
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class RiskParams:
    """The risk assessment of MODEL.md §5.6."""

    enabled: bool = True
    prior_default_prob: float = 0.05
    prior_weight: float = 10
    lookback: int = 5
    base_premium: float = 0.02
    urgency: float = 0.10
    buy_premium_multiplier: float = 2.0

    def __post_init__(self) -> None:
        p = "market.risk."
        checked = {
            "enabled": check_bool(p + "enabled", self.enabled),
            "prior_default_prob": check_real(
                p + "prior_default_prob",
                self.prior_default_prob,
                "a number in [0, 1)",
                low=0,
                high=1,
                high_open=True,
            ),
            "prior_weight": check_real(
                p + "prior_weight", self.prior_weight, "a finite number > 0", low=0, low_open=True
            ),
            "lookback": check_int(p + "lookback", self.lookback, 1, "an integer >= 1"),
            "base_premium": check_real(
                p + "base_premium", self.base_premium, "a finite number >= 0", low=0
            ),
            "urgency": check_real(p + "urgency", self.urgency, "a finite number >= 0", low=0),
            "buy_premium_multiplier": check_real(
                p + "buy_premium_multiplier",
                self.buy_premium_multiplier,
                "a finite number >= 0",
                low=0,
            ),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class MarketParams:
    """Market parameters of MODEL.md §5.8 (used by the active regime only)."""

    spreads: Spreads = field(default_factory=Spreads)
    horizon: int = 10
    risk: RiskParams = field(default_factory=RiskParams)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spreads", _nested("market.spreads", self.spreads, Spreads))
        object.__setattr__(self, "risk", _nested("market.risk", self.risk, RiskParams))
        object.__setattr__(
            self, "horizon", check_int("market.horizon", self.horizon, 0, "an integer >= 0")
        )


_NAMES: dict[type, tuple[str, ...]] = {}  # a parameter class's field names


def _names_of(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


_MADE: dict[tuple[type, str], Any] = {}  # nested parameter objects made from mappings


def _nested(name: str, value: Any, cls: type) -> Any:
    """Accept a nested parameter object or a mapping of its fields (from JSON or a config)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        allowed = _names_of(cls)
        unknown = sorted(set(value).difference(allowed))
        if unknown:
            raise ParameterError(
                f"{name}.{unknown[0]}",
                value[unknown[0]],
                "a known key: " + ", ".join(sorted(allowed)),
            )
        if type(value) is not dict:
            return cls(**value)
        # the same section again (every job of a sweep has the same market): the same frozen
        # object; repr tells 1, 1.0 and True apart, as validation does
        memo = (cls, repr(value))
        made = _MADE.get(memo)
        if made is None:
            if len(_MADE) >= 256:
                _MADE.clear()
            made = _MADE[memo] = cls(**value)
        return made
    raise ParameterError(name, value, f"a {cls.__name__} or a mapping of its fields")


@dataclass(frozen=True)
class ModelParams:
    """Every parameter of MODEL.md §1, validated on construction.

    ``max_days=None`` means the default ``max(30, maturity_days + 5)``; read the effective
    value from :attr:`horizon_days`.
    """

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
    market: MarketParams = field(default_factory=MarketParams)

    def __post_init__(self) -> None:
        object.__setattr__(self, "market", _nested("market", self.market, MarketParams))
        for name, value in _validated(self).items():
            object.__setattr__(self, name, value)

    @property
    def horizon_days(self) -> int:
        """Number of simulated days: days 0 .. horizon_days − 1."""
        if self.max_days is not None:
            return self.max_days
        return max(30, self.maturity_days + 5)

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict`` of the parameters, without its deep copy of each value (every
        value is a number, a string, a bool, None or a nested parameter object)."""
        return _as_dict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return _names_of(cls)


def _as_dict(obj: Any) -> dict[str, Any]:
    out = {}
    for name in _names_of(type(obj)):
        value = getattr(obj, name)
        out[name] = _as_dict(value) if type(value) in _NESTED else value
    return out


_NESTED = (Spreads, RiskParams, MarketParams)


def _validated(p: ModelParams) -> dict[str, Any]:
    """Check every field; return the normalised values (ints as int, reals as float)."""
    out: dict[str, Any] = {}
    out["n_agents"] = n = check_int(
        "n_agents", p.n_agents, 3, f"an integer in [3, {MAX_AGENTS:,}]", MAX_AGENTS
    )
    out["maturity_days"] = check_int("maturity_days", p.maturity_days, 1, "an integer >= 1")
    out["q_total"] = check_real("q_total", p.q_total, "a finite number > 0", low=0, low_open=True)
    out["kappa"] = check_real("kappa", p.kappa, "a finite number > 0", low=0, low_open=True)
    out["concentration"] = check_real(
        "concentration",
        p.concentration,
        f"a finite number >= {MIN_CONCENTRATION}",
        low=MIN_CONCENTRATION,
    )
    out["mu"] = check_real("mu", p.mu, "a number in [0, 1]", low=0, high=1)
    out["monotonicity"] = check_real(
        "monotonicity", p.monotonicity, "a number in [-1, 1]", low=-1, high=1
    )
    out["seed"] = check_int("seed", p.seed, 0, "an integer in [0, 2**63 - 1]", MAX_SEED)
    out["outside_mid_ratio"] = check_real(
        "outside_mid_ratio", p.outside_mid_ratio, "a number in (0, 2]", low=0, high=2, low_open=True
    )
    out["face_value"] = check_real(
        "face_value", p.face_value, "a finite number > 0", low=0, low_open=True
    )
    out["vbt_share"] = check_real("vbt_share", p.vbt_share, "a finite number >= 0", low=0)
    out["dealer_share"] = check_real("dealer_share", p.dealer_share, "a finite number >= 0", low=0)
    out["liquidity_mode"] = check_choice("liquidity_mode", p.liquidity_mode, LIQUIDITY_MODES)
    if not _is_trader(p.liquidity_agent, n):
        raise ParameterError("liquidity_agent", p.liquidity_agent, f"a trader name H1..H{n}")
    out["liquidity_agent"] = p.liquidity_agent
    out["default_handling"] = check_choice(
        "default_handling", p.default_handling, DEFAULT_HANDLINGS
    )
    out["rollover"] = check_bool("rollover", p.rollover)
    if p.max_days is not None:
        out["max_days"] = check_int("max_days", p.max_days, 1, "an integer >= 1 or null")
    out["quiet_days"] = check_int("quiet_days", p.quiet_days, 1, "an integer >= 1")
    out["stop_rule"] = check_choice("stop_rule", p.stop_rule, STOP_RULES)
    return out


def _is_trader(name: Any, n: int) -> bool:
    """``name`` is one of H1 … Hn, spelt exactly so (no sign, no leading zero, ASCII digits)."""
    if not isinstance(name, str) or not name.startswith("H"):
        return False
    digits = name[1:]
    if not (digits.isascii() and digits.isdigit()) or digits.startswith("0"):
        return False
    if len(digits) > len(str(n)):
        return False
    return 1 <= int(digits) <= n


def check_regime(regime: Any) -> str:
    return check_choice("regime", regime, REGIMES)
