"""One storage test suite, run against every store (real SQLite files, a real PostgreSQL)."""

from __future__ import annotations

import sqlite3

import pytest

from bilancio.rows import (
    AgentOutcomeRow,
    JobRecord,
    MetricsRecord,
    RunRecord,
    TradeRow,
    as_row,
    outcome_id,
    run_id,
    trade_id,
)
from bilancio.storage import JobNotFound, open_store
from bilancio.storage.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", "postgres", "supabase"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = open_store({"backend": "sqlite", "path": str(tmp_path / "s.db")})
    elif request.param == "postgres":
        url = request.getfixturevalue("migrated_url")
        s = open_store({"backend": "postgres", "url": url})
    else:
        request.getfixturevalue("supabase_env")
        s = open_store({"backend": "supabase"})
    yield s
    s.close()


def _job(job_id: str = "job-1", **changes) -> JobRecord:
    fields = dict(
        job_id=job_id,
        sweep_type="balanced",
        n_agents=50,
        maturity_days=10,
        kappas=[0.5, 1.0],
        concentrations=[1.0],
        mus=[0.5],
        outside_mid_ratios=[1.0],
        seeds=[42],
        total_runs=4,
        overrides=["kappa=0.5,1.0"],
        config={"n_agents": 50, "market": {"horizon": 10}},
        code_version="0.2.0",
    )
    fields.update(changes)
    return JobRecord(**fields)


def _run(job_id: str, num: int, regime: str, status: str = "completed", **changes) -> RunRecord:
    fields = dict(
        run_id=run_id(job_id, num, regime),
        job_id=job_id,
        job_num=num,
        regime=regime,
        status=status,
        kappa=0.5 + num,
        concentration=1.0,
        mu=0.5,
        outside_mid_ratio=1.0,
        seed=42,
        config={"kappa": 0.5 + num},
        config_hash=f"h{num}",
        execution_time_ms=3,
        error=None if status == "completed" else "boom",
    )
    fields.update(changes)
    return RunRecord(**fields)


def _metrics(job_id: str, num: int, regime: str, delta: float) -> MetricsRecord:
    return MetricsRecord(
        run_id=run_id(job_id, num, regime),
        job_id=job_id,
        delta_total=delta,
        phi_total=1 - delta,
        n_defaults=2,
        n_clears=7,
        time_to_stability=9,
        trading_effect=0.1,
        total_trades=3 if regime == "active" else None,
        total_trade_volume=12.5 if regime == "active" else None,
        raw_metrics={"delta_total": delta, "nested": {"a": [1, 2]}},
    )


def _save_pair(store, job_id: str, num: int, dp: float, da: float) -> None:
    store.save_runs(
        [_run(job_id, num, "passive"), _run(job_id, num, "active")],
        [_metrics(job_id, num, "passive", dp), _metrics(job_id, num, "active", da)],
    )


def test_job_lifecycle(store) -> None:
    assert store.create_job(_job()) is True
    store.add_event("job-1", "created", {"jobs": 2})
    _save_pair(store, "job-1", 0, 0.5, 0.25)
    store.save_runs(
        [_run("job-1", 1, "passive", "failed"), _run("job-1", 1, "active", "failed")], []
    )
    assert store.finish_job("job-1", "failed", "1 of 2 jobs failed") == {
        "completed": 2,
        "failed": 2,
    }
    job = store.get_job("job-1")
    assert (job["status"], job["completed_runs"], job["failed_runs"], job["total_runs"]) == (
        "failed",
        2,
        2,
        4,
    )
    assert job["kappas"] == [0.5, 1.0] and job["seeds"] == [42]
    assert job["config"] == {"n_agents": 50, "market": {"horizon": 10}}
    assert job["overrides"] == ["kappa=0.5,1.0"]
    assert job["completed_at"] and job["error"] == "1 of 2 jobs failed"
    assert [e["event_type"] for e in job["events"]] == ["created"]
    assert job["events"][0]["details"] == {"jobs": 2}


