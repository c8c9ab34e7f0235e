"""Both stop rules of MODEL.md §3.5 and the other ways a run ends, on hand-made scenarios."""

from __future__ import annotations

import pytest

from bilancio.model import Payable, Scenario, run_scenario

# Day 1: A owes B 10 with no cash, so day 1 settles nothing (expel-agent).
# Day 3: C owes D 5 and can pay it.
EARLY_QUIET = Scenario(
    agents=("A", "B", "C", "D"),
    cash=(0.0, 0.0, 5.0, 0.0),
    payables=(Payable("A", "B", 10, 1), Payable("C", "D", 5, 3)),
)


def test_bilancio_rule_stops_after_two_quiet_days_before_the_last_due_day() -> None:
    r, _ = run_scenario(EARLY_QUIET, default_handling="expel-agent", stop_rule="bilancio")
    # days 0 and 1 are quiet: the run ends after day 1, and C→D (due day 3) counts as unpaid.
    assert (r.stop_reason, r.days_run) == ("stable", 2)
    assert (r.unpaid_face, r.total_face) == (15, 15)
    assert r.delta_total == 1.0


def test_horizon_rule_gives_every_original_payable_its_due_day() -> None:
    r, ledger = run_scenario(EARLY_QUIET, default_handling="expel-agent", stop_rule="horizon")
    # day 3 settles C→D and rolls it to day 6; days 4 and 5 are quiet → stop after day 5.
    assert (r.stop_reason, r.days_run) == ("stable", 6)
    assert r.unpaid_face == 10
    assert r.delta_total == pytest.approx(10 / 15, abs=1e-12)
    # the rollover re-lent D's 5 to C, so C holds it again and owes D 5 on day 6
    assert ledger.cash == [0.0, 0.0, 5.0, 0.0]


def test_horizon_rule_without_rollover_waits_for_no_open_payable() -> None:
    r, _ = run_scenario(EARLY_QUIET, default_handling="expel-agent", rollover=False)
    assert (r.stop_reason, r.days_run) == ("stable", 6)


def test_without_rollover_an_open_payable_keeps_the_run_going() -> None:
    # A's payable is due on day 2 but nothing settles before; with bilancio's rule and no
    # rollover the quiet days 0–1 do not stop the run because the payable is still open.
    s = Scenario(agents=("A", "B"), cash=(3.0, 0.0), payables=(Payable("A", "B", 3, 2),))
    r, _ = run_scenario(s, rollover=False, stop_rule="bilancio")
    assert r.delta_total == 0.0
    assert (r.stop_reason, r.days_run) == ("stable", 5)  # settles day 2; quiet days 3, 4


def test_quiet_days_parameter() -> None:
    r, _ = run_scenario(
        EARLY_QUIET, default_handling="expel-agent", quiet_days=3, stop_rule="bilancio"
    )
    # days 0, 1, 2 quiet → ends after day 2, before C's due day 3
    assert (r.stop_reason, r.days_run, r.unpaid_face) == ("stable", 3, 15)


def test_max_days_ends_a_run_that_never_goes_quiet() -> None:
    # a payable due every day (maturity distance 1) keeps rolling over
    s = Scenario(agents=("A", "B"), cash=(1.0, 0.0), payables=(Payable("A", "B", 1, 1),))
    r, _ = run_scenario(s, max_days=12)
    assert (r.stop_reason, r.days_run) == ("max_days", 12)
    assert r.delta_total == 0.0


def test_fail_fast_ends_at_the_first_default() -> None:
    r, ledger = run_scenario(EARLY_QUIET, default_handling="fail-fast")
    assert (r.stop_reason, r.days_run, r.n_defaults) == ("default", 1, 1)
    assert r.delta_total == 1.0  # C→D was never reached
    assert ledger.cash == [0.0, 0.0, 5.0, 0.0]


def test_all_defaulted_guard() -> None:
    s = Scenario(
        agents=("A", "B"),
        cash=(0.0, 0.0),
        payables=(Payable("A", "B", 4, 1), Payable("B", "A", 4, 1)),
    )
    r, _ = run_scenario(s, default_handling="expel-agent")
    assert (r.stop_reason, r.days_run, r.n_defaults) == ("all_defaulted", 2, 2)


def test_expelled_agent_liabilities_are_written_off_but_it_still_receives() -> None:
    s = Scenario(
        agents=("A", "B", "C"),
        cash=(1.0, 6.0, 0.0),
        payables=(
            Payable("A", "B", 2, 1),  # A pays 1 of 2 and is expelled
            Payable("B", "A", 6, 2),  # A still receives 6 on day 2
            Payable("A", "C", 5, 3),  # written off: A never pays again, although it has 6
        ),
    )
    r, ledger = run_scenario(s, default_handling="expel-agent", rollover=False)
    assert ledger.cash == [6.0, 1.0, 0.0]
    assert (r.unpaid_face, r.total_face, r.n_defaults, r.n_clears) == (7, 13, 1, 1)


def test_zero_amount_payables_settle_and_count_as_activity() -> None:
    s = Scenario(agents=("A", "B"), cash=(0.0, 0.0), payables=(Payable("A", "B", 0, 1),))
    r, _ = run_scenario(s, rollover=False, stop_rule="bilancio")
    assert (r.n_clears, r.delta_total) == (1, None)  # no face at all: δ is undefined
    assert r.days_run == 4  # day 1 is not quiet; days 2 and 3 are


def test_invalid_scenario_is_rejected_with_its_reason() -> None:
    s = Scenario(agents=("A", "B"), cash=(1.0, 0.0), payables=(Payable("A", "Z", 1, 1),))
    with pytest.raises(ValueError, match="unknown creditor 'Z'"):
        run_scenario(s)
    s = Scenario(agents=("A", "B"), cash=(1.0, 0.0), payables=(Payable("A", "B", 1, 0),))
    with pytest.raises(ValueError, match="due=0"):
        run_scenario(s)
