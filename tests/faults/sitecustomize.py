"""Fault injection for the tests of other Hydra sweepers and launchers, whose workers are fresh
Python processes (loky, submitit) that no monkeypatch reaches. Put this folder on PYTHONPATH and
set one of these; every Python process started with that environment then has the fault:

* ``BILANCIO_TEST_DIE_AT_KAPPA=0.5``: a pair with κ = 0.5 ends its process (``os._exit(3)``),
  as an out-of-memory kill or a pre-emption would;
* ``BILANCIO_TEST_SAVE_FAILS_AT_KAPPA=0.5``: storing the runs of a pair with κ = 0.5 fails
  with a StoreError, as a full disk would.
"""

import os

if os.environ.get("BILANCIO_TEST_DIE_AT_KAPPA"):
    import bilancio.sweep.job as _job

    _die_at = float(os.environ["BILANCIO_TEST_DIE_AT_KAPPA"])
    _real_run_pair = _job._run_pair

    def _deadly(params):
        if params.kappa == _die_at:
            os._exit(3)
        return _real_run_pair(params)

    _job._run_pair = _deadly

if os.environ.get("BILANCIO_TEST_SAVE_FAILS_AT_KAPPA"):
    from bilancio.storage import StoreError
    from bilancio.storage.sqlite import SQLiteStore

    _fail_at = float(os.environ["BILANCIO_TEST_SAVE_FAILS_AT_KAPPA"])
    _real_save = SQLiteStore.save_runs

    def _failing_save(self, runs, metrics):
        if metrics and any(r.kappa == _fail_at for r in runs):
            raise StoreError("database or disk is full (injected by the test)")
        return _real_save(self, runs, metrics)

    SQLiteStore.save_runs = _failing_save