def test_resume_marks_running_again(store) -> None:
    assert store.create_job(_job()) is True
    store.finish_job("job-1", "failed", "interrupted")
    assert store.create_job(_job(total_runs=6)) is False
    job = store.get_job("job-1")
    assert (job["status"], job["error"], job["total_runs"]) == ("running", None, 6)


def test_saving_twice_changes_nothing(store) -> None:
    store.create_job(_job())
    _save_pair(store, "job-1", 0, 0.5, 0.25)
    first = store.job_runs("job-1")
    _save_pair(store, "job-1", 0, 0.5, 0.25)
    again = store.job_runs("job-1")
    assert len(again) == 2
    assert [(r["run_id"], r["delta_total"], r["created_at"]) for r in again] == [
        (r["run_id"], r["delta_total"], r["created_at"]) for r in first
    ]


def test_runs_metrics_and_reads(store) -> None:
    store.create_job(_job())
    _save_pair(store, "job-1", 0, 0.5, 0.25)
    _save_pair(store, "job-1", 1, 0.75, 0.75)
    runs = store.job_runs("job-1")
    assert [(r["job_num"], r["regime"]) for r in runs] == [
        (0, "passive"),
        (0, "active"),
        (1, "passive"),
        (1, "active"),
    ]
    active = runs[1]
    assert active["delta_total"] == 0.25 and active["total_trades"] == 3
    assert active["total_trade_volume"] == 12.5 and active["kappa"] == 0.5
    assert active["raw_metrics"] == {"delta_total": 0.25, "nested": {"a": [1, 2]}}
    assert active["config"] == {"kappa": 0.5}
    assert len(store.job_runs("job-1", first_pairs=1)) == 2
    assert store.completed_runs("job-1") == {
        run_id("job-1", n, r): f"h{n}" for n in (0, 1) for r in ("passive", "active")
    }
    deltas = sorted(
        (d["job_num"], d["regime"], d["delta_total"]) for d in store.job_deltas("job-1")
    )
    assert deltas == [
        (0, "active", 0.25),
        (0, "passive", 0.5),
        (1, "active", 0.75),
        (1, "passive", 0.75),
    ]


def test_runs_read_a_part_at_a_time_are_the_runs_read_at_once(store, monkeypatch) -> None:
    """iter_job_runs (what the summaries read) gives job_runs' rows in job_runs' order, across
    several pages (made small here), with runs that have no job number (bilancio 0.1's)."""
    import bilancio.storage.postgres as postgres
    import bilancio.storage.sqlite as sqlite

    monkeypatch.setattr(sqlite, "PAGE_ROWS", 3)
    monkeypatch.setattr(postgres, "PAGE_PAIRS", 2)
    store.create_job(_job())
    for num in (0, 1, 2, 3, 4, 6):
        _save_pair(store, "job-1", num, 0.5, 0.25 + num / 100)
    store.save_runs(
        [_run("job-1", 99, r, job_num=None, config={"kappa": 3.0}) for r in ("passive",)],
        [],
    )
    store.create_job(_job("job-2"))
    _save_pair(store, "job-2", 0, 0.5, 0.5)  # another job's runs are not read
    whole = store.job_runs("job-1")
    assert len(whole) == 13
    assert list(store.iter_job_runs("job-1")) == whole
    assert list(store.iter_job_runs("nosuch")) == []


def test_job_metrics_upsert(store) -> None:
    store.create_job(_job())
    row = {
        "n_comparisons": 2,
        "n_pairs": 2,
        "mean_trading_effect": 0.125,
        "min_trading_effect": 0.0,
        "max_trading_effect": 0.25,
        "std_trading_effect": 0.17,
        "positive_effects": 1,
        "negative_effects": 0,
        "neutral_effects": 1,
        "mean_delta_passive": 0.6,
        "mean_delta_active": 0.5,
        "mean_phi_passive": 0.4,
        "mean_phi_active": 0.5,
        "raw_summary": {"failed_jobs": []},
    }
    store.save_job_metrics("job-1", row)
    store.save_job_metrics("job-1", {**row, "n_pairs": 3})
    jm = store.get_job("job-1")["job_metrics"]
    assert jm["n_pairs"] == 3 and jm["mean_trading_effect"] == 0.125
    assert jm["raw_summary"] == {"failed_jobs": []}
    assert store.list_jobs()[0]["mean_trading_effect"] == 0.125


