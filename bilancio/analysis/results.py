"""The results API: a job's pairs, cells and trades as pandas DataFrames.

    >>> from bilancio import results
    >>> cells = results.cells("20261203-071122-abcd")            # ./bilancio.db
    >>> cells[["kappa", "mu", "n", "mean_effect", "ci95_low", "ci95_high"]]
    >>> pairs = results.pairs(job_id, storage="runs/study.db")
    >>> pairs.groupby("kappa").trading_effect.mean()
    >>> trades = results.trades(job_id)          # a sweep run with record.trades=true
    >>> trades.groupby(["kappa", "venue"]).face.sum()
    >>> outcomes = results.agent_outcomes(job_id)

``storage`` names where the job is, as the read commands do: an SQLite file (a path, default
``bilancio.db``), ``"postgres"`` (``$BILANCIO_DATABASE_URL``) or a ``postgresql://`` URL,
``"supabase"`` (the project of ``$BILANCIO_SUPABASE_URL``, read with the anon key), or a
``storage`` settings dict as in a sweep's config. Nothing is ever written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from bilancio.analysis.cells import TRADE_METRICS, flatten, swept_parameters
from bilancio.rows import AgentOutcomeRow, TradeRow

Storage = str | os.PathLike | dict[str, Any]


@contextmanager
def _reading(storage: Storage) -> Iterator[Any]:
    from bilancio.storage import StoreError, open_store

    if isinstance(storage, dict):
        store = open_store(storage, read_only=True)
    else:
        where = os.fspath(storage)
        if where == "supabase":
            store = open_store({"backend": "supabase"}, read_only=True)
        elif where == "postgres" or where.startswith(("postgres://", "postgresql://")):
            url = None if where == "postgres" else where
            store = open_store({"backend": "postgres", "url": url}, read_only=True)
        elif "://" in where:
            raise StoreError(
                f"invalid storage={where!r}: allowed an SQLite file, 'postgres', a "
                "postgresql:// URL, 'supabase', or a storage settings dict"
            )
        else:
            if not Path(where).expanduser().exists():
                raise StoreError(f"no database at {where} (storage= names an SQLite file)")
            store = open_store({"backend": "sqlite", "path": where}, read_only=True)
    try:
        yield store
    finally:
        store.close()


def cells(job_id: str, storage: Storage = "bilancio.db") -> Any:
    """One row per cell (MODEL.md §6): every model parameter (swept ones first; the frame's
    ``attrs["swept"]`` names them), n, the effect's mean, sd, se, 95% CI, p-values, counts,
    mean δ and delta_ring of both regimes, the mean trade metrics, the seeds and the keys."""
    from bilancio.analysis.summary import job_cells
    from bilancio.analysis.tables import cells_frame

    with _reading(storage) as store:
        job = store.get_job(job_id)
        found, _ = job_cells(store, job_id, job)
    return cells_frame(found)


PAIR_METRICS = ("delta_total", "delta_ring", "phi_total", "n_defaults", "n_clears")


def pairs(job_id: str, storage: Storage = "bilancio.db") -> Any:
    """One row per pair: job_num, every model parameter (swept ones first) and seed, the
    pair's status (and error), δ, delta_ring, φ, defaults and clears of both regimes
    (``delta_passive``, ``delta_ring_active``, …), the trading effect and relief ratio, the
    active run's trade metrics, the cell key and both run ids."""
    with _reading(storage) as store:
        store.get_job(job_id)
        runs = store.job_runs(job_id)
    return pairs_frame(runs)


