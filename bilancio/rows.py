"""The rows bilancio stores (SCHEMA.md) and the identities that key them.

Plain dataclasses, below both the sweep (which makes them) and the stores (which write them):
:func:`as_row` gives what a store writes. JSON-valued columns hold JSON-serialisable Python
values here and are encoded by the store that needs it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def as_row(record: Any) -> dict[str, Any]:
    """A record's columns as a dict (shallow: ``dataclasses.asdict`` deep-copies every nested
    config, which cost more than the simulation itself in large sweeps)."""
    return dict(vars(record))


JOB_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_job_id() -> str:
    """``YYYYMMDD-HHMMSS-xxxx``: sorts by time, short to type, random enough to be unique."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{''.join(secrets.choice(JOB_ID_ALPHABET) for _ in range(4))}"


def run_id(job_id: str, job_num: int, regime: str) -> str:
    return f"{job_id}-{job_num:05d}-{regime}"


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    sweep_type: str
    n_agents: int
    maturity_days: int
    kappas: list[float]
    concentrations: list[float]
    mus: list[float]
    outside_mid_ratios: list[float]
    seeds: list[int]
    total_runs: int
    overrides: list[str]
    config: dict[str, Any]
    code_version: str
    description: str | None = None
    cloud: bool = False
    status: str = "running"
    created_at: str = field(default_factory=now_iso)
    lease_owner: str | None = None  # the process running the job (bilancio.sweep.lease)
    lease_expires_at: str | None = None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job_id: str
    job_num: int
    regime: str
    status: str
    kappa: float
    concentration: float
    mu: float
    outside_mid_ratio: float
    seed: int
    config: dict[str, Any]
    config_hash: str
    execution_time_ms: int | None = None
    error: str | None = None
    modal_call_id: str | None = None
    created_at: str = field(default_factory=now_iso)
    completed_at: str | None = None


# the value columns of a metrics row (besides its keys, raw_metrics and created_at)
METRIC_COLUMNS = (
    "delta_total",
    "phi_total",
    "n_defaults",
    "n_clears",
    "time_to_stability",
    "trading_effect",
    "total_trades",
    "total_trade_volume",
)


@dataclass(frozen=True)
class MetricsRecord:
    run_id: str
    job_id: str
    delta_total: float | None
    phi_total: float | None
    n_defaults: int
    n_clears: int
    time_to_stability: int | None
    trading_effect: float | None
    total_trades: int | None
    total_trade_volume: float | None
    raw_metrics: dict[str, Any]
    created_at: str = field(default_factory=now_iso)


# a cell_metrics row's statistics (MODEL.md §6; bilancio.analysis.cells computes them)
TRADE_METRICS = (
    "n_trades",
    "n_sells",
    "n_buys",
    "n_interior",
    "n_passthrough",
    "n_rejected_sells",
    "n_rejected_buys",
    "n_unfilled_sells",
    "trade_volume_face",
    "trade_volume_cash",
    "dealer_pnl",
    "vbt_pnl",
)
EFFECT_COLUMNS = (
    "n",
    "mean_effect",
    "sd_effect",
    "se_effect",
    "ci95_low",
    "ci95_high",
    "p_ttest",
    "p_wilcoxon",
    "positive_effects",
    "negative_effects",
    "neutral_effects",
)
MEAN_COLUMNS = (
    "mean_delta_passive",
    "mean_delta_active",
    "mean_delta_ring_passive",
    "mean_delta_ring_active",
    *(f"mean_{m}" for m in TRADE_METRICS),
)


def trade_id(run_id: str, seq: int) -> str:
    return f"{run_id}-{seq:05d}"


@dataclass(frozen=True)
class TradeRow:
    """One trade of an active run (``record.trades=true``): who sold what to whom, at what
    price, and what the risk check saw (MODEL.md §5.4–5.6)."""

    trade_id: str  # run_id-seq: the upsert key
    run_id: str
    job_id: str
    job_num: int
    seq: int  # 0, 1, … in the order the trades happened
    day: int
    side: str  # "sell" (a trader sold to a market maker) or "buy"
    claim: int  # row of the claim among the run's original payables (MODEL.md §2.7)
    issuer: str  # the claim's debtor
    due_day: int
    seller: str
    buyer: str
    venue: str  # "dealer" (interior) or "vbt" (pass-through)
    bucket: str  # short | mid | long, by remaining maturity on the trade day
    unit_price: float
    face: float
    cash: float  # what the buyer paid
    default_prob: float  # p of §5.6 that day
    threshold: float | None  # sale: lowest unit price accepted (null: risk off); buy: highest
    shortfall: float | None  # the seller's g (sales only)
    wealth: float | None  # the seller's W at the offer (sales only)
    created_at: str = field(default_factory=now_iso)


