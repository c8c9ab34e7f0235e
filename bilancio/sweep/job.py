"""The job function: one resolved config in, one pair run and stored, a plain outcome out.

Local, process-pool and cloud execution all call :func:`run_job`. It never raises for a bad
run: the exception becomes two failed run rows with its text, and a failed outcome.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bilancio.config import params_from_config, record_trades
from bilancio.model import ModelParams, PairResult, TradeRecord, generate_arrays, simulate_scenario
from bilancio.rows import AgentOutcomeRow, MetricsRecord, RunRecord, TradeRow, now_iso, run_id
from bilancio.storage import Store, StoreError, open_store
from bilancio.sweep.records import (
    JobBase,
    config_difference,
    config_hash,
    metrics_record,
    outcome_rows,
    public_config,
    run_record,
    trade_rows,
)

REGIMES = ("passive", "active")
SAVE_FAILED = "saving results failed"


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs: plain data, cheap to send to another process."""

    job_id: str
    job_num: int
    config: dict[str, Any]  # the job's resolved config (model, market, storage, job)
    overrides: tuple[str, ...]
    config_hash: str | None = None  # as the plan computed it when it checked the job
    base: JobBase | None = None  # the job row's config: runs store what differs from it


@dataclass(frozen=True)
class JobOutcome:
    job_num: int
    status: str  # "completed" or "failed"
    error: str | None
    saved: bool  # the rows are in the store
    delta_passive: float | None = None
    delta_active: float | None = None
    trading_effect: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_STORES: dict[str, Store] = {}  # one open store per process and storage setting
_FORKED_FROM_PARENT: list[Store] = []  # kept referenced so they are never closed in a child


def forget_inherited_stores() -> None:
    """In a forked worker: stop using the parent's connections (never close them here)."""
    _FORKED_FROM_PARENT.extend(_STORES.values())
    _STORES.clear()


def store_for(settings: dict[str, Any]) -> Store:
    """This process's open store for ``settings`` (and the credentials in the environment)."""
    env = [os.environ.get(k) for k in ("BILANCIO_DATABASE_URL", "BILANCIO_SUPABASE_URL")]
    key = json.dumps([settings, env], sort_keys=True)
    if key not in _STORES:
        _STORES[key] = open_store(settings)
    return _STORES[key]


@dataclass(frozen=True)
class ComputedJob:
    """A job's outcome with the rows it produced (not yet saved)."""

    outcome: JobOutcome
    runs: list[RunRecord]
    metrics: list[MetricsRecord]
    trades: list[TradeRow] = field(default_factory=list)  # record.trades=true only
    outcomes: list[AgentOutcomeRow] = field(default_factory=list)  # likewise


@dataclass
class Recorded:
    """What a pair run with ``record.trades=true`` saw besides its metrics."""

    traders: list[str]
    trades: list[TradeRecord] = field(default_factory=list)  # of the active run
    default_days: dict[str, dict[str, int]] = field(
        default_factory=lambda: {regime: {} for regime in REGIMES}
    )  # regime → agent → the day it defaulted


def compute_job(spec: JobSpec) -> ComputedJob:
    """Run the pair of ``spec``; a failure becomes two failed run rows with the error text."""
    start = time.perf_counter()
    params: ModelParams | None = None
    try:
        params = params_from_config(spec.config)
        # the plain call is the seam tests wrap (a pair that fails or kills its worker)
        record = record_trades(spec.config)
        pair, times, recorded = _run_pair(params, record=True) if record else _run_pair(params)
    except Exception as err:  # a bug or bad input: recorded as a failed run, never swallowed
        error = _describe(err)
        outcome = JobOutcome(
            spec.job_num, "failed", error, False, seconds=time.perf_counter() - start
        )
        return ComputedJob(outcome, failure_records(spec, params, error), [])
    digest = spec.config_hash or config_hash(params)  # hashed once, by the plan
    public = stored_config(spec)  # once for both runs
    stamp = now_iso()
    runs = [
        run_record(
            spec.job_id,
            spec.job_num,
            r.regime,
            params,
            spec.config,
            status="completed",
            execution_time_ms=round(times[r.regime] * 1000),
            digest=digest,
            public=public,
            stamp=stamp,
        )
        for r in (pair.passive, pair.active)
    ]
    metrics = [
        metrics_record(spec.job_id, spec.job_num, r, pair, stamp)
        for r in (pair.passive, pair.active)
    ]
    outcome = JobOutcome(
        spec.job_num,
        "completed",
        None,
        False,
        pair.passive.delta_total,
        pair.active.delta_total,
        pair.trading_effect,
        time.perf_counter() - start,
    )
    if recorded is None:
        return ComputedJob(outcome, runs, metrics)
    trades = trade_rows(spec.job_id, spec.job_num, recorded.trades)
    outcomes = [
        row
        for regime in REGIMES
        for row in outcome_rows(
            spec.job_id, spec.job_num, regime, recorded.traders, recorded.default_days[regime]
        )
    ]
    return ComputedJob(outcome, runs, metrics, trades, outcomes)


def save_computed(done: ComputedJob, store: Store) -> JobOutcome:
    """Store a computed job's rows; a store failure is reported in the outcome, not raised."""
    return save_all_computed([done], store)[0]