def pairs_frame(runs: list[dict[str, Any]]) -> Any:
    """The frame of :func:`pairs` from a store's ``job_runs`` rows."""
    import pandas as pd

    from bilancio.analysis.cells import _Cells
    from bilancio.report import pair_key

    grouped: dict[tuple, dict[str, dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault(pair_key(run), {})[run["regime"]] = run
    known = _Cells()
    records = []
    for key in sorted(grouped):
        both = grouped[key]
        first = both.get("passive") or both.get("active") or {}
        cell, params = known.of(first)
        statuses = {r["status"] for r in both.values()}
        status = "completed" if statuses == {"completed"} and len(both) == 2 else None
        if status is None:
            status = next((s for s in ("failed", "running", "pending") if s in statuses), "")
            status = status or "incomplete"
        record: dict[str, Any] = {"job_num": first.get("job_num")}
        record |= flatten(params)
        record["seed"] = first.get("seed")
        record["status"] = status
        record["error"] = next((r["error"] for r in both.values() if r.get("error")), None)
        raw = {regime: (run.get("raw_metrics") or {}) for regime, run in both.items()}
        for regime in ("passive", "active"):
            run = both.get(regime, {})
            for metric in PAIR_METRICS:
                value = raw.get(regime, {}).get(metric, run.get(metric))
                name = {"delta_total": "delta", "phi_total": "phi"}.get(metric, metric)
                record[f"{name}_{regime}"] = value
        active = raw.get("active", {})
        dp, da = record["delta_passive"], record["delta_active"]
        record["trading_effect"] = None if dp is None or da is None else dp - da
        record["trading_relief_ratio"] = active.get("trading_relief_ratio")
        record |= {m: active.get(m) for m in TRADE_METRICS}
        record["cell_key"] = cell
        record["passive_run_id"] = both.get("passive", {}).get("run_id")
        record["active_run_id"] = both.get("active", {}).get("run_id")
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    swept = swept_parameters([{"params": r} for r in _param_sets(records)])
    if records:
        first_columns = ["job_num", *swept, "seed"]
        frame = frame[first_columns + [c for c in frame.columns if c not in first_columns]]
    frame.attrs["swept"] = swept
    return frame


def _param_sets(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    skip = {"job_num", "seed", "status", "error", "cell_key", "passive_run_id", "active_run_id"}
    metrics = {f"{m}_{r}" for m in ("delta", "phi", *PAIR_METRICS) for r in ("passive", "active")}
    skip |= metrics | set(TRADE_METRICS) | {"trading_effect", "trading_relief_ratio"}
    return [{k: v for k, v in r.items() if k not in skip} for r in records]


def trades(job_id: str, storage: Storage = "bilancio.db") -> Any:
    """One row per trade of the job's active runs (a sweep run with ``record.trades=true``;
    empty otherwise), by job number and sequence: the ``trades`` columns (day, claim, issuer,
    seller, buyer, venue, bucket, unit_price, face, cash, default_prob, threshold, …) after
    job_num, the swept parameters and seed (``attrs["swept"]`` names them)."""
    with _reading(storage) as store:
        store.get_job(job_id)
        rows = store.job_trades(job_id)
        runs = store.job_runs(job_id) if rows else []
    return _with_parameters(rows, runs, TradeRow)


def agent_outcomes(job_id: str, storage: Storage = "bilancio.db") -> Any:
    """One row per trader and run (``record.trades=true``; empty otherwise): regime, agent,
    defaulted and default_day, after job_num, the swept parameters and seed. A pivot on
    ``regime`` gives each trader's two outcomes side by side."""
    with _reading(storage) as store:
        store.get_job(job_id)
        rows = store.job_agent_outcomes(job_id)
        runs = store.job_runs(job_id) if rows else []
    frame = _with_parameters(rows, runs, AgentOutcomeRow)
    frame["default_day"] = frame["default_day"].astype("Int64")  # an integer or <NA>
    frame["defaulted"] = frame["defaulted"].astype(bool)
    return frame


def _with_parameters(rows: list[dict[str, Any]], runs: list[dict[str, Any]], kind: type) -> Any:
    """``rows`` (keyed by job_num) as a frame with the columns of the row type ``kind``, led
    by job_num and the pair's swept parameters and seed (the stores' ``id`` is left out)."""
    import pandas as pd

    columns = [f.name for f in fields(kind)]
    frame = pd.DataFrame.from_records(
        [{c: r.get(c) for c in columns} for r in rows], columns=columns
    )
    pairs = pairs_frame(runs)
    swept = pairs.attrs["swept"]
    if rows:
        keys = pairs[["job_num", *swept, "seed"]]
        frame = keys.merge(frame, on="job_num", how="right")
    frame.attrs["swept"] = swept
    return frame


def frontier(job_id: str, storage: Storage = "bilancio.db") -> Any:
    """A frontier job (``hydra.sweeper.design=frontier``): one row per cell (its other swept
    values and seed) with each regime's status and answer (``value_passive``, empty where
    ``status_passive`` is ``not reached``), the liquidity ``saved``, rounds and evaluations.
    ``attrs["settings"]`` holds the search's settings, ``attrs["groups"]`` the means over seeds
    with their 95% intervals."""
    import pandas as pd

    from bilancio.analysis.frontier import FRONTIER_COLUMNS, frontier_rows, job_frontier

    with _reading(storage) as store:
        job = store.get_job(job_id)
        found, _ = job_frontier(store, job)
    if found is None:
        raise ValueError(f"job {job_id} is not a frontier search (hydra.sweeper.design=frontier)")
    rows = frontier_rows(found)
    columns = list(dict.fromkeys(k for r in rows for k in r)) or list(FRONTIER_COLUMNS)
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame.attrs["settings"], frame.attrs["groups"] = found["settings"], found["groups"]
    return frame


def sensitivity(job_id: str, storage: Storage = "bilancio.db") -> Any:
    """A Saltelli job's Sobol' indices in long form: one row per group of the other swept
    values, output (``trading_effect``, ``delta_passive``, ``delta_active``) and parameter,
    with S1, S1_conf, ST and ST_conf (empty where the output does not vary: ``note`` says
    so)."""
    import pandas as pd

    from bilancio.analysis.sensitivity import job_indices

    with _reading(storage) as store:
        job = store.get_job(job_id)
        found, _ = job_indices(store, job)
    names = [p["name"] for p in found["parameters"]]
    records = []
    for group in found["groups"]:
        for metric, got in (group.get("metrics") or {}).items():
            for name in names:
                values = (got.get("indices") or {}).get(name) or {}
                records.append(
                    {
                        **group["values"],
                        "output": metric,
                        "parameter": name,
                        **{k: values.get(k) for k in ("S1", "S1_conf", "ST", "ST_conf")},
                        "note": got.get("note") or group.get("note"),
                    }
                )
    return pd.DataFrame.from_records(records)


def jobs(storage: Storage = "bilancio.db") -> Any:
    """Every job of the store, newest first (the columns of ``bilancio jobs ls --json``)."""
    import pandas as pd

    with _reading(storage) as store:
        return pd.DataFrame.from_records(store.list_jobs())
