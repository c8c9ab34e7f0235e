"""The worked examples A, B and C of MODEL.md §4, checked against the numbers printed there."""

from __future__ import annotations

import pytest

from bilancio.model import ModelParams, Payable, Scenario, generate, run_scenario, simulate

EXAMPLE_A = Scenario(
    agents=("H1", "H2", "H3"),
    cash=(40.0, 40.0, 40.0),
    payables=(
        Payable("H1", "H2", 50, 1),
        Payable("H2", "H3", 80, 1),
        Payable("H3", "H1", 30, 1),
    ),
)


def test_example_a_expel_agent() -> None:
    r, ledger = run_scenario(EXAMPLE_A, default_handling="expel-agent", rollover=False)
    assert r.phi_total == pytest.approx(110 / 160, abs=1e-12)
    assert r.delta_total == pytest.approx(0.3125, abs=1e-12)
    assert r.alpha_1 == pytest.approx(0.6875, abs=1e-12)
    assert r.hhi_plus_1 == pytest.approx(1.0, abs=1e-12)
    assert r.mpeak_1 == 80
    assert r.v_1 == pytest.approx(1.375, abs=1e-12)
    assert ledger.cash == [30.0, 0.0, 90.0]
    assert r.n_defaults == 1
    assert (r.total_face, r.unpaid_face, r.n_clears) == (160, 50, 2)
    assert r.delta_ring == r.delta_total  # no market makers: the ring is every payable


def test_example_a_fail_fast() -> None:
    r, ledger = run_scenario(EXAMPLE_A, default_handling="fail-fast", rollover=False)
    assert r.delta_total == 1.0
    assert r.phi_total == 0.0
    assert r.mpeak_1 == 0
    assert r.v_1 is None
    assert r.stop_reason == "default"
    assert r.days_run == 1  # day 0 completed; day 1 ended in the default
    assert ledger.cash == [40.0, 40.0, 40.0]  # the partial payment was undone


EXAMPLE_B = dict(n_agents=5, maturity_days=3, q_total=100, kappa=1, concentration=1, mu=0.5, seed=7)


def test_example_b_scenario() -> None:
    s = generate(ModelParams(**EXAMPLE_B))
    amounts = [p.amount for p in s.payables]
    assert amounts[:5] == [15, 6, 42, 3, 31]
    assert amounts[5:10] == [3, 1, 10, 0, 7]
    assert amounts[10:] == [1, 0, 5, 0, 3]
    assert [p.due for p in s.payables[:5]] == [3, 1, 2, 3, 1]
    assert {p.creditor for p in s.payables[5:10]} == {"vbt_short"}
    assert {p.creditor for p in s.payables[10:]} == {"dealer_short"}
    assert list(s.cash) == [27.5] * 5 + [25.0, 12.5, 0.0, 0.0, 0.0, 0.0]


def test_example_b_expel_agent() -> None:
    r = simulate(ModelParams(**EXAMPLE_B, default_handling="expel-agent"))
    assert (r.unpaid_face, r.total_face) == (98, 127)
    assert r.delta_total == pytest.approx(98 / 127, abs=1e-12)
    assert r.n_defaults == 2
    assert r.alpha_1 == 0
    assert r.mpeak_1 == 7
    assert r.v_1 == 1
    assert r.hhi_plus_1 == pytest.approx(1070 / 2304, abs=1e-12)  # (6²+31²+8²+3²)/48²
    assert r.time_to_stability == 3


def test_example_b_fail_fast() -> None:
    r = simulate(ModelParams(**EXAMPLE_B, default_handling="fail-fast"))
    assert r.delta_total == pytest.approx(121 / 127, abs=1e-12)
    assert r.mpeak_1 == 6
    assert r.stop_reason == "default"


EXAMPLE_C = dict(
    n_agents=5,
    maturity_days=10,
    q_total=100,
    kappa=0.5,
    concentration=1,
    mu=0.5,
    seed=42,
    outside_mid_ratio=0.9,
)


def test_example_c_scenario() -> None:
    s = generate(ModelParams(**EXAMPLE_C))
    by_debtor: dict[str, list[tuple[int, str, int]]] = {}
    for p in s.payables:
        by_debtor.setdefault(p.debtor, []).append((p.amount, p.creditor, p.due))
    assert by_debtor["H1"] == [(34, "H2", 7), (8, "vbt_mid", 7), (4, "dealer_mid", 7)]
    assert by_debtor["H2"] == [(0, "H3", 1), (0, "vbt_short", 1), (0, "dealer_short", 1)]
    assert by_debtor["H3"] == [(10, "H4", 5), (2, "vbt_mid", 5), (1, "dealer_mid", 5)]
    assert by_debtor["H4"] == [(8, "H5", 9), (2, "vbt_long", 9), (1, "dealer_long", 9)]
    assert by_debtor["H5"] == [(45, "H1", 3), (11, "vbt_short", 3), (5, "dealer_short", 3)]
    assert list(s.cash[:5]) == [17.5] * 5


def test_example_c_expel_agent() -> None:
    defaults_by_day: dict[int, set[str]] = {}

    def record(day: int, ledger) -> None:
        defaulted = {ledger.names[i] for i, d in enumerate(ledger.defaulted) if d}
        seen = set().union(*defaults_by_day.values()) if defaults_by_day else set()
        if defaulted - seen:
            defaults_by_day[day] = defaulted - seen

    r = simulate(ModelParams(**EXAMPLE_C, default_handling="expel-agent"), on_day_end=record)
    assert defaults_by_day == {3: {"H5"}, 7: {"H1"}}
    assert (r.unpaid_face, r.total_face) == (73, 131)
    assert r.delta_total == pytest.approx(73 / 131, abs=1e-12)
    # H1 pays its ring debt (34) on day 7, then defaults on its market-maker legs
    assert r.delta_ring == pytest.approx(45 / 97, abs=1e-12)


def test_example_c_fail_fast() -> None:
    r = simulate(ModelParams(**EXAMPLE_C, default_handling="fail-fast"))
    assert r.delta_total == 1.0
    assert r.delta_ring == 1.0
    assert r.stop_reason == "default"
    assert r.days_run == 3


@pytest.mark.parametrize("seed", [1, 7, 42])
@pytest.mark.parametrize("regime", ["passive", "active"])
def test_delta_ring_counts_the_first_n_rows_only(seed: int, regime: str) -> None:
    """MODEL.md §4: the ring payables are the first n rows of §2.7, whoever holds them."""
    from bilancio.model import simulate_scenario

    params = ModelParams(n_agents=12, kappa=0.5, mu=1, seed=seed, default_handling="expel-agent")
    seen = []
    result = simulate_scenario(
        generate(params), params, regime, on_day_end=lambda day, ledger: seen.append(ledger)
    )
    ledger = seen[-1]  # the run's books, as they ended
    n = params.n_agents
    face = sum(ledger.amount[:n])
    unpaid = sum(
        a
        for a, s, d in zip(
            ledger.amount[:n], ledger.settled_on[:n], ledger.original_due[:n], strict=True
        )
        if s != d
    )
    assert result.delta_ring == pytest.approx(unpaid / face, abs=1e-12)
    assert face < result.total_face  # the market makers' legs are left out