def save_all_computed(done: Sequence[ComputedJob], store: Store) -> list[JobOutcome]:
    """Store the rows of several computed jobs in one write (one request per table for a
    remote store); a store failure is reported in every outcome, not raised."""
    trades = [t for d in done for t in d.trades]
    outcomes = [o for d in done for o in d.outcomes]
    recorded = {"trades": trades, "outcomes": outcomes} if trades or outcomes else {}
    try:
        store.save_runs(
            [r for d in done for r in d.runs], [m for d in done for m in d.metrics], **recorded
        )
    except Exception as err:  # the pairs ran but could not be stored: the caller records it
        error = f"{SAVE_FAILED}: {_err_text(err)}"
        return [
            d.outcome  # a failed job whose failure could not be saved either
            if d.outcome.status != "completed"
            else replace(d.outcome, status="failed", error=error, saved=False)
            for d in done
        ]
    return [replace(d.outcome, saved=True) for d in done]


BATCH_PAIRS = 16  # pairs written in one transaction (one request per table for a remote store)
BATCH_SECONDS = 0.5  # ... or fewer, once the oldest unsaved pair has waited this long


def saved_in_batches(
    results: Iterable[ComputedJob | JobOutcome],
    store: Store,
    *,
    pairs: int = BATCH_PAIRS,
    seconds: float = BATCH_SECONDS,
) -> Iterator[JobOutcome]:
    """The outcomes of computed jobs, each once its rows are stored: the rows are written
    ``pairs`` jobs at a time, or sooner when a result arrives after the oldest unsaved one has
    waited ``seconds`` (and at the end). An outcome that brings no rows (``JobOutcome``: a job
    the launcher could not run) passes straight through. A pair is only reported once it is
    stored, so a sweep stopped between two writes has lost nothing it reported: the pairs
    computed since the last write are simply run again on resume."""
    pending: list[ComputedJob] = []
    since = 0.0
    for result in results:
        if isinstance(result, JobOutcome):
            yield result
            continue
        if not pending:
            since = time.monotonic()
        pending.append(result)
        if len(pending) >= pairs or time.monotonic() - since >= seconds:
            batch, pending = pending, []
            yield from save_all_computed(batch, store)
    if pending:
        yield from save_all_computed(pending, store)


def run_job(spec: JobSpec, store: Store | None = None) -> JobOutcome:
    """Run the pair of ``spec`` and save its runs and metrics; failures become failed rows."""
    return save_computed(compute_job(spec), store or store_for(spec.config["storage"]))


def _run_pair(
    params: ModelParams, record: bool = False
) -> tuple[PairResult, dict[str, float], Recorded | None]:
    """The pair, each run's seconds, and (``record``) its trades and default days."""
    scenario = generate_arrays(params)  # the kernel's arrays: names only when recording
    recorded = Recorded(list(scenario.agents[: scenario.n_traders])) if record else None
    times: dict[str, float] = {}
    results = {}
    for regime in REGIMES:
        hooks: dict[str, Any] = {}
        if recorded is not None:
            days = recorded.default_days[regime]
            hooks["on_default"] = lambda day, agent, days=days: days.setdefault(agent, day)
            if regime == "active":
                hooks["on_trade"] = recorded.trades.append
        tic = time.perf_counter()
        results[regime] = simulate_scenario(scenario, params, regime, **hooks)
        times[regime] = time.perf_counter() - tic
    return PairResult(results["passive"], results["active"]), times, recorded


def failure_records(spec: JobSpec, params: ModelParams | None, error: str) -> list[RunRecord]:
    """The two failed run rows of a job. When the config did not even validate, the row keeps
    the config's own values (never defaults that would misdescribe the run) and no hash."""
    if params is None:
        try:
            params = params_from_config(spec.config)
        except (ValueError, TypeError, KeyError):
            return [_unvalidated_record(spec, regime, error) for regime in REGIMES]
    public = stored_config(spec)
    digest = spec.config_hash or config_hash(params)
    return [
        run_record(
            spec.job_id,
            spec.job_num,
            regime,
            params,
            spec.config,
            status="failed",
            error=error,
            digest=digest,
            public=public,
        )
        for regime in REGIMES
    ]


def stored_config(spec: JobSpec) -> dict[str, Any]:
    """What a run row of ``spec`` stores as its config: what differs from the job row's config
    when the sweep knows it (``bilancio.rows.full_config`` restores the whole), else the whole
    public config."""
    if spec.base is not None:
        return config_difference(spec.base, spec.config)
    return public_config(spec.config)


def _unvalidated_record(spec: JobSpec, regime: str, error: str) -> RunRecord:
    def number(key: str) -> Any:
        value = spec.config.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    return RunRecord(
        run_id=run_id(spec.job_id, spec.job_num, regime),
        job_id=spec.job_id,
        job_num=spec.job_num,
        regime=regime,
        status="failed",
        kappa=number("kappa"),
        concentration=number("concentration"),
        mu=number("mu"),
        outside_mid_ratio=number("outside_mid_ratio"),
        seed=number("seed"),
        config=public_config(spec.config),
        config_hash="",
        error=error,
        completed_at=now_iso(),
    )


def _err_text(err: BaseException) -> str:
    return str(err) if isinstance(err, StoreError) else _describe(err)


def _describe(err: BaseException) -> str:
    last = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(err).__name__}: {err}{where}"
