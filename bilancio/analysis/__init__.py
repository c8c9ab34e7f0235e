"""What turns a job's rows into answers: the cell statistics of MODEL.md §6 (``cell_metrics``),
the results API (:mod:`bilancio.results`), comparisons of jobs and the report.

Nothing here runs the model or writes runs; it reads what the stores hold. Heavy imports
(scipy, pandas, plotting) happen inside the functions that need them, so that importing the
command stays cheap.
"""
