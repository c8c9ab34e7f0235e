"""A job's summaries, written after a sweep: ``job_metrics`` (the deployment plan's aggregate)
and ``cell_metrics`` (one row per cell). The Hydra callback and Modal's
``compute_aggregate_metrics`` both call :func:`write_summaries`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bilancio.analysis.cells import CellStatistics, cell_rows, iter_pairs, pairs_of
from bilancio.sweep.aggregate import Aggregate


def summaries(job_id: str, runs: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], list[dict]]:
    """(the job_metrics row, the cell_metrics rows) of a job's ``job_runs`` rows (a list, or
    a store's ``iter_job_runs``: then the runs are read once, a pair at a time)."""
    total, cells = Aggregate(), CellStatistics(job_id)
    for pair in iter_pairs(runs):
        total.add(_num(pair.passive.get("delta_total")), _num(pair.active.get("delta_total")))
        cells.add(pair)
    return total.row(), cells.rows()


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def write_summaries(
    store: Any, job_id: str, raw_summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read every run of the job once, write job_metrics, then cell_metrics; return
    ``{"row", "cells"}``. A grid's runs are read a page at a time (``iter_job_runs``), so the
    memory this takes does not grow with the job; a design job's answers need all its runs
    at once."""
    job = store.get_job(job_id)
    if _needs_runs(job):
        runs = store.job_runs(job_id)
        row, cells = summaries(job_id, runs)
        design = design_summaries(job, runs)
    else:
        row, cells = summaries(job_id, store.iter_job_runs(job_id))
        design = {}
    if design:
        raw_summary = {**(raw_summary or {}), **design}
    if raw_summary is not None:
        row["raw_summary"] = raw_summary
    store.save_job_metrics(job_id, row)
    store.save_cell_metrics(job_id, cells)
    return {"row": row, "cells": cells}


def _needs_runs(job: dict[str, Any]) -> bool:
    """Whether :func:`design_summaries` has anything to compute for ``job``."""
    from bilancio.analysis.frontier import frontier_of
    from bilancio.analysis.sensitivity import saltelli_of

    return frontier_of(job) is not None or saltelli_of(job) is not None


def job_cells(
    store: Any,
    job_id: str,
    job: dict[str, Any] | None = None,
    runs: list[dict[str, Any]] | None = None,
) -> tuple[list, bool]:
    """The job's cells and whether they are the stored ones: a finished job's stored rows; for
    a job still running, or one written before cell_metrics existed, computed from its runs
    (``runs``, when the caller has read them already)."""
    status = (job or {}).get("status")
    if status != "running":
        stored = store.job_cells(job_id)
        if stored:
            return stored, True
    return cell_rows(job_id, store.job_runs(job_id) if runs is None else runs), False


def design_summaries(job: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What a design job stores beside its cells in ``job_metrics.raw_summary``: a frontier
    job's answers per cell and group (``"frontier"``), a Saltelli job's Sobol' indices
    (``"sensitivity"``). A job whose indices cannot be computed here (no
    SALib where the aggregate runs) stores why, and ``bilancio jobs sensitivity`` computes
    them where SALib is."""
    from bilancio.analysis.frontier import frontier_of, results
    from bilancio.analysis.sensitivity import SensitivityError, indices, saltelli_of

    search = frontier_of(job)
    if search is not None:
        return {"frontier": results(search, runs)}
    if saltelli_of(job) is None:
        return {}
    try:
        return {"sensitivity": indices(job, pairs_of(runs))}
    except SensitivityError as err:
        return {"sensitivity": {"error": str(err)}}