def test_cell_metrics_written_read_and_upserted(store) -> None:
    """write_summaries reads the job's runs once and writes job_metrics and one cell_metrics
    row per cell; every store gives the rows back as the analysis made them."""
    from bilancio.analysis.summary import write_summaries

    store.create_job(_job())
    for num, seed, dp, da in ((0, 1, 0.5, 0.25), (1, 2, 0.5, 0.5), (2, 3, 0.75, 0.5)):
        config = {"kappa": 1.0 if num < 2 else 0.5, "seed": seed}
        runs = [_run("job-1", num, r, config=config, seed=seed) for r in ("passive", "active")]
        store.save_runs(
            runs,
            [_metrics("job-1", num, "passive", dp), _metrics("job-1", num, "active", da)],
        )
    assert store.job_cells("job-1") == []
    written = write_summaries(store, "job-1")
    assert written["row"]["n_pairs"] == 3
    again = write_summaries(store, "job-1")  # an upsert: still one row per cell
    cells = store.job_cells("job-1")
    assert [c["cell_id"] for c in cells] == [c["cell_id"] for c in again["cells"]]
    assert len(cells) == 2
    low, high = cells  # written in the order of their parameters
    assert (low["params"]["kappa"], high["params"]["kappa"]) == (0.5, 1.0)
    assert float(high["kappa"]) == 1.0 and high["seeds"] == [1, 2]
    assert high["n"] == 2 and high["mean_effect"] == 0.125
    assert high["ci95_low"] < 0.125 < high["ci95_high"]
    assert high["p_wilcoxon"] == 1.0 and high["p_ttest"] is not None
    assert low["n"] == 1 and low["sd_effect"] is None and low["mean_effect"] == 0.25
    for column, value in again["cells"][1].items():
        if isinstance(value, float):
            assert high[column] == value, column  # every digit survives the store
    assert store.job_cells("no-such-job") == []
    assert store.get_job("job-1")["job_metrics"]["n_pairs"] == 3


def test_list_jobs_newest_first_and_unknown_job(store) -> None:
    store.create_job(_job("a", created_at="2026-01-01T00:00:00.000Z"))
    store.create_job(_job("b", created_at="2026-02-01T00:00:00.000Z"))
    assert [j["job_id"] for j in store.list_jobs()] == ["b", "a"]
    assert [j["job_id"] for j in store.list_jobs(limit=1)] == ["b"]
    with pytest.raises(JobNotFound):
        store.get_job("nope")


def test_numbers_round_trip_exactly(store) -> None:
    store.create_job(_job(kappas=[0.1, 1 / 3]))
    delta = 0.9995612431444242  # 16 significant digits
    _save_pair(store, "job-1", 0, delta, 1 / 7)
    runs = store.job_runs("job-1")
    assert runs[0]["delta_total"] == delta and runs[1]["delta_total"] == 1 / 7
    assert store.get_job("job-1")["kappas"] == [0.1, 1 / 3]


def test_completed_by_hash_and_reused_count(store) -> None:
    store.create_job(_job())
    _save_pair(store, "job-1", 0, 0.5, 0.25)  # config hash "h0"
    store.save_runs(
        [_run("job-1", 1, "passive", "failed"), _run("job-1", 1, "active", "failed")], []
    )  # hash "h1", failed: never reused
    found = store.completed_by_hash({"h0", "h1", "nope"})
    assert set(found) == {"h0"} and set(found["h0"]) == {"passive", "active"}
    assert found["h0"]["active"]["delta_total"] == 0.25
    assert found["h0"]["active"]["raw_metrics"]["nested"] == {"a": [1, 2]}
    store.set_reused("job-1", 2)
    assert store.get_job("job-1")["reused_runs"] == 2


