"""What ``record.trades=true`` costs: time and rows per pair, off against on.

Two measurements on the same pairs (n = 100, expel-agent, κ = 0.25, 0.5 × μ = 0.5, 1 × seeds,
200 pairs by default; the numbers are reported in the README and docs/decisions.md):

* compute: ``compute_job`` per pair in this process (the model with its hooks, and making the
  rows), best of five rounds, off and on alternating;
* sweep: the installed command, sequential launcher, into a fresh SQLite file: wall time per
  pair, rows per pair of every table and the file's size per pair.

Run from the repository root:  uv run python benchmarks/record_trades.py [--pairs N]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BILANCIO = Path(sys.executable).with_name("bilancio")
TABLES = ("runs", "metrics", "trades", "agent_outcomes")


KAPPAS, MUS = (0.25, 0.5), (0.5, 1)


def grid(pairs: int) -> list[str]:
    seeds = max(1, pairs // 4)
    return [
        "-m",
        "kappa=0.25,0.5",
        "mu=0.5,1",
        f"seed=range(1,{seeds + 1})",
        "n_agents=100",
        "default_handling=expel-agent",
    ]


def compute_seconds(pairs: int) -> dict[bool, float]:
    """Seconds per pair of compute_job, record.trades off and on (best of five rounds)."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from bilancio.config import register_configs
    from bilancio.sweep.job import JobSpec, compute_job

    register_configs()
    with initialize_config_module(version_base="1.3", config_module="bilancio.conf"):
        base = OmegaConf.to_container(compose(config_name="config"), resolve=True)
    base.update(n_agents=100, default_handling="expel-agent")
    cases = [
        (kappa, mu, seed) for seed in range(1, pairs // 4 + 1) for kappa in KAPPAS for mu in MUS
    ]
    specs = {
        record: [
            JobSpec(
                "bench",
                k,
                {**base, "kappa": kappa, "mu": mu, "seed": seed, "record": {"trades": record}},
                (),
            )
            for k, (kappa, mu, seed) in enumerate(cases)
        ]
        for record in (False, True)
    }
    best = {False: float("inf"), True: float("inf")}
    for _ in range(5):
        for record, batch in specs.items():
            tic = time.perf_counter()
            for spec in batch:
                compute_job(spec)
            best[record] = min(best[record], (time.perf_counter() - tic) / len(batch))
    return best


def sweep(pairs: int, record: bool, workdir: Path) -> dict[str, float]:
    db = workdir / f"record-{record}.db"
    db.unlink(missing_ok=True)
    args = [*grid(pairs), f"record.trades={str(record).lower()}", f"storage.path={db}"]
    tic = time.perf_counter()
    subprocess.run(
        [str(BILANCIO), *args, f"hydra.sweep.dir={workdir / 'multirun'}"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - tic
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        n = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] // 2
        counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] / n for t in TABLES}
    return {
        "pairs": n,
        "wall_per_pair_ms": 1000 * wall / n,
        "kb_per_pair": db.stat().st_size / 1024 / n,
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    times = compute_seconds(args.pairs)
    off, on = times[False], times[True]
    print(
        f"compute_job: {1000 * off:.2f} ms/pair off, {1000 * on:.2f} ms/pair on (×{on / off:.3f})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        found = {record: sweep(args.pairs, record, Path(tmp)) for record in (False, True)}
    a, b = found[False], found[True]
    slower = b["wall_per_pair_ms"] / a["wall_per_pair_ms"]
    print(
        f"sweep of {a['pairs']:.0f} pairs into SQLite: {a['wall_per_pair_ms']:.2f} ms/pair off, "
        f"{b['wall_per_pair_ms']:.2f} ms/pair on (×{slower:.3f}); "
        f"file {a['kb_per_pair']:.1f} KB/pair off, {b['kb_per_pair']:.1f} KB/pair on"
    )
    for table in TABLES:
        print(f"  {table:<15} rows per pair: {a[table]:8.1f} off {b[table]:8.1f} on")


if __name__ == "__main__":
    main()
