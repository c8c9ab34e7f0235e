"""``record.trades=true`` (issue 13 item 5): a sweep stores every trade of its active runs and
each trader's default day in both regimes; ``jobs show --trades`` and ``results.trades``.

The rows are checked against numbers computed apart from them: the metrics rows' own trade
counters and volumes, and default days read off the books (``ledger.defaulted`` after every
day, not the ``on_default`` hook the sweep records with) by running each pair again here.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess

import pytest

from bilancio import results
from bilancio.config import params_from_config
from bilancio.model import generate, simulate_scenario
from bilancio.storage import open_store

from .sweep_helpers import SCRIPT, bilancio, rows, whole_config

SWEEP = [
    "-m",
    "kappa=0.25,1",
    "mu=0,1",
    "seed=1,2,3",
    "n_agents=30",
    "default_handling=expel-agent",
    "record.trades=true",
    "job.id=rec",
]
SAVED_SELLERS = """
SELECT DISTINCT t.job_num, t.seller FROM trades t
JOIN agent_outcomes a ON a.job_id = t.job_id AND a.job_num = t.job_num
    AND a.agent = t.seller AND a.regime = 'active'
JOIN agent_outcomes p ON p.job_id = t.job_id AND p.job_num = t.job_num
    AND p.agent = t.seller AND p.regime = 'passive'
WHERE t.job_id = ? AND t.side = 'sell' AND p.defaulted AND NOT a.defaulted
ORDER BY t.job_num, t.seller
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    where = tmp_path_factory.mktemp("record")
    proc = bilancio(*SWEEP, cwd=where)
    assert proc.returncode == 0, proc.stderr
    return where / "bilancio.db"


def _metrics(db) -> dict[str, dict]:
    return {
        r["run_id"]: json.loads(r["raw_metrics"])
        for r in rows(db, "SELECT run_id, raw_metrics FROM metrics")
    }


def _default_days_from_the_books(config: dict) -> dict[str, dict[str, int]]:
    """regime → trader → the first day after which the ledger marks it defaulted."""
    params = params_from_config(config)
    scenario = generate(params)
    traders = scenario.agents[: scenario.n_traders]
    days: dict[str, dict[str, int]] = {}
    for regime in ("passive", "active"):
        seen = days[regime] = {}

        def after(day: int, ledger, seen=seen) -> None:
            for i, name in enumerate(ledger.names):
                if name in traders and ledger.defaulted[i]:
                    seen.setdefault(name, day)

        simulate_scenario(scenario, params, regime, on_day_end=after)
    return days


def test_one_row_per_trade_matching_the_runs_counters(db) -> None:
    metrics = _metrics(db)
    trades = rows(db, "SELECT * FROM trades WHERE job_id = 'rec'")
    active = {rid: m for rid, m in metrics.items() if rid.endswith("-active")}
    assert len(active) == 12 and sum(m["n_trades"] for m in active.values()) > 50
    for rid, m in active.items():
        mine = [t for t in trades if t["run_id"] == rid]
        assert len(mine) == m["n_trades"], rid
        assert [t["seq"] for t in sorted(mine, key=lambda t: t["seq"])] == list(range(len(mine)))
        assert sum(t["side"] == "sell" for t in mine) == m["n_sells"]
        assert sum(t["side"] == "buy" for t in mine) == m["n_buys"]
        assert sum(t["venue"] == "dealer" for t in mine) == m["n_interior"]
        assert sum(t["venue"] == "vbt" for t in mine) == m["n_passthrough"]
        assert math.fsum(t["face"] for t in mine) == m["trade_volume_face"]
        assert math.isclose(
            math.fsum(t["cash"] for t in mine), m["trade_volume_cash"], abs_tol=1e-9
        )
        for t in mine:  # who is who: a customer (H…) and the maker of the claim's bucket
            customer, maker = (t["seller"], t["buyer"])[:: 1 if t["side"] == "sell" else -1]
            assert customer.startswith("H") and maker == f"{t['venue']}_{t['bucket']}"
            assert t["unit_price"] * t["face"] >= t["cash"] - 1e-9
            if t["side"] == "sell":  # risk assessment is on: the check's floor was met
                assert t["unit_price"] >= t["threshold"] - 1e-9 and t["shortfall"] > 0
            else:
                assert t["unit_price"] <= t["threshold"] + 1e-9 and t["shortfall"] is None
    assert not [t for t in trades if not t["run_id"].endswith("-active")]


