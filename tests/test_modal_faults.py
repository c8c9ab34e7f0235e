"""Modal-side failures (issue 12, items 3 and 8): each is one paragraph, never a traceback;
exit 2 before the launch (nothing written), exit 1 after (failed rows, job_metrics); no job
is left ``running`` without a note.

No network reaches Modal from here. Two seams stand in for it, each a small real piece:

* ``hydra.launcher.executor=serialising`` runs the real functions locally, sends every batch,
  result and exception through Modal's own serializer and returns results out of order; its
  ``faults`` yield what Modal's ``map(..., return_exceptions=True)`` yields for an input that
  timed out (``FunctionTimeoutError``) or whose container was lost (``InternalFailure``), the
  exception types Modal's client makes from those results (modal/_utils/function_utils.py,
  ``_process_result``).
* ``ModalExecutor._begin`` — the step where Modal's client starts the app (token check, secret
  lookup, image build) or looks up the deployed functions — raises the real exception that
  Modal's client raises for each failure; everything around it is the real executor.
"""

from __future__ import annotations

import json

import pytest
from modal.exception import (
    AuthError,
    FunctionTimeoutError,
    ImageBuildError,
    InternalFailure,
    NotFoundError,
)

from bilancio.cloud import worker
from bilancio.storage import open_store
from hydra_plugins.bilancio_modal_launcher import _core

from .sweep_helpers import rows

SERIALISING = ["+cloud=modal", "hydra.launcher.executor=serialising"]
GRID = ["-m", "kappa=0.25,0.5,1,2", "n_agents=20", "hydra.launcher.batch_size=1"]


@pytest.fixture
def faults(monkeypatch):
    def inject(**by_batch: BaseException) -> None:
        monkeypatch.setattr(
            _core.SerialisingExecutor, "faults", {int(k[1:]): v for k, v in by_batch.items()}
        )

    return inject


def _expected_deltas(in_process, capsys, tmp_path) -> dict[int, tuple[float, float]]:
    """The same grid with the plain local executor, for comparison."""
    assert in_process(*GRID, "+cloud=modal", "hydra.launcher.executor=local",
                      "storage=sqlite", "storage.path=plain.db") == 0  # fmt: skip
    capsys.readouterr()
    return _deltas(tmp_path / "plain.db")


def _deltas(db) -> dict[int, tuple[float, float]]:
    found = rows(
        db,
        "SELECT r.job_num, r.regime, m.delta_total FROM runs r JOIN metrics m USING (run_id) "
        "WHERE r.status = 'completed' ORDER BY r.job_num, r.regime",
    )
    out: dict[int, dict[str, float]] = {}
    for r in found:
        out.setdefault(r["job_num"], {})[r["regime"]] = r["delta_total"]
    return {k: (v["passive"], v["active"]) for k, v in out.items()}


def test_serialised_out_of_order_results_are_the_local_results(
    in_process, capsys, tmp_path, monkeypatch
) -> None:
    expected = _expected_deltas(in_process, capsys, tmp_path)
    order = []
    real = _core.SerialisingExecutor.map

    def watched(self, batches):
        for result in real(self, batches):
            order.append(result[0]["outcome"]["job_num"])
            yield result

    monkeypatch.setattr(_core.SerialisingExecutor, "map", watched)
    monkeypatch.setattr(_core.SerialisingExecutor, "seed", 3)
    assert in_process(*GRID, *SERIALISING, "storage=sqlite") == 0
    assert sorted(order) == [0, 1, 2, 3] and order != [0, 1, 2, 3]  # out of order
    assert _deltas(tmp_path / "bilancio.db") == expected


@pytest.mark.parametrize("storage", ["sqlite", "supabase"])
def test_a_timed_out_batch_and_a_lost_container_fail_their_jobs(
    request, in_process, capsys, tmp_path, faults, storage
) -> None:
    if storage == "supabase":
        request.getfixturevalue("supabase_env")
    faults(
        b1=FunctionTimeoutError("Function timed out after 600 s"),
        b2=InternalFailure("The container running this input was lost"),
    )
    code = in_process(*GRID, *SERIALISING, f"storage={storage}", "job.id=faults")
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err + captured.out
    store = open_store(
        {"backend": "sqlite", "path": str(tmp_path / "bilancio.db")}
        if storage == "sqlite"
        else {"backend": "supabase"}
    )
    job = store.get_job("faults")
    assert job["status"] == "failed" and job["error"]  # not left running, with a note
    runs = {(r["job_num"], r["regime"]): r for r in store.job_runs("faults")}
    assert {num for (num, _), r in runs.items() if r["status"] == "failed"} == {1, 2}
    assert "hydra.launcher.timeout=600" in runs[(1, "passive")]["error"]
    assert "lost the container" in runs[(2, "passive")]["error"]
    assert all(runs[(n, g)]["status"] == "completed" for n in (0, 3) for g in ("passive", "active"))
    assert job["job_metrics"]["n_pairs"] == 2
    assert "FAILED" in captured.out


