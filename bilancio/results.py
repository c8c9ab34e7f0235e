"""A job's results as pandas DataFrames: ``from bilancio import results``.

``results.cells(job_id)``, ``results.pairs(job_id)``, ``results.trades(job_id)`` and
``results.jobs()``; each takes ``storage=`` (an SQLite file by default ``bilancio.db``,
``"postgres"`` or a URL, ``"supabase"``, or a storage settings dict). The implementation is
:mod:`bilancio.analysis.results`.
"""

from bilancio.analysis.results import cells, jobs, pairs

__all__ = ["cells", "jobs", "pairs"]