def test_every_traders_default_day_in_both_regimes(db) -> None:
    metrics = _metrics(db)
    outcomes = rows(db, "SELECT * FROM agent_outcomes WHERE job_id = 'rec'")
    configs = {
        r["job_num"]: whole_config(db, r["config"])
        for r in rows(db, "SELECT job_num, config FROM runs WHERE regime = 'active'")
    }
    assert len(outcomes) == 12 * 2 * 30
    for rid, m in metrics.items():
        mine = [o for o in outcomes if o["run_id"] == rid]
        assert len(mine) == 30 and sum(o["defaulted"] for o in mine) == m["n_defaults"], rid
    for num, config in configs.items():
        books = _default_days_from_the_books(config)
        for regime, days in books.items():
            stored = {
                o["agent"]: o["default_day"]
                for o in outcomes
                if o["job_num"] == num and o["regime"] == regime and o["defaulted"]
            }
            assert stored == days, (num, regime)
            assert all(
                o["default_day"] is None
                for o in outcomes
                if o["job_num"] == num and o["regime"] == regime and not o["defaulted"]
            )


def _saved_and_new(db) -> tuple[set, set, set]:
    """(saved sellers, saved traders, new defaulters) as (job_num, agent), from the books."""
    configs = {
        r["job_num"]: whole_config(db, r["config"])
        for r in rows(db, "SELECT job_num, config FROM runs WHERE regime = 'active'")
    }
    sold = {
        (t["job_num"], t["seller"]) for t in rows(db, "SELECT * FROM trades") if t["side"] == "sell"
    }
    saved, new = set(), set()
    for num, config in configs.items():
        books = _default_days_from_the_books(config)
        saved |= {(num, a) for a in books["passive"].keys() - books["active"].keys()}
        new |= {(num, a) for a in books["active"].keys() - books["passive"].keys()}
    return saved & sold, saved, new


def test_saved_sellers_are_one_query(db) -> None:
    found = {(r["job_num"], r["seller"]) for r in rows(db, SAVED_SELLERS, "rec")}
    saved_sellers, saved, _ = _saved_and_new(db)
    assert found == saved_sellers and len(found) > 5
    assert saved_sellers <= saved


def test_jobs_show_trades_summary(db) -> None:
    metrics = [m for rid, m in _metrics(db).items() if rid.endswith("-active")]
    saved_sellers, saved, new = _saved_and_new(db)
    proc = bilancio("jobs", "show", "rec", "--trades", cwd=db.parent)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    n, sells, buys = (sum(m[k] for m in metrics) for k in ("n_trades", "n_sells", "n_buys"))
    assert f"trades: recorded for 12 of 12 completed pairs; {n} trades ({sells} sells, " in out
    assert f"{buys} buys)" in out
    dealer = sum(m["n_interior"] for m in metrics)
    assert f"dealer use: {dealer} of {n} trades ({100 * dealer / n:.1f}%)" in out
    table = {
        line.split()[0]: [int(x) for x in line.split()[1:5]]
        for line in out.splitlines()
        if line.startswith(("  dealer", "  vbt"))
    }
    assert sum(table["dealer"][:3]) == table["dealer"][3] == dealer
    assert table["vbt"][3] == sum(m["n_passthrough"] for m in metrics)
    sellers = {
        (t["job_num"], t["seller"]) for t in rows(db, "SELECT * FROM trades WHERE side = 'sell'")
    }
    assert f"sellers (trader × pair): {len(sellers)}; saved {len(saved_sellers)} " in out
    assert f"saved traders: {len(saved)} ({len(saved_sellers)} of them sold)" in out
    assert re.search(rf"new defaulters: {len(new)} \(\d+ sold, \d+ bought\)", out)
    data = json.loads(bilancio("jobs", "show", "rec", "--trades", "--json", cwd=db.parent).stdout)
    assert data["trades"]["saved_sellers"] == len(saved_sellers)
    assert data["trades"]["by_venue"]["dealer"] == dict(
        zip(("short", "mid", "long"), table["dealer"][:3], strict=True)
    )