STARTS = {
    "bad token": (
        AuthError("Token ID is invalid"),
        ["Modal refused the token", "modal token new"],
    ),
    "missing secret": (
        NotFoundError("Secret 'supabase' not found in environment 'main'"),
        ["secret `supabase` does not exist", "modal secret create supabase"],
    ),
    "image build": (
        ImageBuildError(  # modal/_image.py, as the client raises it
            "Image build for im-0123 failed.\nView the build logs:\n  modal image logs im-0123",
            "im-0123",
        ),
        ["image failed to build", "modal image logs im-0123", "uv.lock"],
    ),
    "no network": (
        ConnectionError("Deadline exceeded"),
        ["cannot reach Modal", "network"],
    ),
    "not deployed": (
        NotFoundError("Lookup failed for Function 'run_simulation' from the 'bilancio' app"),
        ["no deployed app 'bilancio'", "modal deploy"],
    ),
}


@pytest.mark.parametrize("failure", list(STARTS))
@pytest.mark.parametrize("storage", ["sqlite", "supabase"])
def test_a_failure_starting_the_app_is_one_paragraph_and_exit_2(
    request, in_process, capsys, tmp_path, monkeypatch, failure, storage
) -> None:
    if storage == "supabase":
        supabase = request.getfixturevalue("supabase_env")
        before = len(supabase.requests)
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-TOKENSECRET-test")
    error, words = STARTS[failure]

    def begin(self, modal):
        raise error

    monkeypatch.setattr(_core.ModalExecutor, "_begin", begin)
    code = in_process("-m", "kappa=0.5,1", "+cloud=modal", f"storage={storage}")
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1  # one paragraph
    assert all(w in err for w in words), err
    assert "TOKENSECRET" not in err
    if storage == "sqlite":
        assert not (tmp_path / "bilancio.db").exists()  # nothing was written
    else:
        posts = [m for m, _ in supabase.requests[before:] if m in ("POST", "PATCH")]
        assert posts == [] or set(posts) == {"POST"}  # at most the health probe's refused insert
        assert open_store({"backend": "supabase"}).list_jobs() == []


def test_ctrl_c_during_a_modal_launch_marks_the_job(in_process, capsys, tmp_path, monkeypatch):
    calls = []
    real = worker.run_batch

    def interrupted(payloads):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(payloads)

    monkeypatch.setattr(worker, "run_batch", interrupted)
    code = in_process(*GRID, "+cloud=modal", "hydra.launcher.executor=local", "storage=sqlite")
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    (job,) = rows(tmp_path / "bilancio.db", "SELECT status, error FROM jobs")
    assert job["status"] == "failed" and "interrupted" in job["error"]


def test_the_serializer_round_trip_is_modals() -> None:
    """The seam is the real serializer: what it returns is a copy, not the object itself."""
    from modal._serialization import deserialize, serialize

    batch = [{"job_id": "x", "job_num": 0, "config": {"kappa": 0.5}, "overrides": []}]
    copy = deserialize(serialize(batch), None)
    assert copy == batch and copy is not batch
    error = deserialize(serialize(ValueError("raised in a container")), None)
    assert isinstance(error, ValueError) and str(error) == "raised in a container"
    assert json.loads(json.dumps(copy)) == batch


def test_the_runbook_quotes_the_messages_the_code_gives() -> None:
    """docs/cloud.md's tables of failure messages quote real messages (backticks aside)."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    source = " ".join(
        p.read_text() for d in ("bilancio", "hydra_plugins") for p in (repo / d).rglob("*.py")
    )
    source = re.sub(r'"\s*\n\s*f?"', "", source).replace("`", "")  # joined string literals
    wheres = ("this shell's", "the Modal secret supabase's")  # the values of {where}
    runbook = (repo / "docs" / "cloud.md").read_text()
    section = runbook[runbook.index("## When something goes wrong") :]
    quoted = [m.group(1) for m in re.finditer(r"^\| `([^`]+)`", section, flags=re.MULTILINE)]
    assert len(quoted) >= 15
    for message in quoted:
        for where in wheres:  # a message made with {where}: either value
            message = message.replace(where, "…")
        for alternative in message.split(" / "):
            pattern = r".{1,60}?".join(re.escape(part) for part in alternative.split("…"))
            assert re.search(pattern, source), f"docs/cloud.md quotes {alternative!r}"
