"""The liquidity frontier (issue 14 item 4, item 6): real sweeps with
``hydra.sweeper.design=frontier``, their answers confirmed by a bar independent of the sweeper
(direct ``simulate_pair`` calls at κ* and at κ* − (high − low)/2^iterations), resumed after a
real SIGINT, through a generic Hydra launcher, and refused when a setting cannot be searched."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
from pathlib import Path

import pytest

from .sweep_helpers import SCRIPT, bilancio, rows, whole_config

LOW, HIGH, TARGET, ITERATIONS = 0.25, 8.0, 0.1, 5
SEARCH = [
    "hydra.sweeper.design=frontier",
    f"hydra.sweeper.frontier.low={LOW}",
    f"hydra.sweeper.frontier.high={HIGH}",
    f"hydra.sweeper.frontier.target={TARGET}",
    f"hydra.sweeper.frontier.iterations={ITERATIONS}",
]
SWEEP = ["-m", "mu=0,1", "seed=1,2,3", "n_agents=40", "default_handling=expel-agent", *SEARCH]


def _frontier(db: Path, job_id: str) -> dict:
    (row,) = rows(db, "SELECT raw_summary FROM job_metrics WHERE job_id = ?", job_id)
    return json.loads(row["raw_summary"])["frontier"]


@pytest.fixture(scope="module")
def frontier_job(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("frontier")
    done = bilancio(*SWEEP, "job.id=fr", cwd=where)
    assert done.returncode == 0, done.stderr
    assert f"up to {6 * (2 + 2 * ITERATIONS)} pairs in {ITERATIONS + 1} rounds" in done.stderr
    return where


def _delta(base, mu: float, seed: int, kappa: float) -> dict[str, float]:
    from bilancio.model.simulate import simulate_pair

    pair = simulate_pair(dataclasses.replace(base, mu=mu, seed=seed, kappa=kappa))
    return {"passive": pair.passive.delta_total, "active": pair.active.delta_total}


def test_the_crossings_are_confirmed_by_direct_simulation(frontier_job) -> None:
    from bilancio.config import params_from_config

    db = frontier_job / "bilancio.db"
    found = _frontier(db, "fr")
    (run,) = rows(db, "SELECT config FROM runs WHERE job_num = 0 AND regime = 'passive'")
    base = params_from_config(whole_config(db, run["config"]))
    width = (HIGH - LOW) / 2**ITERATIONS
    assert found["resolution"] == pytest.approx(width)
    assert len(found["cells"]) == 6  # μ × seeds: every seed is a cell of its own
    statuses = []
    for cell in found["cells"]:
        mu, seed = cell["values"]["mu"], cell["values"]["seed"]
        assert cell["finished"]
        for regime in ("passive", "active"):
            answer = cell[regime]
            statuses.append(answer["status"])
            if answer["status"] == "reached":
                kappa = answer["value"]
                assert _delta(base, mu, seed, kappa)[regime] <= TARGET
                assert _delta(base, mu, seed, kappa - width)[regime] > TARGET, (cell, regime)
            elif answer["status"] == "not reached":
                assert answer["value"] is None
                assert _delta(base, mu, seed, HIGH)[regime] > TARGET
            else:
                assert answer["status"] == "at low" and answer["value"] == LOW
                assert _delta(base, mu, seed, LOW)[regime] <= TARGET
        p, a = cell["passive"], cell["active"]
        both = p["status"] == a["status"] == "reached"
        assert cell["saved"] == (pytest.approx(p["value"] - a["value"]) if both else None)
    assert statuses.count("reached") >= 8
    # the market matters only when claims mature at different times (μ = 1)
    saved = {g["values"]["mu"]: g["saved"] for g in found["groups"]}
    assert saved[0.0]["mean"] == 0 and saved[1.0]["n"] >= 2 and saved[1.0]["mean"] > 0


def test_every_evaluation_is_an_ordinary_pair(frontier_job) -> None:
    db = frontier_job / "bilancio.db"
    found = _frontier(db, "fr")
    runs = rows(db, "SELECT job_num, regime, kappa, mu, seed, status FROM runs")
    assert len(runs) == 2 * sum(c["evaluations"] for c in found["cells"])
    assert all(r["status"] == "completed" for r in runs)
    pairs = {(r["mu"], r["seed"], r["kappa"]) for r in runs}
    assert len(pairs) == len(runs) // 2  # no value of a cell run twice
    nums = sorted({r["job_num"] for r in runs})
    assert nums == list(range(len(nums)))  # numbered on, round after round
    (job,) = rows(db, "SELECT total_runs, completed_runs FROM jobs")
    assert job["total_runs"] == job["completed_runs"] == len(runs)
    events = rows(db, "SELECT details FROM job_events WHERE event_type = 'round'")
    assert [json.loads(e["details"])["round"] for e in events] == list(range(ITERATIONS + 1))
    rerun = bilancio("rerun", "fr", cwd=frontier_job)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(runs)}/{len(runs)} runs identical" in rerun.stdout


def test_the_answers_are_shown_exported_and_drawn(frontier_job) -> None:
    found = _frontier(frontier_job / "bilancio.db", "fr")
    shown = bilancio("jobs", "show", "fr", cwd=frontier_job)
    assert shown.returncode == 0, shown.stderr
    assert "frontier: the smallest kappa in [0.25, 8] where delta ≤ 0.1" in shown.stdout
    group = next(g for g in found["groups"] if g["values"]["mu"] == 1.0)
    saved = group["saved"]
    assert f"{saved['mean']:.3f} [{saved['ci95_low']:.3f}, {saved['ci95_high']:.3f}]" in (
        shown.stdout
    )
    exported = bilancio("jobs", "export", "fr", "--frontier", "-o", "-", cwd=frontier_job)
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert lines[0] == (
        "mu,seed,status_passive,value_passive,status_active,value_active,saved,rounds,"
        "evaluations,finished"
    )
    assert len(lines) == 1 + 6
    from bilancio.analysis import report

    from .sweep_helpers import report_inputs

    job, cells, pairs = report_inputs(frontier_job / "bilancio.db", "fr")
    (built,) = report.build(cells, pairs, job)  # the frontier's figure, not the grid's
    module, fig = built
    assert module.NAME == "frontier"
    saved_trace = next(t for t in fig.data if t.name == "saved")
    means = {g["values"]["mu"]: g["saved"]["mean"] for g in found["groups"]}
    assert dict(zip(saved_trace.x, saved_trace.y, strict=True)) == means


def test_not_reached_is_a_status_never_a_number(tmp_path) -> None:
    done = bilancio(
        "-m", "seed=1,2", "n_agents=20", "hydra.sweeper.design=frontier",
        "hydra.sweeper.frontier.low=0.1", "hydra.sweeper.frontier.high=0.3",
        "hydra.sweeper.frontier.target=0.001", "job.id=far", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2/2 not reached" in done.stdout
    found = _frontier(tmp_path / "bilancio.db", "far")
    assert all(
        c[r]["status"] == "not reached" for c in found["cells"] for r in ("passive", "active")
    )
    assert all(
        c[r]["value"] is None and c["saved"] is None
        for c in found["cells"]
        for r in ("passive", "active")
    )
    assert len(rows(tmp_path / "bilancio.db", "SELECT 1 FROM runs")) == 2 * 2 * 2  # ends only
    exported = bilancio("jobs", "export", "far", "--frontier", "-o", "-", cwd=tmp_path)
    assert exported.stdout.splitlines()[1] == "1,not reached,,not reached,,,1,2,true"


def test_a_frontier_continues_from_its_last_finished_round(tmp_path) -> None:
    args = ["-m", "mu=1", "seed=1,2,3,4", "n_agents=400", "default_handling=expel-agent", *SEARCH]
    proc = subprocess.Popen(
        [str(SCRIPT), *args, "job.id=cut"], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    said = []
    for line in proc.stderr:
        said.append(line)
        if "round 2 of" in line:
            proc.send_signal(signal.SIGINT)
            break
    proc.stderr.read()
    assert proc.wait(timeout=60) == 130, "".join(said)
    db = tmp_path / "bilancio.db"
    before = len(rows(db, "SELECT 1 FROM runs WHERE status = 'completed'"))
    resumed = bilancio(*args, "job.id=cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "round 0 of" not in resumed.stderr and "round 1 of" not in resumed.stderr
    whole = bilancio(*args, "job.id=whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    cut, uncut = _frontier(db, "cut"), _frontier(db, "whole")
    assert cut["cells"] == uncut["cells"] and cut["groups"] == uncut["groups"]
    after = rows(db, "SELECT COUNT(*) AS n FROM runs WHERE job_id = 'cut'")[0]["n"]
    assert after == 2 * sum(c["evaluations"] for c in uncut["cells"]) > before
    # another target is another search: refused, nothing written
    other = bilancio(*args, "hydra.sweeper.frontier.target=0.05", "job.id=cut", cwd=tmp_path)
    assert other.returncode == 2 and "other design settings" in other.stderr, other.stderr
    assert rows(db, "SELECT COUNT(*) AS n FROM runs WHERE job_id = 'cut'")[0]["n"] == after


def test_a_frontier_through_a_generic_hydra_launcher(frontier_job, tmp_path) -> None:
    done = bilancio(*SWEEP, "hydra/launcher=joblib", "job.id=fr", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Hydra job(s) of up to") == ITERATIONS + 1  # a batch per round
    ours, basic = (
        _frontier(tmp_path / "bilancio.db", "fr"),
        _frontier(frontier_job / "bilancio.db", "fr"),
    )
    assert ours["cells"] == basic["cells"]
    (folder,) = (tmp_path / "multirun").glob("*/*/batches")
    # one batch file per batch, none written over by a later round: together they hold every
    # stored pair once
    batched = [spec["job_num"] for f in folder.glob("*.json") for spec in json.loads(f.read_text())]
    stored = {r["job_num"] for r in rows(tmp_path / "bilancio.db", "SELECT job_num FROM runs")}
    assert sorted(batched) == sorted(stored)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hydra.sweeper.frontier.param=seed"], "invalid hydra.sweeper.frontier.param='seed'"),
        (
            ["hydra.sweeper.frontier.low=5", "hydra.sweeper.frontier.high=1"],
            "invalid hydra.sweeper.frontier.low=5.0 with high=1.0: allowed low < high",
        ),
        (["hydra.sweeper.frontier.iterations=0"], "allowed an integer from 1 to 40"),
        (
            [
                "hydra.sweeper.frontier.param=mu",
                "hydra.sweeper.frontier.low=0",
                "hydra.sweeper.frontier.high=2",
            ],
            "hydra.sweeper.frontier.high=2.0 is not a value of mu: invalid mu=2.0: allowed a "
            "number in [0, 1]",
        ),
        (["hydra.sweeper.frontier.target=nan"], "allowed a finite number"),
        (["hydra.sweeper.frontier.target=1.5"], "allowed a default rate in [0, 1)"),
        (["hydra.sweeper.frontier.target=-0.1"], "allowed a default rate in [0, 1)"),
        (["hydra.sweeper.frontier.metric=phi"], "allowed 'delta', 'delta_ring'"),
        (["kappa=0.5,1"], "hydra.sweeper.design=frontier searches kappa itself"),
        (["mu=interval(0,1)"], "a continuous range is for hydra.sweeper.design=lhs"),
        (["hydra.sweeper.samples=4"], "hydra.sweeper.samples=4 needs a sampled design"),
        (["hydra.sweeper.max_pairs=10", "seed=1,2"], "the sweep has up to 28 pairs"),
    ],
)
def test_bad_frontier_settings_are_refused_before_anything_runs(tmp_path, args, message) -> None:
    done = bilancio("-m", "hydra.sweeper.design=frontier", "n_agents=12", *args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "bilancio.db").exists()


def test_the_frontier_experiment_runs_at_a_tiny_size(tmp_path) -> None:
    done = bilancio(
        "+experiments=liquidity_frontier", "mu=0,1", "seed=1", "n_agents=20",
        "hydra.sweeper.frontier.iterations=2", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "frontier: the smallest kappa in [0.25, 8] where delta ≤ 0.1" in done.stdout
    assert "up to 12 pairs in 3 rounds" in done.stderr  # 2 cells × (2 + 2·2)
    found = _frontier(tmp_path / "bilancio.db", next(iter(_job_ids(tmp_path))))
    assert [c["values"] for c in found["cells"]] == [{"mu": 0.0}, {"mu": 1.0}]


def _job_ids(where: Path) -> list[str]:
    return [r["job_id"] for r in rows(where / "bilancio.db", "SELECT job_id FROM jobs")]


def test_a_frontier_through_the_modal_launcher(frontier_job, in_process, capsys, tmp_path) -> None:
    """The real Modal function definitions, run here by the serialising executor (every batch
    and result through Modal's serializer, results out of order): one launch per round, each
    starting its executor, and the same answers as the basic launcher's."""
    code = in_process(*SWEEP, "+cloud=modal", "hydra.launcher.executor=serialising",
                      "storage=sqlite", "job.id=fr")  # fmt: skip
    said = capsys.readouterr()
    assert code == 0, said.err
    assert said.err.count("bilancio: round ") == ITERATIONS + 1
    ours = _frontier(tmp_path / "bilancio.db", "fr")
    assert ours["cells"] == _frontier(frontier_job / "bilancio.db", "fr")["cells"]


def test_a_frontier_of_delta_ring(tmp_path) -> None:
    from bilancio.config import params_from_config
    from bilancio.model.simulate import simulate_pair

    done = bilancio(
        "-m", "mu=1", "seed=1,2", "n_agents=30", "default_handling=expel-agent",
        "hydra.sweeper.design=frontier", "hydra.sweeper.frontier.metric=delta_ring",
        "hydra.sweeper.frontier.low=0.25", "hydra.sweeper.frontier.high=8",
        "hydra.sweeper.frontier.target=0.1", "hydra.sweeper.frontier.iterations=3",
        "job.id=ring", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    db = tmp_path / "bilancio.db"
    found = _frontier(db, "ring")
    assert found["settings"]["metric"] == "delta_ring"
    (run,) = rows(db, "SELECT config FROM runs WHERE job_num = 0 AND regime = 'passive'")
    base = params_from_config(whole_config(db, run["config"]))
    width = (8 - 0.25) / 2**3
    checked = 0
    for cell in found["cells"]:
        for regime in ("passive", "active"):
            if cell[regime]["status"] != "reached":
                continue
            kappa = cell[regime]["value"]
            at = simulate_pair(dataclasses.replace(base, seed=cell["values"]["seed"], kappa=kappa))
            below = simulate_pair(
                dataclasses.replace(base, seed=cell["values"]["seed"], kappa=kappa - width)
            )
            assert getattr(at, regime).delta_ring <= 0.1 < getattr(below, regime).delta_ring
            checked += 1
    assert checked >= 2


def test_skip_completed_reuses_every_round_of_an_earlier_frontier(frontier_job, tmp_path) -> None:
    import shutil

    shutil.copy(frontier_job / "bilancio.db", tmp_path / "bilancio.db")
    done = bilancio(*SWEEP, "job.id=again", "job.skip_completed=true", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pairs of round" not in done.stderr  # nothing run: every round's pairs were copied
    db = tmp_path / "bilancio.db"
    (job,) = rows(db, "SELECT total_runs, reused_runs FROM jobs WHERE job_id = 'again'")
    assert (
        job["reused_runs"]
        == job["total_runs"]
        == len(rows(db, "SELECT 1 FROM runs WHERE job_id = 'fr'"))
    )
    assert _frontier(db, "again")["cells"] == _frontier(db, "fr")["cells"]


RING = [
    "-m", "mu=1", "seed=1,2", "n_agents=20", "default_handling=expel-agent",
    "hydra.sweeper.design=frontier", "hydra.sweeper.frontier.metric=delta_ring",
    "hydra.sweeper.frontier.high=8", "hydra.sweeper.frontier.target=0.1",
    "hydra.sweeper.frontier.iterations=3", "job.id=served",
]  # fmt: skip


def _served_like_sqlite(storage: str, tmp_path: Path, env: dict[str, str]) -> None:
    """A frontier that reads every round back from a server finds what SQLite finds."""
    import os

    from bilancio.storage import open_store

    served = subprocess.run(
        [str(SCRIPT), *RING, f"storage={storage}"], cwd=tmp_path, capture_output=True,
        text=True, env={**os.environ, **env}, timeout=300,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    lite = bilancio(*RING, cwd=tmp_path)
    assert lite.returncode == 0, lite.stderr
    settings = {"backend": storage, **({"url": env["BILANCIO_DATABASE_URL"]} if env else {})}
    store = open_store(settings)
    try:
        stored = store.get_job("served")["job_metrics"]["raw_summary"]["frontier"]
    finally:
        store.close()
    assert stored == _frontier(tmp_path / "bilancio.db", "served")
    assert any(c["passive"]["status"] == "reached" for c in stored["cells"])


def test_a_frontier_on_postgresql(migrated_url, tmp_path) -> None:
    _served_like_sqlite("postgres", tmp_path, {"BILANCIO_DATABASE_URL": migrated_url})


def test_a_frontier_on_supabase(supabase_env, tmp_path) -> None:
    _served_like_sqlite("supabase", tmp_path, {})


def test_the_results_api_gives_the_frontier_as_a_frame(frontier_job) -> None:
    from bilancio import results

    db = frontier_job / "bilancio.db"
    frame = results.frontier("fr", storage=db)
    found = _frontier(db, "fr")
    assert len(frame) == 6 and frame.attrs["settings"]["target"] == TARGET
    assert frame.attrs["groups"] == found["groups"]
    for row, cell in zip(frame.to_dict("records"), found["cells"], strict=True):
        assert (row["mu"], row["seed"]) == (cell["values"]["mu"], cell["values"]["seed"])
        assert row["status_active"] == cell["active"]["status"]
    reached = frame[frame.status_passive == "reached"]
    assert (reached.value_passive >= LOW).all() and (reached.value_passive <= HIGH).all()
    grid = bilancio("-m", "kappa=1", "n_agents=12", "job.id=plain", cwd=frontier_job)
    assert grid.returncode == 0, grid.stderr
    with pytest.raises(ValueError, match="job plain is not a frontier search"):
        results.frontier("plain", storage=db)


def test_the_defaults_are_bilancio_01s_search(tmp_path) -> None:
    # README: param kappa in [0.1, 4.0], target 0.02, 6 iterations (7 rounds), metric delta
    done = bilancio("-m", "hydra.sweeper.design=frontier", "n_agents=12", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    said = "the frontier of kappa in [0.1, 4] where delta ≤ 0.02, for 1 cell: up to 14 pairs"
    assert f"{said} in 7 rounds" in done.stderr


def test_an_answer_at_low_is_a_bound_never_averaged(tmp_path) -> None:
    done = bilancio(
        "-m", "mu=0", "seed=1,2,3", "n_agents=30", "default_handling=expel-agent",
        "hydra.sweeper.design=frontier", "hydra.sweeper.frontier.low=6",
        "hydra.sweeper.frontier.high=9", "hydra.sweeper.frontier.target=0.1",
        "hydra.sweeper.frontier.iterations=2", "job.id=low", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = _frontier(tmp_path / "bilancio.db", "low")
    at_low = [c for c in found["cells"] if c["passive"]["status"] == "at low"]
    assert at_low, found["cells"]  # δ ≤ 0.1 already at κ = 6
    assert all(c["passive"]["value"] == 6 and c["saved"] is None for c in at_low)
    (group,) = found["groups"]
    reached = [c for c in found["cells"] if c["passive"]["status"] == "reached"]
    assert group["passive"]["at_low"] == len(at_low)
    assert group["passive"]["n"] == len(reached)
    assert "at low" in done.stdout


def test_a_frontier_resumes_only_as_the_same_sweep(frontier_job, tmp_path) -> None:
    import shutil

    shutil.copy(frontier_job / "bilancio.db", tmp_path / "bilancio.db")
    fewer = [a if a != "seed=1,2,3" else "seed=1,2" for a in SWEEP]  # the first cells only
    refused = bilancio(*fewer, "job.id=fr", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "A frontier resumes only as the same sweep" in refused.stderr
    other = bilancio(*SWEEP, "hydra.sweeper.frontier.iterations=4", "job.id=fr", cwd=tmp_path)
    assert other.returncode == 2
    assert "hydra.sweeper.frontier.iterations: 5 then, 4 now" in other.stderr
    failed_only = bilancio("rerun", "fr", "--failed-only", cwd=tmp_path)
    assert failed_only.returncode == 2 and "Resume it instead" in failed_only.stderr
    (job,) = rows(tmp_path / "bilancio.db", "SELECT status FROM jobs WHERE job_id = 'fr'")
    assert job["status"] == "completed"


def test_a_frontier_with_failed_pairs_is_resumed_from_them(frontier_job, tmp_path) -> None:
    from .test_other_sweepers import run

    first_mid = (LOW + HIGH) / 2  # round 1 of every cell whose search is open
    failed = run(*SWEEP, "job.id=fr", cwd=tmp_path, BILANCIO_TEST_FAIL_AT_KAPPA=str(first_mid))
    assert failed.returncode == 1, failed.stderr
    found = _frontier(tmp_path / "bilancio.db", "fr")
    assert any(c["passive"]["status"] == "failed" for c in found["cells"])
    resumed = run(*SWEEP, "job.id=fr", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "round 0 of" not in resumed.stderr  # round 0 was complete: it starts at the failures
    ours = _frontier(tmp_path / "bilancio.db", "fr")
    assert ours["cells"] == _frontier(frontier_job / "bilancio.db", "fr")["cells"]
