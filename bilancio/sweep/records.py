"""How a sweep makes its rows (bilancio.rows): config hashes, public configs, code versions,
and the run and metrics records of a pair."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bilancio
from bilancio.model import MODEL_VERSION, ModelParams, PairResult, RunResult, TradeRecord
from bilancio.redaction import SECRET_SETTINGS, known_secrets, redact, scrub
from bilancio.rows import (
    DIFF_MARK,
    AgentOutcomeRow,
    MetricsRecord,
    RunRecord,
    TradeRow,
    config_digest,
    now_iso,
    outcome_id,
    run_id,
    trade_id,
)


def normalise(value: Any) -> Any:
    """Canonical values: floats to 12 significant digits, so that 0.1 + 0.2 and 0.3 agree."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common leaves, fast
        return value
    if isinstance(value, float):
        if value.is_integer() and math.isfinite(value):
            return int(value)
        return format(value, ".12g")
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value


def config_hash(params: ModelParams) -> str:
    """SHA-256 of the canonical JSON of the model parameters plus the model version."""
    canonical = json.dumps(
        {"model_version": MODEL_VERSION, "params": normalise(params.to_dict())},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


DEPLOYED_VERSION = "BILANCIO_DEPLOYED_CODE_VERSION"  # set in the Modal image (modal_app.py)


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout, plus a digest of
    the package's files when the checkout has uncommitted changes (two different sets of edits
    on one commit are different code). In a Modal container, which has neither git nor package
    metadata, the version baked into the image when it was deployed."""
    deployed = os.environ.get(DEPLOYED_VERSION)
    if deployed:
        return deployed
    root = Path(bilancio.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return bilancio.__version__
    return f"{bilancio.__version__}+g{sha}{f'.dirty.{_source_digest()}' if dirty else ''}"


def _source_digest() -> str:
    """12 hex digits of SHA-256 over the package's source files (names and contents)."""
    package = Path(bilancio.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".sql"):
            digest.update(str(path.relative_to(package)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


SECRET_KEYS = {"storage": ("url",)}


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as it may be stored: without values that may hold credentials (a database
    URL) and with any credential elsewhere in it masked."""
    out = dict(config)
    for section, keys in SECRET_KEYS.items():
        if isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if k not in keys}
    return scrub(out)


def run_record(
    job_id: str,
    job_num: int,
    regime: str,
    params: ModelParams,
    config: dict[str, Any],
    *,
    status: str,
    execution_time_ms: int | None = None,
    error: str | None = None,
    digest: str | None = None,
    public: dict[str, Any] | None = None,
    stamp: str | None = None,
) -> RunRecord:
    """``digest``: the config hash if already known (both runs of a pair share it); ``public``:
    likewise ``public_config(config)``; ``stamp``: the time the rows are made (``now_iso``)."""
    stamp = stamp or now_iso()
    return RunRecord(
        run_id=run_id(job_id, job_num, regime),
        job_id=job_id,
        job_num=job_num,
        regime=regime,
        status=status,
        kappa=params.kappa,
        concentration=params.concentration,
        mu=params.mu,
        outside_mid_ratio=params.outside_mid_ratio,
        seed=params.seed,
        config=public_config(config) if public is None else public,
        config_hash=digest or config_hash(params),
        execution_time_ms=execution_time_ms,
        error=redact(error) if error else None,
        created_at=stamp,
        completed_at=stamp if status in ("completed", "failed") else None,
    )


def metrics_record(
    job_id: str, job_num: int, result: RunResult, pair: PairResult, stamp: str | None = None
) -> MetricsRecord:
    """One run's metrics row; both rows of a pair carry the pair's trading effect. ``stamp``:
    the time the rows are made (``now_iso``)."""
    raw = result.to_dict()
    raw["trading_effect"] = pair.trading_effect
    raw["trading_relief_ratio"] = pair.trading_relief_ratio
    active = result.regime == "active"
    return MetricsRecord(
        run_id=run_id(job_id, job_num, result.regime),
        job_id=job_id,
        delta_total=result.delta_total,
        phi_total=result.phi_total,
        n_defaults=result.n_defaults,
        n_clears=result.n_clears,
        time_to_stability=result.time_to_stability,
        trading_effect=pair.trading_effect,
        total_trades=result.n_trades if active else None,
        total_trade_volume=result.trade_volume_cash if active else None,
        raw_metrics=raw,
        created_at=stamp or now_iso(),
    )


def trade_rows(job_id: str, job_num: int, trades: Sequence[TradeRecord]) -> list[TradeRow]:
    """The ``trades`` rows of an active run, in the order the trades happened."""
    rid = run_id(job_id, job_num, "active")
    stamp = now_iso()
    return [
        TradeRow(
            trade_id=trade_id(rid, seq),
            run_id=rid,
            job_id=job_id,
            job_num=job_num,
            seq=seq,
            day=t.day,
            side=t.side,
            claim=t.payable,
            issuer=t.issuer,
            due_day=t.due_day,
            seller=t.customer if t.side == "sell" else t.market_maker,
            buyer=t.market_maker if t.side == "sell" else t.customer,
            venue=t.venue,
            bucket=t.bucket,
            unit_price=t.unit_price,
            face=t.face,
            cash=t.cash,
            default_prob=t.default_prob,
            threshold=t.threshold,
            shortfall=t.shortfall,
            wealth=t.wealth,
            created_at=stamp,
        )
        for seq, t in enumerate(trades)
    ]


def outcome_rows(
    job_id: str, job_num: int, regime: str, traders: Sequence[str], default_days: dict[str, int]
) -> list[AgentOutcomeRow]:
    """One ``agent_outcomes`` row per trader of a run: defaulted or not, and the day."""
    rid = run_id(job_id, job_num, regime)
    stamp = now_iso()
    return [
        AgentOutcomeRow(
            outcome_id=outcome_id(rid, agent),
            run_id=rid,
            job_id=job_id,
            job_num=job_num,
            regime=regime,
            agent=agent,
            defaulted=agent in default_days,
            default_day=default_days.get(agent),
            created_at=stamp,
        )
        for agent in traders
    ]


@dataclass(frozen=True)
class JobBase:
    """The job's config as its row stores it, which each run's config is stored against."""

    config: dict[str, Any]  # as read back from the store
    digest: str = ""
    flat: dict[str, Any] = field(default_factory=dict)
    # a section's difference, by the section object (the jobs of a sweep share the sections
    # their values do not change: SweepPlan.spec), kept with a copy of its content and the
    # secrets known then, so that a section edited in place is compared again
    sections: dict[tuple[str, int], tuple[Any, Any, tuple[str, ...], _Part]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _tops: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, stored: Any) -> JobBase | None:
        """None where a difference cannot be taken (no stored config, or a key with a dot)."""
        flat = _flat(stored) if isinstance(stored, dict) else None
        return None if flat is None else cls(stored, config_digest(stored), flat)

    @property
    def tops(self) -> dict[str, list[str]]:
        """The flat keys grouped by their top-level key (grouped on first use)."""
        if not self._tops and self.flat:
            for key in self.flat:
                self._tops.setdefault(key.split(".", 1)[0], []).append(key)
        return self._tops

    def under(self, top: str) -> list[str]:
        """The flat keys of the top-level key ``top``."""
        return self.tops.get(top, [])


_SECRET_PATHS = {f"{section}.{key}" for section, keys in SECRET_KEYS.items() for key in keys}
_Part = tuple[dict[str, Any], list[str]]  # a section's changed keys and its unset keys
_SECTIONS_KEPT = 64  # sections remembered per job base


def config_difference(base: JobBase, config: dict[str, Any]) -> dict[str, Any]:
    """What a run stores instead of its full public config: only the keys whose public value
    differs from the job's stored config (``bilancio.rows.full_config`` puts it back together).
    Falls back to the full public config where a key has a dot in it."""
    secrets = tuple(known_secrets())
    changed: dict[str, Any] = {}
    unset: list[str] = []
    for top, value in config.items():
        if not isinstance(top, str) or "." in top:
            return public_config(config)
        if isinstance(value, dict) and value:
            part = _section_difference(base, top, value, secrets)
            if part is None:
                return public_config(config)
            changed.update(part[0])
            unset.extend(part[1])
            continue
        # a leaf at the top (most model parameters): compared here
        differs, stored = _stored_change(base.flat, top, value, secrets)
        if differs:
            changed[top] = stored
        unset.extend(k for k in base.under(top) if k != top and k not in _SECRET_PATHS)
    for top in base.tops.keys() - config.keys():
        unset.extend(k for k in base.under(top) if k not in _SECRET_PATHS)
    return {DIFF_MARK: base.digest, "set": changed, "unset": sorted(unset)}


def _section_difference(
    base: JobBase, top: str, value: Any, secrets: tuple[str, ...]
) -> _Part | None:
    """:func:`config_difference` of the top-level section ``top`` (a dict) alone, worked out
    once per section object, content and the secrets known then."""
    memo = (top, id(value))
    known = base.sections.get(memo)
    if known is not None and known[0] is value and known[2] == secrets and _alike(known[1], value):
        return known[3]
    flat = _flat({top: value})
    if flat is None:
        return None
    changed: dict[str, Any] = {}
    for key, item in flat.items():
        differs, stored = _stored_change(base.flat, key, item, secrets)
        if differs:
            changed[key] = stored
    unset = [
        k
        for k in base.under(top)
        if k not in flat
        and k not in _SECRET_PATHS
        and not any(c.startswith(f"{k}.") for c in changed)  # replaced by a dict's keys
    ]
    part = (changed, unset)
    if len(base.sections) >= _SECTIONS_KEPT:
        base.sections.clear()
    base.sections[memo] = (value, plain_copy(value), secrets, part)  # the object kept alive
    return part


def _stored_change(
    known: dict[str, Any], key: str, item: Any, secrets: tuple[str, ...]
) -> tuple[bool, Any]:
    """Whether the public value of the flat ``key`` differs from the job's stored one
    (``known``), and that value (secret settings redacted, credentials scrubbed)."""
    if key in _SECRET_PATHS or (key in known and _same(known[key], item)):
        return False, None  # a secret path is never stored (public_config drops it)
    if key in SECRET_SETTINGS:
        item = None if item is None else "<redacted>"
    elif isinstance(item, str | list | tuple | dict):
        item = scrub(item, key, list(secrets))
    return key not in known or not _same(known[key], item), item


def plain_copy(value: Any) -> Any:
    """A copy of a plain config (dicts, lists, tuples, scalars); several times faster than
    deepcopy."""
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain_copy(v) for v in value)
    return value


def _alike(a: Any, b: Any) -> bool:
    """Equal with the same types throughout (1, 1.0 and True differ, as stored JSON)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(_alike(v, b[k]) for k, v in a.items())
    if type(a) is list or type(a) is tuple:
        return len(a) == len(b) and all(_alike(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _same(a: Any, b: Any) -> bool:
    """Equal as stored JSON: 1, 1.0 and True are three different values."""
    return type(a) is type(b) and a == b


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any] | None:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (an empty dict is a value); None if a key is not
    a string or holds a dot (it could not be told apart from a nested key)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str) or "." in key:
            return None
        if isinstance(value, dict) and value:
            inner = _flat(value, f"{prefix}{key}.")
            if inner is None:
                return None
            out.update(inner)
        else:
            out[f"{prefix}{key}"] = value
    return out