def _soon(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    stamp = datetime.now(UTC) + timedelta(seconds=seconds)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_lease_is_taken_renewed_taken_over_and_released(store) -> None:
    from bilancio.storage import JobBusy

    assert store.create_job(_job(lease_owner="host/1/a/me", lease_expires_at=_soon(60)))
    lease = store.job_lease("job-1")
    assert (lease["status"], lease["lease_owner"]) == ("running", "host/1/a/me")
    assert store.job_lease("no-such-job") is None
    # a second process that believes the job free is refused: the holder is not who it read
    with pytest.raises(JobBusy):
        store.create_job(_job(lease_owner="host/2/b/other"), expected_owner=None)
    assert store.job_lease("job-1")["lease_owner"] == "host/1/a/me"
    # the heartbeat renews the lease and records the runs done so far
    store.save_runs([_run("job-1", 0, "passive"), _run("job-1", 0, "active")], [])
    assert store.renew_lease("job-1", "host/1/a/me", _soon(120))
    assert not store.renew_lease("job-1", "host/2/b/other", _soon(120))
    assert store.get_job("job-1")["completed_runs"] == 2
    # the holder is gone: another process takes the job over, naming the holder it saw
    assert (
        store.create_job(
            _job(lease_owner="host/2/b/other", lease_expires_at=_soon(60)),
            expected_owner="host/1/a/me",
        )
        is False
    )
    assert store.get_job("job-1")["completed_runs"] == 2  # counted again on the take-over
    with pytest.raises(JobBusy):  # the old holder can no longer close the job
        store.finish_job("job-1", "completed", None, owner="host/1/a/me")
    counts = store.finish_job("job-1", "completed", None, owner="host/2/b/other")
    assert counts == {"completed": 2, "failed": 0}
    lease = store.job_lease("job-1")
    assert (lease["status"], lease["lease_owner"], lease["lease_expires_at"]) == (
        "completed",
        None,
        None,
    )


def test_seeds_fit_sixty_four_bits(store) -> None:
    store.create_job(_job(seeds=[0, 2**63 - 1]))
    store.save_runs([_run("job-1", 0, "passive", seed=2**63 - 1)], [])
    assert store.job_runs("job-1")[0]["seed"] == 2**63 - 1
    assert store.get_job("job-1")["seeds"] == [0, 2**63 - 1]


def test_a_jobs_grid_is_set_once_it_is_known(store) -> None:
    # a sweep of another Hydra sweeper learns its size and swept values only at the end
    store.create_job(
        _job(kappas=[], concentrations=[], mus=[], outside_mid_ratios=[], seeds=[], total_runs=0)
    )
    store.set_job_grid(
        "job-1",
        {
            "total_runs": 6,
            "kappas": [0.25, 2.0],
            "mus": [0.0, 1.0],
            "seeds": [7, 2**40],
            "sweep_type": "ignored: not a grid column",
        },
    )
    job = store.get_job("job-1")
    assert job["total_runs"] == 6 and job["kappas"] == [0.25, 2.0]
    assert job["mus"] == [0.0, 1.0] and job["seeds"] == [7, 2**40]
    assert job["concentrations"] == [] and job["sweep_type"] == "balanced"


def _trade(job_id: str, num: int, seq: int, **changes) -> TradeRow:
    rid = run_id(job_id, num, "active")
    fields = dict(
        trade_id=trade_id(rid, seq),
        run_id=rid,
        job_id=job_id,
        job_num=num,
        seq=seq,
        day=seq // 3,
        side="sell",
        claim=seq,
        issuer=f"H{seq + 1}",
        due_day=7,
        seller=f"H{seq + 2}",
        buyer="dealer_mid",
        venue="dealer",
        bucket="mid",
        unit_price=0.9371829710144928,  # 16 significant digits
        face=20.0,
        cash=18.743659420289856,
        default_prob=2.5 / 13,
        threshold=1 / 3,
        shortfall=11.625,
        wealth=46.490384615384615,
    )
    fields.update(changes)
    return TradeRow(**fields)


def _outcome(job_id: str, num: int, regime: str, agent: str, day: int | None) -> AgentOutcomeRow:
    rid = run_id(job_id, num, regime)
    return AgentOutcomeRow(
        outcome_id=outcome_id(rid, agent),
        run_id=rid,
        job_id=job_id,
        job_num=num,
        regime=regime,
        agent=agent,
        defaulted=day is not None,
        default_day=day,
    )


def _without_stamps(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("id", "created_at")} for r in rows]