def outcome_id(run_id: str, agent: str) -> str:
    return f"{run_id}-{agent}"


@dataclass(frozen=True)
class AgentOutcomeRow:
    """Whether one trader of a run defaulted, and on which day (``record.trades=true``)."""

    outcome_id: str  # run_id-agent: the upsert key
    run_id: str
    job_id: str
    job_num: int
    regime: str
    agent: str  # H1 … Hn
    defaulted: bool
    default_day: int | None  # null when it never defaulted
    created_at: str = field(default_factory=now_iso)


# -- run configs stored as what differs from their job's config (issue 15) --------------------

DIFF_MARK = "diff_of_job_config"  # a run's config holding only what differs from its job's


def config_digest(config: Any) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of a stored config: which job config a
    run's difference was taken against."""
    import hashlib
    import json

    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def is_config_diff(config: Any) -> bool:
    return isinstance(config, dict) and DIFF_MARK in config


class ConfigBaseChanged(ValueError):
    """A run's config was stored against a job config that the job row no longer holds."""


def full_config(config: Any, job_config: Any, job_digest: str | None = None) -> Any:
    """A run's full config as stored: ``config`` itself (a full config, as every run row
    written before issue 15 holds), or, for a difference (``{DIFF_MARK: digest, "set":
    {dotted key: value}, "unset": [dotted key]}``), the job's config with it applied.
    ``job_digest``: :func:`config_digest` of ``job_config`` when the caller knows it."""
    if not is_config_diff(config):
        return config
    if (
        not isinstance(job_config, dict)
        or (job_digest or config_digest(job_config)) != config[DIFF_MARK]
    ):
        raise ConfigBaseChanged(
            "a run's config is stored as its difference from the job's config, and the job row "
            "holds another config than the one it was taken against"
        )
    # copied along the changed paths only: the job config's untouched parts are shared by its
    # runs' configs (callers read them, or replace a key of their own copy, never edit in place)
    out = dict(job_config)
    copied: set[tuple[str, ...]] = {()}

    def parent(path: list[str], create: bool) -> dict[str, Any] | None:
        node = out
        for depth, key in enumerate(path):
            child = node.get(key)
            if not isinstance(child, dict):
                if not create:
                    return None
                child = {}
            elif tuple(path[: depth + 1]) not in copied:
                child = dict(child)
            copied.add(tuple(path[: depth + 1]))
            node[key] = child
            node = child
        return node

    for dotted, value in config.get("set", {}).items():
        *path, leaf = dotted.split(".")
        parent(path, create=True)[leaf] = value
    for dotted in config.get("unset", []):
        *path, leaf = dotted.split(".")
        node = parent(path, create=False)
        if node is not None:
            node.pop(leaf, None)
    return out


def with_full_configs(runs: list[dict[str, Any]], job_config_of: Any) -> list[dict[str, Any]]:
    """``runs`` (a store's rows) with every stored difference replaced by the full config;
    ``job_config_of(job_id)`` reads a job's config, once per job that needs it."""
    for _ in full_configs(runs, job_config_of):
        pass
    return runs


def full_configs(runs: Iterable[dict[str, Any]], job_config_of: Any) -> Iterator[dict[str, Any]]:
    """:func:`with_full_configs` one run at a time (each run is completed in place)."""
    configs: dict[str, tuple[Any, str | None]] = {}  # job → its config and that config's digest
    for run in runs:
        if is_config_diff(run.get("config")):
            job_id = run["job_id"]
            if job_id not in configs:
                base = job_config_of(job_id)
                configs[job_id] = (base, config_digest(base) if isinstance(base, dict) else None)
            run["config"] = full_config(run["config"], *configs[job_id])
        yield run
