"""A job's results as pandas DataFrames: ``from bilancio import results``.

``results.cells(job_id)``, ``results.pairs(job_id)``, ``results.trades(job_id)``,
``results.agent_outcomes(job_id)``, ``results.frontier(job_id)`` (a frontier job),
``results.sensitivity(job_id)`` (a Saltelli job) and ``results.jobs()``; each takes
``storage=`` (an SQLite file, by default ``bilancio.db``, ``"postgres"`` or a URL,
``"supabase"``, or a storage settings dict). The implementation is :mod:`bilancio.analysis.results`.
"""

from bilancio.analysis.results import (
    agent_outcomes,
    cells,
    frontier,
    jobs,
    pairs,
    sensitivity,
    trades,
)

__all__ = ["agent_outcomes", "cells", "frontier", "jobs", "pairs", "sensitivity", "trades"]