def test_trades_and_agent_outcomes_round_trip(store) -> None:
    """Every column comes back as written (types included: a face of 20 is 20.0, a missing
    threshold None, defaulted a bool), an upsert keeps one row per id, and a job without
    recorded trades has none."""
    store.create_job(_job())
    assert store.job_trades("job-1") == [] and store.job_agent_outcomes("job-1") == []
    trades = [
        _trade("job-1", 0, 0),
        _trade("job-1", 0, 1, side="buy", seller="vbt_short", buyer="H3", venue="vbt"),
        _trade("job-1", 0, 2, threshold=None, shortfall=None, wealth=None, bucket="long"),
    ]
    outcomes = [
        _outcome("job-1", 0, regime, agent, day)
        for regime, days in (("passive", (1, None, 4)), ("active", (1, None, None)))
        for agent, day in zip(("H1", "H2", "H3"), days, strict=True)
    ]
    runs = [_run("job-1", 0, "passive"), _run("job-1", 0, "active")]
    metrics = [_metrics("job-1", 0, "passive", 0.5), _metrics("job-1", 0, "active", 0.25)]
    for _ in range(2):  # a retried batch: still one row per trade and trader
        store.save_runs(runs, metrics, trades=trades, outcomes=outcomes)
    got = store.job_trades("job-1")
    assert _without_stamps(got) == _without_stamps([as_row(t) for t in trades])
    assert isinstance(got[0]["face"], float) and got[2]["threshold"] is None
    found = store.job_agent_outcomes("job-1")
    assert _without_stamps(found) == _without_stamps([as_row(o) for o in outcomes])
    assert [type(o["defaulted"]) for o in found] == [bool] * 6
    assert store.job_trades("no-such-job") == [] and store.job_agent_outcomes("nope") == []


def test_many_trades_are_written_and_read_in_pages(store) -> None:
    # past the 1,000-row answers of Supabase and over several request bodies
    store.create_job(_job())
    trades = [_trade("job-1", 0, k) for k in range(2500)]
    store.save_runs([_run("job-1", 0, "active")], [], trades=trades)
    got = store.job_trades("job-1")
    assert [t["seq"] for t in got] == list(range(2500))
    assert got[-1]["trade_id"] == "job-1-00000-active-02499"


def test_a_database_from_before_the_trade_tables_has_no_trades(store, request) -> None:
    """An SQLite file, PostgreSQL database or Supabase project without migration 009's tables
    is read as one in which nothing was recorded (and a read-only SQLite open accepts it)."""
    import psycopg

    store.create_job(_job())
    _save_pair(store, "job-1", 0, 0.5, 0.25)
    if isinstance(store, SQLiteStore):
        store.close()  # the file as an older bilancio left it, opened by a read command
        with sqlite3.connect(store.path) as con:
            con.execute("DROP TABLE trades")
            con.execute("DROP TABLE agent_outcomes")
        store = SQLiteStore(store.path, read_only=True)
    else:
        with psycopg.connect(request.getfixturevalue("migrated_url"), autocommit=True) as con:
            con.execute("DROP TABLE trades, agent_outcomes")
    assert store.job_trades("job-1") == [] and store.job_agent_outcomes("job-1") == []
    assert len(store.job_runs("job-1")) == 2
    store.close()
    if not isinstance(store, SQLiteStore):  # migrating again brings them back
        from bilancio.storage import migrations

        with psycopg.connect(request.getfixturevalue("migrated_url"), autocommit=True) as con:
            con.execute(migrations.migrations()[-1].sql)