def test_results_trades_and_agent_outcomes(db) -> None:
    trades = results.trades("rec", storage=db)
    stored = rows(db, "SELECT * FROM trades ORDER BY job_num, seq")
    assert list(trades.trade_id) == [t["trade_id"] for t in stored]
    assert list(trades.columns[:5]) == ["job_num", "kappa", "mu", "seed", "trade_id"]
    assert trades.attrs["swept"] == ["kappa", "mu"]
    assert list(trades.cash) == [t["cash"] for t in stored]
    kappas = {r["job_num"]: r["kappa"] for r in rows(db, "SELECT job_num, kappa FROM runs")}
    assert all(kappas[t.job_num] == t.kappa for t in trades.itertuples())
    outcomes = results.agent_outcomes("rec", storage=db)
    assert len(outcomes) == 720 and outcomes.defaulted.dtype == bool
    assert outcomes.default_day.isna().sum() == (~outcomes.defaulted).sum()
    # the saved sellers again, in pandas
    wide = outcomes.pivot_table(index=["job_num", "agent"], columns="regime", values="defaulted")
    saved = wide[(wide.passive == 1) & (wide.active == 0)].index
    sales = trades[trades.side == "sell"]
    sellers = set(zip(sales.job_num, sales.seller, strict=True))
    found = {(r["job_num"], r["seller"]) for r in rows(db, SAVED_SELLERS, "rec")}
    assert {k for k in saved if k in sellers} == found


