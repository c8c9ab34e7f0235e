"""Cell statistics (MODEL.md §6): by hand for small cases, and recomputed independently from the
metrics rows of a real sweep (SQL grouping, numpy and scipy) for a larger one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from bilancio.analysis.cells import (
    MEAN_COLUMNS,
    TRADE_METRICS,
    cell_key,
    cell_rows,
    effect_statistics,
    fixed_parameters,
    swept_parameters,
)

from .sweep_helpers import bilancio, rows


def test_three_effects_by_hand() -> None:
    """e = 0.1, 0.3, 0.2: mean 0.2, sd 0.1. With 2 degrees of freedom Student's t has a closed
    form, F(t) = 1/2 + t / (2·sqrt(2 + t²)) and t_p = (2p − 1) / sqrt(2p(1 − p)), so
    t₀.₉₇₅,₂ = 0.95 / sqrt(0.04875) = 4.302653; the t statistic is 0.2 / (0.1/√3) = 2√3 and
    p = 2(1 − F(2√3)) = 1 − 2√3/sqrt(14). Wilcoxon, exact, n = 3, all positive: the smallest
    rank sum 0 has probability 1/8 on each side, p = 2/8."""
    s = effect_statistics([0.1, 0.3, 0.2])
    half = 0.95 / math.sqrt(0.04875) * 0.1 / math.sqrt(3)
    assert s["n"] == 3
    assert s["mean_effect"] == pytest.approx(0.2, abs=1e-15)
    assert s["sd_effect"] == pytest.approx(0.1, rel=1e-12)
    assert s["se_effect"] == pytest.approx(0.1 / math.sqrt(3), rel=1e-12)
    assert s["ci95_low"] == pytest.approx(0.2 - half, rel=1e-9)
    assert s["ci95_high"] == pytest.approx(0.2 + half, rel=1e-9)
    assert s["p_ttest"] == pytest.approx(1 - 2 * math.sqrt(3) / math.sqrt(14), rel=1e-9)
    assert s["p_wilcoxon"] == pytest.approx(0.25, abs=1e-12)
    assert (s["positive_effects"], s["negative_effects"], s["neutral_effects"]) == (3, 0, 0)


def test_counts_use_the_threshold_of_the_job_aggregate() -> None:
    s = effect_statistics([0.002, 0.001, -0.001, -0.0011, 0.0])
    assert (s["positive_effects"], s["negative_effects"], s["neutral_effects"]) == (1, 1, 3)


def test_one_pair_has_a_mean_and_nothing_that_needs_two() -> None:
    s = effect_statistics([0.05])
    assert s["n"] == 1 and s["mean_effect"] == 0.05
    for column in ("sd_effect", "se_effect", "ci95_low", "ci95_high", "p_ttest"):
        assert s[column] is None, column
    assert s["p_wilcoxon"] == 1.0  # scipy's exact test: one positive difference, p = 2 · 1/2


def test_equal_effects_have_sd_zero_and_no_t_test() -> None:
    """Floats whose mean is not exactly representable: the sd must still be exactly 0 (no
    t-test on rounding noise), the interval a point."""
    s = effect_statistics([0.1, 0.1, 0.1])
    assert s["sd_effect"] == 0.0 and s["se_effect"] == 0.0
    assert s["ci95_low"] == s["ci95_high"] == s["mean_effect"]
    assert s["p_ttest"] is None
    assert s["p_wilcoxon"] == pytest.approx(0.25)


def test_all_zero_effects_have_no_wilcoxon() -> None:
    s = effect_statistics([0.0, 0.0, 0.0, 0.0])
    assert s["p_wilcoxon"] is None and s["p_ttest"] is None
    assert s["mean_effect"] == 0.0 and s["neutral_effects"] == 4


def test_no_pairs() -> None:
    s = effect_statistics([])
    assert s["n"] == 0 and s["mean_effect"] is None and s["positive_effects"] == 0


def test_wilcoxon_drops_zeros() -> None:
    """zero_method="wilcox": zeros are dropped before ranking, so 0.3, 0.1, 0, 0 is the n = 2
    exact test (p = 2 · 1/4)."""
    assert effect_statistics([0.3, 0.1, 0.0, 0.0])["p_wilcoxon"] == pytest.approx(0.5)


def test_cell_key_ignores_seed_and_float_spelling() -> None:
    a = {"kappa": 0.1 + 0.2, "mu": 1.0, "seed": 1}
    b = {"kappa": 0.3, "mu": 1, "seed": 2}
    assert cell_key(a) == cell_key(b)
    assert cell_key(a) != cell_key({**b, "mu": 0.5})


def _runs(cells: dict[tuple[float, float], list[tuple[float, float]]]) -> list[dict]:
    """job_runs-like rows: per (kappa, concentration) cell, pairs of (δ passive, δ active)."""
    out, num = [], 0
    for (kappa, c), deltas in cells.items():
        for seed, (dp, da) in enumerate(deltas, start=1):
            for regime, delta in (("passive", dp), ("active", da)):
                raw = {"delta_total": delta, "delta_ring": delta / 2}
                if regime == "active":
                    raw.update({m: float(seed) for m in TRADE_METRICS})
                config = {"kappa": kappa, "concentration": c, "seed": seed, "job": {"num": num}}
                out.append(
                    {
                        "job_num": num,
                        "regime": regime,
                        "status": "completed",
                        "seed": seed,
                        "config": config,
                        "delta_total": delta,
                        "raw_metrics": raw,
                    }
                )
            num += 1
    return out


def test_cells_group_by_every_parameter_but_seed() -> None:
    runs = _runs({(1.0, 1.0): [(0.5, 0.4), (0.6, 0.6)], (0.5, 1.0): [(0.9, 0.5)]})
    runs.append({**runs[0], "job_num": 99, "regime": "passive"})  # a pair with no active run
    runs.append({**runs[1], "job_num": 98, "status": "failed"})
    cells = cell_rows("j", runs)
    assert [c["kappa"] for c in cells] == [0.5, 1.0]  # ordered by the parameters' values
    low, high = cells
    assert (low["n"], high["n"], high["n_pairs"]) == (1, 2, 2)
    assert high["seeds"] == [1, 2]
    assert high["mean_effect"] == pytest.approx(0.05)
    assert high["mean_delta_passive"] == pytest.approx(0.55)
    assert high["mean_delta_ring_active"] == pytest.approx(0.25)
    assert high["mean_n_sells"] == pytest.approx(1.5)  # seeds 1 and 2
    assert high["cell_id"] == f"j-{high['cell_key']}"
    assert high["params"]["kappa"] == 1.0 and "seed" not in high["params"]
    assert high["params"]["n_agents"] == 100  # a default the config did not give
    assert swept_parameters(cells) == ["kappa"]
    assert fixed_parameters(cells)["concentration"] == 1.0


def test_market_parameters_make_cells_too() -> None:
    runs = _runs({(1.0, 1.0): [(0.5, 0.4)]})
    other = [
        {**r, "job_num": 1, "config": {**r["config"], "market": {"risk": {"enabled": False}}}}
        for r in runs
    ]
    cells = cell_rows("j", runs + other)
    assert len(cells) == 2
    assert swept_parameters(cells) == ["market.risk.enabled"]


SWEEP = [
    "-m",
    "kappa=0.5,1,2",
    "mu=0,1",
    "seed=range(1,9)",
    "n_agents=20",
    "default_handling=expel-agent",
    "job.id=cells",
]


def test_a_sweeps_cells_against_scipy_on_its_metrics_rows(tmp_path) -> None:
    """48 pairs in 6 cells. The cells are grouped here by SQL on the runs' own columns, and
    every statistic is recomputed from the metrics rows with numpy and scipy."""
    proc = bilancio(*SWEEP, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "bilancio.db"
    stored = rows(db, "SELECT * FROM cell_metrics WHERE job_id = 'cells' ORDER BY id")
    assert len(stored) == 6
    pairs = rows(
        db,
        "SELECT p.kappa, p.mu, p.seed, mp.delta_total AS dp, ma.delta_total AS da, "
        "mp.raw_metrics AS rp, ma.raw_metrics AS ra FROM runs p "
        "JOIN runs a ON a.job_id = p.job_id AND a.job_num = p.job_num AND a.regime = 'active' "
        "JOIN metrics mp ON mp.run_id = p.run_id JOIN metrics ma ON ma.run_id = a.run_id "
        "WHERE p.regime = 'passive' AND p.job_id = 'cells'",
    )
    assert len(pairs) == 48
    some_effect = False
    for cell in stored:
        mine = [p for p in pairs if (p["kappa"], p["mu"]) == (cell["kappa"], cell["mu"])]
        e = np.array([p["dp"] - p["da"] for p in mine])
        assert cell["n"] == cell["n_pairs"] == len(e) == 8
        assert json.loads(cell["seeds"]) == list(range(1, 9))
        assert cell["mean_effect"] == pytest.approx(e.mean(), abs=1e-12)
        assert cell["mean_delta_passive"] == pytest.approx(np.mean([p["dp"] for p in mine]))
        assert cell["mean_delta_active"] == pytest.approx(np.mean([p["da"] for p in mine]))
        ring_p = [json.loads(p["rp"])["delta_ring"] for p in mine]
        ring_a = [json.loads(p["ra"])["delta_ring"] for p in mine]
        assert cell["mean_delta_ring_passive"] == pytest.approx(np.mean(ring_p))
        assert cell["mean_delta_ring_active"] == pytest.approx(np.mean(ring_a))
        for metric in TRADE_METRICS:
            values = [json.loads(p["ra"])[metric] for p in mine]
            assert cell[f"mean_{metric}"] == pytest.approx(np.mean(values)), metric
        assert cell["positive_effects"] == int((e > 0.001).sum())
        assert cell["negative_effects"] == int((e < -0.001).sum())
        sd = e.std(ddof=1)
        if np.ptp(e) == 0:
            assert cell["sd_effect"] == 0 and cell["p_ttest"] is None
        else:
            some_effect = True
            assert cell["sd_effect"] == pytest.approx(sd, rel=1e-9)
            assert cell["se_effect"] == pytest.approx(sd / math.sqrt(8), rel=1e-9)
            low, high = stats.t.interval(0.95, 7, loc=e.mean(), scale=stats.sem(e))
            assert (cell["ci95_low"], cell["ci95_high"]) == (
                pytest.approx(low, rel=1e-9),
                pytest.approx(high, rel=1e-9),
            )
            assert cell["p_ttest"] == pytest.approx(stats.ttest_1samp(e, 0).pvalue, rel=1e-9)
        if np.any(e != 0):
            assert cell["p_wilcoxon"] == pytest.approx(stats.wilcoxon(e).pvalue, rel=1e-9)
        else:
            assert cell["p_wilcoxon"] is None
    assert some_effect, "a sweep in which no cell has an effect tests little"
    zero = [c for c in stored if c["mu"] == 0]
    assert all(c["mean_effect"] == 0 for c in zero)  # μ = 0: nothing falls due later to sell
    for column in MEAN_COLUMNS:
        assert column in stored[0]


@pytest.mark.parametrize("effects", [[0.05], [-0.2], [0.0, 0.3], [0.0, 0.0, -0.1]])
def test_one_nonzero_effect_has_scipys_wilcoxon_p(effects) -> None:
    """Said without scipy (its import is slow): it must be what scipy says."""
    assert (
        effect_statistics(effects)["p_wilcoxon"]
        == stats.wilcoxon(effects, zero_method="wilcox").pvalue
    )


def _mixed_runs() -> list[dict]:
    """Runs as a store reads them, by job number and regime: three cells of several seeds,
    a seed repeated within a cell, a failed run, a pair missing its active run, a pair without
    δ, and two pairs of bilancio 0.1 (no job number, paired by their parameters)."""
    runs = _runs(
        {
            (1.0, 1.0): [(0.5, 0.4), (0.6, 0.6), (0.7, 0.2), (0.2, 0.3)],
            (0.5, 1.0): [(0.9, 0.5), (0.8, 0.8)],
            (2.0, 0.5): [(0.1, 0.0)],
        }
    )
    top = max(r["job_num"] for r in runs)
    again = [{**r, "job_num": top + 1} for r in runs[:2]]  # seed 1 of the first cell again
    failed = [{**r, "job_num": top + 2, "seed": 9} for r in runs[2:4]]
    failed[1]["status"] = "failed"
    lonely = [{**runs[4], "job_num": top + 3, "seed": 8}]
    undefined = [
        {**r, "job_num": top + 4, "seed": 7, "delta_total": None, "raw_metrics": {}}
        for r in runs[6:8]
    ]
    old = [
        {**r, "job_num": None, "kappa": 3.0, "concentration": 1.0, "mu": 0.5,
         "outside_mid_ratio": 1.0, "seed": 40 + i // 2, "config": {}}
        for i, r in enumerate(runs[:4])
    ]  # fmt: skip
    return runs + again + failed + lonely + undefined + old


def test_cells_read_a_pair_at_a_time_equal_those_of_the_whole_list() -> None:
    """The summaries read from a store's iterator (one pair held at a time) are those of the
    same runs as a list in any order, and match the cells counted by hand."""
    from bilancio.analysis.summary import summaries

    runs = _mixed_runs()
    in_order = sorted(runs, key=lambda r: (r["job_num"] is None, r["job_num"] or 0))
    streamed = summaries("j", iter(in_order))
    shuffled = list(runs)
    np.random.default_rng(3).shuffle(shuffled)
    assert streamed == summaries("j", shuffled)
    row, cells = streamed
    # by hand: pairs completed in both regimes with both δ: 4 + 1 (the repeated seed) + 2 + 1
    # + 2 (bilancio 0.1) = 10 in the job aggregate; the repeated seed counts once in its cell
    assert row["n_pairs"] == 10
    by_kappa = {c["kappa"]: c for c in cells}
    assert sorted(by_kappa) == [0.5, 1.0, 2.0, 3.0]
    assert by_kappa[1.0]["seeds"] == [1, 2, 3, 4, 7] and by_kappa[1.0]["n"] == 4  # 7: no δ
    assert by_kappa[0.5]["seeds"] == [1, 2] and by_kappa[0.5]["n"] == 2
    assert by_kappa[3.0]["n"] == 2 and by_kappa[3.0]["seeds"] == [40, 41]
    assert by_kappa[1.0]["mean_effect"] == pytest.approx((0.1 + 0.0 + 0.5 - 0.1) / 4)


def test_runs_out_of_order_from_an_iterator_are_refused() -> None:
    from bilancio.analysis.cells import iter_pairs

    runs = _runs({(1.0, 1.0): [(0.5, 0.4), (0.6, 0.6)]})
    with pytest.raises(ValueError, match="order of their job numbers"):
        list(iter_pairs(iter(runs[2:] + runs[:2])))


def test_summaries_of_a_large_job_take_memory_that_does_not_grow_with_it(tmp_path) -> None:
    """write_summaries reads a grid job's runs a page at a time and keeps a few floats per pair
    (its δ and trade metrics), not the runs: at 1,500 and 6,000 pairs of one cell, the peak
    memory Python allocates differs by far less than the runs' own size. Reading every run at
    once (as before) took about 5 KB a pair; the test allows 1 KB."""
    import tracemalloc

    from bilancio.analysis.summary import write_summaries
    from bilancio.rows import JobRecord, MetricsRecord, RunRecord, run_id
    from bilancio.storage.sqlite import SQLiteStore

    def peak(pairs: int) -> int:
        store = SQLiteStore(tmp_path / f"{pairs}.db")
        store.create_job(
            JobRecord(
                job_id="big", sweep_type="grid", n_agents=100, maturity_days=10, kappas=[1.0],
                concentrations=[1.0], mus=[0.5], outside_mid_ratios=[1.0], seeds=[],
                total_runs=2 * pairs, overrides=[], code_version="t", config={"kappa": 1.0},
            )
        )  # fmt: skip
        raw = {m: 1.0 for m in TRADE_METRICS}
        runs, metrics = [], []
        for num in range(pairs):
            for regime, delta in (("passive", 0.5 + num % 7 / 100), ("active", 0.4)):
                runs.append(
                    RunRecord(
                        run_id=run_id("big", num, regime), job_id="big", job_num=num,
                        regime=regime, status="completed", kappa=1.0, concentration=1.0,
                        mu=0.5, outside_mid_ratio=1.0, seed=num,
                        config={"kappa": 1.0, "seed": num, "job": {"num": num, "id": "big"}},
                        config_hash="h",
                    )
                )  # fmt: skip
                metrics.append(
                    MetricsRecord(
                        run_id=run_id("big", num, regime), job_id="big", delta_total=delta,
                        phi_total=1 - delta, n_defaults=1, n_clears=1, time_to_stability=1,
                        trading_effect=0.1, total_trades=1, total_trade_volume=1.0,
                        raw_metrics={**raw, "delta_total": delta, "delta_ring": delta},
                    )
                )  # fmt: skip
        store.save_runs(runs, metrics)
        del runs, metrics
        write_summaries(store, "big")  # scipy and the first reads, outside the measurement
        tracemalloc.start()
        try:
            result = write_summaries(store, "big")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert result["row"]["n_pairs"] == pairs
            store.close()

    small, large = peak(1_500), peak(6_000)
    assert (large - small) / 4_500 < 1024, (small, large)


def test_the_table_says_each_only_of_several_cells() -> None:
    from bilancio.analysis.tables import describe_cells

    runs = _runs({(1.0, 1.0): [(0.5, 0.4), (0.6, 0.6), (0.7, 0.2)]})
    assert describe_cells(cell_rows("j", runs)) == "1 cell, 3 seeds"
    two = _runs({(1.0, 1.0): [(0.5, 0.4)] * 3, (0.5, 1.0): [(0.9, 0.5)] * 3})
    assert describe_cells(cell_rows("j", two)) == "2 cells (κ), 3 seeds each"
