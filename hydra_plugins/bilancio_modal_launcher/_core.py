"""The Modal launcher's work: preflight, batching, streaming results back, local fallbacks.

Executors are the seam: ``ModalExecutor`` calls the Modal functions (ephemeral app or deployed
by name); ``LocalExecutor`` calls the very same functions through their local path, in this
process — what the tests use, with no network.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from bilancio.sweep.job import JobOutcome, JobSpec, compute_job

TARGET_BATCH_SECONDS = 2.0  # work per container call: amortises the call, keeps retries cheap
MAX_BATCH = 500
CORE_HOUR_USD = 0.047  # Modal's list price for one CPU core-hour (memory is billed on top)


class LaunchRefused(SystemExit):
    """A preflight problem: the message says what to run; nothing was launched."""

    def __init__(self, message: str):
        print(f"bilancio: {message}", flush=True, file=__import__("sys").stderr)
        super().__init__(2)


# -- executors ----------------------------------------------------------------------------------


class LocalExecutor:
    """The real Modal functions, run here through ``.local()`` (no network)."""

    def __init__(self, options: dict[str, Any]):
        from bilancio.cloud import modal_app

        self.app = modal_app

    def health(self) -> dict[str, Any]:
        return self.app.health_check.local()

    def map(self, batches: Iterable[list[dict[str, Any]]]) -> Iterator[Any]:
        for batch in batches:
            try:
                yield self.app.run_simulation.local(batch)
            except Exception as err:  # what Modal returns for a failed call, as a value
                yield err

    def close(self) -> None:
        pass


class ModalExecutor:
    """The Modal functions on Modal: an ephemeral app for this sweep, or the deployed one."""

    def __init__(self, options: dict[str, Any]):
        import contextlib

        import modal

        self.options = options
        self._context = None
        self._output = contextlib.ExitStack()
        if options.get("output", True):  # the build log, start-up, the functions' output
            self._output.enter_context(modal.enable_output())
        try:
            self._begin(modal)
        except BaseException:
            self._output.close()
            raise

    def _begin(self, modal: Any) -> None:
        options = self.options
        if options["mode"] == "deployed":
            name = options["app_name"]
            self._run = modal.Function.from_name(name, "run_simulation")
            self._health = modal.Function.from_name(name, "health_check")
        elif options["mode"] == "ephemeral":
            from bilancio.cloud import modal_app

            context = modal_app.app.run()
            context.__enter__()  # starts the app: image build, secret lookup
            self._context = context
            self._run, self._health = modal_app.run_simulation, modal_app.health_check
        else:
            raise LaunchRefused(
                f"invalid hydra.launcher.mode={options['mode']!r}: allowed "
                "'ephemeral' or 'deployed'"
            )
        self._run = self._run.with_options(
            timeout=options["timeout"],
            retries=options["retries"],
            max_containers=options["parallelism"],
        )

    def health(self) -> dict[str, Any]:
        return self._health.remote()

    def map(self, batches: Iterable[list[dict[str, Any]]]) -> Iterator[Any]:
        yield from self._run.map(batches, order_outputs=False, return_exceptions=True)

    def close(self) -> None:
        context, self._context = self._context, None
        try:
            if context is not None:
                context.__exit__(None, None, None)
        finally:
            self._output.close()


class SerialisingExecutor(LocalExecutor):
    """The local functions as Modal calls them: every batch's argument, result and exception
    make the round trip through Modal's own serializer, and results come back out of order
    (``order_outputs=False``). ``faults`` (batch number → exception) stands in for what
    Modal's ``map(..., return_exceptions=True)`` yields for a call that did not return: a
    ``FunctionTimeoutError`` for a timed-out input, an ``InternalFailure`` for a lost
    container. A test seam, selected by ``hydra.launcher.executor=serialising``."""

    faults: dict[int, BaseException] = {}
    seed = 0  # the order results come back in: a seeded shuffle

    def map(self, batches: Iterable[list[dict[str, Any]]]) -> Iterator[Any]:
        import random

        from modal._serialization import deserialize, serialize

        done: list[Any] = []
        for number, batch in enumerate(batches):
            if number in self.faults:
                done.append(self.faults[number])
                continue
            sent = deserialize(serialize(batch), None)
            try:
                result = self.app.run_simulation.local(sent)
            except Exception as err:  # a raised exception travels serialized too
                result = err
            done.append(deserialize(serialize(result), None))
        random.Random(self.seed).shuffle(done)
        yield from done


def make_executor(options: dict[str, Any]) -> Any:
    kind = options.get("executor", "modal")
    if kind == "local":
        return LocalExecutor(options)
    if kind == "serialising":
        return SerialisingExecutor(options)
    if kind == "modal":
        return ModalExecutor(options)
    raise LaunchRefused(
        f"invalid hydra.launcher.executor={kind!r}: allowed 'modal', 'local' or 'serialising'"
    )


# -- what Modal's failures mean ------------------------------------------------------------------


def modal_failure(err: BaseException, options: dict[str, Any]) -> str:
    """One paragraph for a failure on Modal's side: what happened and what to do. The message
    Modal gave is quoted (redacted), never a traceback."""
    from bilancio.redaction import redact

    name = type(err).__name__
    said = redact(str(err).strip().splitlines()[0] if str(err).strip() else name)
    lowered = said.lower()
    if name == "AuthError":
        return (
            f"Modal refused the token ({said}). Run `modal token new` (or set MODAL_TOKEN_ID and "
            "MODAL_TOKEN_SECRET to a valid token), then run the sweep again."
        )
    if name == "NotFoundError" and "secret" in lowered:
        return (
            f"the Modal secret `supabase` does not exist ({said}). Create it: `modal secret "
            "create supabase BILANCIO_SUPABASE_URL=... BILANCIO_SUPABASE_SERVICE_KEY=...` (for "
            "storage=sqlite a placeholder will do: `modal secret create supabase "
            "BILANCIO_PLACEHOLDER=1`)."
        )
    if name == "NotFoundError":
        return (
            f"Modal has no deployed app {options.get('app_name', 'bilancio')!r} ({said}). Deploy "
            "it (`uv run modal deploy bilancio/cloud/modal_app.py`) or use "
            "hydra.launcher.mode=ephemeral."
        )
    if name == "ImageBuildError" or "image build" in lowered:
        image = getattr(err, "image_id", None)
        log = f"`modal image logs {image}`" if image else "the Modal dashboard"
        return (
            f"the Modal image failed to build ({said}). Its build log is above and in {log}; "
            "a dependency that cannot be installed from uv.lock is the usual cause: check that "
            "uv.lock is committed and current (`uv lock`), then run the sweep again."
        )
    if name == "FunctionTimeoutError":
        return (
            f"a batch ran longer than hydra.launcher.timeout={options.get('timeout')} s "
            f"({said}); its jobs are failed. Raise hydra.launcher.timeout or lower "
            "hydra.launcher.batch_size, then run the same command again to run them."
        )
    if name == "InternalFailure":
        return (
            f"Modal lost the container running a batch ({said}) after "
            f"{options.get('retries')} retries; its jobs are failed. Run the same command "
            "again to run them."
        )
    if name in ("ConnectionError", "ConnectError", "OSError", "TimeoutError") or isinstance(
        err, OSError
    ):
        return (
            f"cannot reach Modal ({name}: {said}). Check the network connection and "
            "https://status.modal.com, then run the sweep again."
        )
    return f"Modal reported {name}: {said}"


# -- preflight ----------------------------------------------------------------------------------


def _logged_in() -> bool:
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return True
    from modal.config import config

    return bool(config.get("token_id")) and bool(config.get("token_secret"))


def _start(options: dict[str, Any]) -> Any:
    """The executor, started (for Modal: the app run or the deployed functions looked up)."""
    try:
        return make_executor(options)
    except LaunchRefused:
        raise
    except Exception as err:  # a bad token, a missing secret, a failed image build, …
        raise LaunchRefused(modal_failure(err, options)) from None


def preflight(options: dict[str, Any], storage: dict[str, Any]) -> tuple[Any, str | None]:
    """Every problem that would make the sweep fail remotely, found before anything runs,
    cheapest first. Returns the started executor for the launch (None for a dry run) and, in
    deployed mode, the code version of the deployed app, which computes the runs (None when it
    is this checkout's: an ephemeral app is built from it)."""
    remote = options.get("executor", "modal") == "modal" and not options.get("dry_run")
    if remote and not _logged_in():
        raise LaunchRefused(
            "not logged in to Modal. Run `modal token new` (or set "
            "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET), then run the sweep again."
        )
    if options.get("dry_run"):
        return None, None
    if storage.get("backend") == "supabase":
        _check_local_supabase()  # this process writes the job row: its key first, and cheaply
    executor = _start(options)
    version = None
    try:
        if storage.get("backend") == "supabase" or options["mode"] == "deployed":
            report = _check_remote(executor, options, storage)
            if options["mode"] == "deployed":
                version = report.get("code_version")
    except BaseException:
        executor.close()
        raise
    return executor, version


def _check_remote(
    executor: Any, options: dict[str, Any], storage: dict[str, Any]
) -> dict[str, Any]:
    """The health report, once every check of it has passed."""
    try:
        report = executor.health()
    except Exception as err:
        raise LaunchRefused(
            f"the Modal health check failed: {modal_failure(err, options)}"
        ) from None
    if options["mode"] == "deployed" and not options.get("allow_version_mismatch"):
        from bilancio.sweep.records import code_version

        here = code_version()
        if report.get("code_version") != here:
            raise LaunchRefused(
                f"the deployed app runs bilancio {report.get('code_version')}, this checkout is "
                f"{here}. Redeploy (`uv run modal deploy bilancio/cloud/modal_app.py`) or set "
                "hydra.launcher.allow_version_mismatch=true."
            )
    if storage.get("backend") != "supabase":
        return report  # results come back and are written here
    keys = set(report.get("secret_keys_present", []))
    if "BILANCIO_SUPABASE_URL" not in keys or not keys & {
        "BILANCIO_SUPABASE_SERVICE_KEY",
        "BILANCIO_SUPABASE_ANON_KEY",
    }:
        raise LaunchRefused(
            "the Modal secret `supabase` lacks BILANCIO_SUPABASE_URL or a key. Create it with "
            "`modal secret create supabase BILANCIO_SUPABASE_URL=... "
            "BILANCIO_SUPABASE_SERVICE_KEY=...`."
        )
    if report.get("key_refused"):
        raise LaunchRefused(
            f"{report['key_refused']}. Then create the secret again: `modal secret create "
            "supabase --force BILANCIO_SUPABASE_URL=... BILANCIO_SUPABASE_SERVICE_KEY=...`."
        )
    if report.get("problem"):
        raise LaunchRefused(f"the workers cannot reach Supabase: {report['problem']}")
    if not report.get("migrations_applied"):
        missing = ", ".join(report.get("migrations_missing") or []) or "unknown"
        raise LaunchRefused(
            f"the Supabase tables are missing or old (migrations not applied: {missing}). Run "
            "`bilancio db sql` and paste its output into the Supabase SQL editor (or `bilancio "
            "db migrate --url ...`)."
        )
    if not report.get("can_write"):
        raise LaunchRefused(
            "the key in the Modal secret `supabase` cannot write (it is the anon key?). Add "
            "BILANCIO_SUPABASE_SERVICE_KEY to the secret: `modal secret create supabase --force "
            "BILANCIO_SUPABASE_URL=... BILANCIO_SUPABASE_SERVICE_KEY=...`."
        )
    return report


def _check_local_supabase() -> None:
    """This shell's Supabase variables, before any Modal app starts: present, the key accepted,
    the tables there, and writing allowed (this process records the job)."""
    from bilancio.storage import StoreError
    from bilancio.storage.supabase import SupabaseStore

    try:
        store = SupabaseStore(write=True)
        found = store.probe()
    except StoreError as err:
        raise LaunchRefused(f"{err}.") from None
    if found["migrations_missing"]:
        missing = ", ".join(found["migrations_missing"])
        raise LaunchRefused(
            f"the Supabase tables are missing or old (migrations not applied: {missing}). Run "
            "`bilancio db sql` and paste its output into the Supabase SQL editor (or `bilancio "
            "db migrate --url ...`)."
        )
    if not found["can_write"]:
        raise LaunchRefused(
            f"the key in this shell's {store.key_variable} cannot write to the Supabase "
            "project (it is the anon or publishable key?): set it to the service_role or "
            "sb_secret_ key."
        )


# -- batches ------------------------------------------------------------------------------------


def _seconds_per_job(specs: list[JobSpec]) -> float:
    """A local timing of a few jobs (nothing is stored), the model's kernel loaded first."""
    from bilancio.model.kernel.loader import advance_fn

    advance_fn()
    start = time.perf_counter()
    for spec in specs:
        compute_job(spec)
    return (time.perf_counter() - start) / max(1, len(specs))


def batch_size(options: dict[str, Any], sample: list[JobSpec]) -> tuple[int, float]:
    per_job = _seconds_per_job(sample[:3]) if sample else 0.01
    return options.get("batch_size") or size_for(per_job), per_job


def size_for(per_job: float) -> int:
    """Jobs per batch for TARGET_BATCH_SECONDS of work at ``per_job`` seconds each."""
    return max(1, min(MAX_BATCH, int(TARGET_BATCH_SECONDS / max(per_job, 1e-4))))


def _batches(payloads: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(payloads)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def dry_run_report(options: dict[str, Any], specs: Iterable[JobSpec], count: int) -> str:
    sample = list(itertools.islice(specs, 3))
    size, per_job = batch_size(options, sample)
    batches = math.ceil(count / size) if count else 0
    seconds = per_job * count
    cost = seconds / 3600 * CORE_HOUR_USD
    return (
        f"dry run: {count} jobs in {batches} batches of up to {size} "
        f"(≈ {per_job * 1000:.1f} ms per job measured here); expected container time "
        f"{seconds:.0f} s, about ${cost:.4f} at ${CORE_HOUR_USD} per core-hour (memory and "
        f"start-up extra); at most {options['parallelism']} containers. Nothing was "
        "submitted."
    )


# -- launching ----------------------------------------------------------------------------------


def _save_batch(store: Any, result: list[dict[str, Any]]) -> None:
    """The rows of a whole batch in one write (one transaction for SQLite)."""
    from bilancio.rows import AgentOutcomeRow, MetricsRecord, RunRecord, TradeRow

    trades = [TradeRow(**t) for item in result for t in item.get("trades", ())]
    outcomes = [AgentOutcomeRow(**o) for item in result for o in item.get("agent_outcomes", ())]
    recorded = {"trades": trades, "outcomes": outcomes} if trades or outcomes else {}
    store.save_runs(
        [RunRecord(**r) for item in result for r in item["runs"]],
        [MetricsRecord(**m) for item in result for m in item["metrics"]],
        **recorded,
    )


def launch(
    options: dict[str, Any], specs: Iterable[JobSpec], count: int, executor: Any = None
) -> Iterator[JobOutcome]:
    """Every job's outcome; ``executor``: the one the preflight started (closed here)."""
    from bilancio.cloud.worker import payload
    from bilancio.sweep.job import store_for

    specs = iter(specs)
    sample = list(itertools.islice(specs, 3))
    if not sample:
        return
    size, _ = batch_size(options, sample)
    storage = sample[0].config["storage"]
    everyone = {spec.job_num for spec in sample}  # every job of the sweep, as it is reached
    returned: set[int] = set()

    def payloads() -> Iterator[dict[str, Any]]:
        for spec in itertools.chain(sample, specs):
            everyone.add(spec.job_num)
            yield payload(spec)

    errors: list[str] = []
    try:
        executor = executor if executor is not None else make_executor(options)
    except Exception as err:  # no preflight ran (a direct caller): every job fails, said why
        errors.append(modal_failure(err, options))
        executor = None
    try:
        for result in executor.map(_batches(payloads(), size)) if executor else ():
            if isinstance(result, BaseException):
                errors.append(modal_failure(result, options))
                continue
            if result and "runs" in result[0]:  # a local store: the rows came back
                _save_batch(store_for(storage), result)
            for item in result:
                outcome = JobOutcome(**item["outcome"])
                if "runs" in item:
                    outcome = JobOutcome(**{**item["outcome"], "saved": True})
                returned.add(outcome.job_num)
                yield outcome
    except Exception as err:  # the stream itself broke (e.g. an undecodable exception)
        errors.append(modal_failure(err, options))
    finally:
        if executor is not None:
            executor.close()
    everyone.update(spec.job_num for spec in specs)  # never submitted once the stream broke
    reason = " / ".join(dict.fromkeys(errors[:3])) or "no result came back"
    for num in sorted(everyone - returned):  # lost, timed out or never sent: failed, sweep goes on
        yield JobOutcome(num, "failed", f"batch failed on Modal: {reason}", False)
