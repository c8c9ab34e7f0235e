"""Fault injection for the tests of other Hydra sweepers and launchers, whose workers are fresh
Python processes (loky, submitit) that no monkeypatch reaches. Put this folder on PYTHONPATH and
set one of these; every Python process started with that environment then has the fault:

* ``BILANCIO_TEST_DIE_AT_KAPPA=0.5``: a pair with κ = 0.5 ends its process (``os._exit(3)``),
  as an out-of-memory kill or a pre-emption would;
* ``BILANCIO_TEST_FAIL_AT_KAPPA=0.5``: a pair with κ = 0.5 raises (a bug in the model would);
* ``BILANCIO_TEST_RECORD_ENV=NAME:FILE``: every pair appends ``$NAME`` as its process sees it
  to FILE (one line per pair: the process id and the value);
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

if os.environ.get("BILANCIO_TEST_RECORD_ENV"):
    import bilancio.sweep.job as _job2

    _name, _, _file = os.environ["BILANCIO_TEST_RECORD_ENV"].partition(":")
    _real_run_pair2 = _job2._run_pair

    def _recording(params):
        with open(_file, "a") as out:
            out.write(f"{os.getpid()} {os.environ.get(_name)}\n")
        return _real_run_pair2(params)

    _job2._run_pair = _recording

if os.environ.get("BILANCIO_TEST_FAIL_AT_KAPPA"):
    import bilancio.sweep.job as _job3

    _raise_at = float(os.environ["BILANCIO_TEST_FAIL_AT_KAPPA"])
    _real_run_pair3 = _job3._run_pair

    def _raising(params):
        if params.kappa == _raise_at:
            raise RuntimeError("injected failure of the pair (test)")
        return _real_run_pair3(params)

    _job3._run_pair = _raising
