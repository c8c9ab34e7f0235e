"""A job's results as pandas DataFrames: ``from bilancio import results``.

``results.cells(job_id)``, ``results.pairs(job_id)``, ``results.trades(job_id)``,
``results.agent_outcomes(job_id)`` and ``results.jobs()``; each takes ``storage=`` (an SQLite
file, by default ``bilancio.db``, ``"postgres"`` or a URL, ``"supabase"``, or a storage
settings dict). The implementation is :mod:`bilancio.analysis.results`.
"""

from bilancio.analysis.results import agent_outcomes, cells, jobs, pairs, trades

__all__ = ["agent_outcomes", "cells", "jobs", "pairs", "trades"]