def test_off_by_default_and_the_summary_says_how_to_record(tmp_path) -> None:
    proc = bilancio(*[a for a in SWEEP if not a.startswith(("record.", "job.id"))], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "bilancio.db"
    assert rows(db, "SELECT count(*) AS n FROM trades")[0]["n"] == 0
    assert rows(db, "SELECT count(*) AS n FROM agent_outcomes")[0]["n"] == 0
    (job,) = rows(db, "SELECT job_id FROM jobs")
    shown = bilancio("jobs", "show", job["job_id"], "--trades", cwd=tmp_path)
    assert shown.returncode == 0 and "run the sweep with record.trades=true" in shown.stdout
    assert results.trades(job["job_id"], storage=db).empty


def test_skip_completed_runs_the_pairs_again_to_record_them(db, tmp_path) -> None:
    import shutil

    shutil.copy(db, tmp_path / "bilancio.db")
    plain = [a for a in SWEEP if not a.startswith(("record.", "job.id"))]
    assert bilancio(*plain, "job.id=plain", cwd=tmp_path).returncode == 0
    proc = bilancio(
        *plain, "job.id=again", "job.skip_completed=true", "record.trades=true", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "record.trades=true: pairs completed by other jobs are run again" in proc.stderr
    count = "SELECT count(*) AS n FROM {} WHERE job_id = ?"
    copy = tmp_path / "bilancio.db"
    assert rows(copy, count.format("trades"), "again") == rows(copy, count.format("trades"), "rec")
    assert rows(copy, "SELECT reused_runs FROM jobs WHERE job_id = 'again'")[0]["reused_runs"] == 0


def test_fail_fast_records_the_failure_that_ends_the_run(tmp_path) -> None:
    sweep = ["-m", "kappa=0.25,0.5", "seed=1,2", "n_agents=20", "record.trades=true"]
    assert bilancio(*sweep, cwd=tmp_path).returncode == 0
    db = tmp_path / "bilancio.db"
    metrics = _metrics(db)
    outcomes = rows(db, "SELECT * FROM agent_outcomes")
    assert len(outcomes) == 4 * 2 * 20
    for rid, m in metrics.items():
        failed = [o for o in outcomes if o["run_id"] == rid and o["defaulted"]]
        assert len(failed) == m["n_defaults"]
        if m["stop_reason"] == "default":  # the run ended on day days_run, on this failure
            assert [o["default_day"] for o in failed] == [m["days_run"]]


POSTGRES_PLAN = [
    "-m",
    "kappa=0.25,1",
    "mu=1",
    "n_agents=30",
    "default_handling=expel-agent",
    "record.trades=true",
    "job.id=same",
]


def _recorded(store) -> dict[str, list[dict]]:
    volatile = {"id", "created_at"}
    return {
        table: sorted(
            ({k: v for k, v in r.items() if k not in volatile} for r in store.table(table)),
            key=lambda r: r.get("trade_id") or r.get("outcome_id"),
        )
        for table in ("trades", "agent_outcomes")
    }


def _sweep(args: list[str], cwd, env=None) -> None:
    proc = subprocess.run(
        [str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr


def test_postgres_and_modal_to_supabase_store_the_same_rows(
    migrated_url, supabase_env, tmp_path
) -> None:
    """The same sweep into SQLite, PostgreSQL, and on Modal (its workers write to Supabase,
    the functions' local path) stores the same trades and outcomes, every digit."""
    _sweep(POSTGRES_PLAN, tmp_path)
    lite = _recorded(open_store({"backend": "sqlite", "path": str(tmp_path / "bilancio.db")}))
    assert len(lite["trades"]) > 10 and len(lite["agent_outcomes"]) == 2 * 2 * 30
    env = {**os.environ, "BILANCIO_DATABASE_URL": migrated_url}
    _sweep([*POSTGRES_PLAN, "storage=postgres"], tmp_path, env)
    assert _recorded(open_store({"backend": "postgres", "url": migrated_url})) == lite
    modal = [*POSTGRES_PLAN[:-1], "job.id=same-modal", "+cloud=modal"]
    _sweep([*modal, "hydra.launcher.executor=local"], tmp_path, dict(os.environ))
    remote = _recorded(open_store({"backend": "supabase"}))
    for table, found in remote.items():
        mine = [r for r in found if r["job_id"] == "same-modal"]
        renamed = [
            {k: v.replace("same-modal", "same") if isinstance(v, str) else v for k, v in r.items()}
            for r in mine
        ]
        assert renamed == lite[table], table


def test_the_readmes_saved_sellers_query(tmp_path) -> None:
    """The README's query finds the sellers jobs show --trades counts as saved."""
    import re as _re

    from .sweep_helpers import REPO as _REPO
    from .sweep_helpers import bilancio as _bilancio
    from .sweep_helpers import rows as _rows

    readme = (_REPO / "README.md").read_text()
    section = readme.split("### Trades and who was saved", 1)[1]
    query = section.split("```sql\n", 1)[1].split("```", 1)[0]
    args = ["-m", "kappa=0.5", "mu=1", "seed=1,2,3", "n_agents=50"]
    args += ["default_handling=expel-agent", "record.trades=true", "job.id=saved"]
    assert _bilancio(*args, cwd=tmp_path).returncode == 0
    found = _rows(tmp_path / "bilancio.db", query.strip().rstrip(";"))
    shown = _bilancio("jobs", "show", "saved", "--trades", cwd=tmp_path).stdout
    assert len(found) == int(_re.search(r"saved (\d+) \(defaulted in the passive", shown)[1])
    assert found
