"""The settlement engine (MODEL.md §3) as compiled code: days, row order, defaults, rollover.

A payable and everything it is rolled over into form one *chain*, stored at the original row:
at any moment a chain has at most one instance, so rollover updates the row in place. The rows
due on a day form a linked list in creation order (``day_head``/``row_next``), the order they
are settled in (§2.7).
"""

from __future__ import annotations

from .book import market_setup, sync
from .layout import (
    ALL_DEFAULTED,
    DEFAULT,
    DEFAULTED,
    EPS,
    F_AMOUNT,
    F_CASH,
    I_D1_PAYEE,
    I_D1_PID,
    I_DAY_HEAD,
    I_DAY_TAIL,
    I_DEBTOR,
    I_DEFAULT_AGENT,
    I_DEFAULT_DAY,
    I_DEFAULTED,
    I_DISTANCE,
    I_DUE,
    I_HOLDER,
    I_IPARAM,
    I_ISTAT,
    I_ROLLED,
    I_ROW_NEXT,
    I_SETTLED,
    I_SETTLED_ON,
    I_STATE,
    IP_ACTIVE,
    IP_DAY_WIDTH,
    IP_FAIL_FAST,
    IP_HORIZON_RULE,
    IP_MAX_DAYS,
    IP_N_AGENTS,
    IP_N_ROWS,
    IP_QUIET_DAYS,
    IP_ROLLOVER,
    IP_STOP_BEFORE,
    IS_DAYS_RUN,
    IS_FAILED_FAST,
    IS_LAST_DUE,
    IS_N_D1,
    IS_N_DEFAULT_LOG,
    IS_N_DEFAULTED,
    IS_NEXT_DAY,
    IS_QUIET,
    IS_STARTED,
    IS_STOP,
    MAX_DAYS,
    OPEN,
    RUNNING,
    SETTLED,
    STABLE,
    float_field,
    int_field,
    kernel,
)
from .market import trade
from .metrics import measure


@kernel
def advance(ints, floats):
    """Run days from ``istat[IS_NEXT_DAY]`` until the run ends or ``iparam[IP_STOP_BEFORE]``.

    Returns the stop reason (0 while the run goes on). When the run ends, the metrics are
    measured into ``fstat``.
    """
    p, s = int_field(ints, I_IPARAM), int_field(ints, I_ISTAT)
    if s[IS_STARTED] == 0:
        setup(ints, floats)
    if p[IP_STOP_BEFORE] < 0:  # only bring the market's book up to a day (for the tests)
        sync(ints, floats, -p[IP_STOP_BEFORE] - 1)
        return s[IS_STOP]
    last = min(p[IP_STOP_BEFORE], p[IP_MAX_DAYS])
    t = s[IS_NEXT_DAY]
    while s[IS_STOP] == RUNNING and t < last:
        run_day(ints, floats, t)
        t += 1
        s[IS_NEXT_DAY] = t
    if s[IS_STOP] == RUNNING and t >= p[IP_MAX_DAYS]:
        s[IS_STOP] = MAX_DAYS
    if s[IS_STOP] != RUNNING:
        measure(ints, floats)
    return s[IS_STOP]


@kernel
def setup(ints, floats):
    """Thread every row onto its due day's list; set up the market of an active run."""
    b_iparam = int_field(ints, I_IPARAM)
    b_istat = int_field(ints, I_ISTAT)
    b_day_head = int_field(ints, I_DAY_HEAD)
    b_due = int_field(ints, I_DUE)
    p, s = b_iparam, b_istat
    for d in range(p[IP_DAY_WIDTH]):
        b_day_head[d] = -1
    last_due = 0
    for pid in range(p[IP_N_ROWS]):
        append_due(ints, floats, pid, b_due[pid])
        if b_due[pid] > last_due:
            last_due = b_due[pid]
    s[IS_LAST_DUE] = last_due
    if p[IP_ACTIVE]:
        market_setup(ints, floats)
    s[IS_STARTED] = 1


@kernel
def append_due(ints, floats, pid, day):
    b_row_next = int_field(ints, I_ROW_NEXT)
    b_day_head = int_field(ints, I_DAY_HEAD)
    b_day_tail = int_field(ints, I_DAY_TAIL)
    b_row_next[pid] = -1
    if b_day_head[day] < 0:
        b_day_head[day] = pid
    else:
        b_row_next[b_day_tail[day]] = pid
    b_day_tail[day] = pid


@kernel
def run_day(ints, floats, t):
    """One day (§3.1): market phase, settlement, rollover, stop check."""
    b_iparam = int_field(ints, I_IPARAM)
    b_istat = int_field(ints, I_ISTAT)
    p, s = b_iparam, b_istat
    if p[IP_ACTIVE]:
        trade(ints, floats, t)
    n_settled, failed = settle_due(ints, floats, t)
    if failed:
        s[IS_STOP] = DEFAULT
        s[IS_DAYS_RUN] = t
        s[IS_FAILED_FAST] = 1
        return
    if p[IP_ROLLOVER]:
        roll_over(ints, floats, n_settled, t)
    s[IS_DAYS_RUN] = t + 1
    if s[IS_N_DEFAULTED] == p[IP_N_AGENTS]:
        s[IS_STOP] = ALL_DEFAULTED
        return
    s[IS_QUIET] = 0 if n_settled > 0 else s[IS_QUIET] + 1
    if is_stable(ints, floats, t):
        s[IS_STOP] = STABLE


@kernel
def is_stable(ints, floats, t):
    """The quiet rule of §3.5."""
    b_iparam = int_field(ints, I_IPARAM)
    b_istat = int_field(ints, I_ISTAT)
    p, s = b_iparam, b_istat
    if s[IS_QUIET] < p[IP_QUIET_DAYS]:
        return False
    if p[IP_HORIZON_RULE] and t < s[IS_LAST_DUE]:
        return False
    return p[IP_ROLLOVER] != 0 or not any_open(ints, floats)


@kernel
def any_open(ints, floats):
    b_iparam = int_field(ints, I_IPARAM)
    b_state = int_field(ints, I_STATE)
    b_defaulted = int_field(ints, I_DEFAULTED)
    b_debtor = int_field(ints, I_DEBTOR)
    for pid in range(b_iparam[IP_N_ROWS]):
        if b_state[pid] == OPEN and b_defaulted[b_debtor[pid]] == 0:
            return True
    return False


@kernel
def log_default(ints, floats, agent, day):
    b_istat = int_field(ints, I_ISTAT)
    b_default_agent = int_field(ints, I_DEFAULT_AGENT)
    b_default_day = int_field(ints, I_DEFAULT_DAY)
    k = b_istat[IS_N_DEFAULT_LOG]
    b_default_agent[k] = agent
    b_default_day[k] = day
    b_istat[IS_N_DEFAULT_LOG] = k + 1


@kernel
def settle_due(ints, floats, day):
    """Settle every row due on ``day`` in row order (§3.2–3.3).

    The rows settled in full go to ``settled`` in order; returns their number and whether a
    fail-fast default ended the run. Day 1's payments in full are kept for Mpeak₁.
    """
    b_iparam = int_field(ints, I_IPARAM)
    b_istat = int_field(ints, I_ISTAT)
    b_cash = float_field(ints, floats, F_CASH)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_day_head = int_field(ints, I_DAY_HEAD)
    b_row_next = int_field(ints, I_ROW_NEXT)
    b_debtor = int_field(ints, I_DEBTOR)
    b_state = int_field(ints, I_STATE)
    b_defaulted = int_field(ints, I_DEFAULTED)
    b_holder = int_field(ints, I_HOLDER)
    b_rolled = int_field(ints, I_ROLLED)
    b_settled_on = int_field(ints, I_SETTLED_ON)
    b_settled = int_field(ints, I_SETTLED)
    b_d1_pid = int_field(ints, I_D1_PID)
    b_d1_payee = int_field(ints, I_D1_PAYEE)
    p, s = b_iparam, b_istat
    cash, amount = b_cash, b_amount
    pid = b_day_head[day]
    b_day_head[day] = -1
    n = 0
    while pid >= 0:
        following = b_row_next[pid]
        d = b_debtor[pid]
        if b_state[pid] != OPEN or b_defaulted[d]:
            pid = following
            continue
        a = amount[pid]
        have = cash[d]
        c = b_holder[pid]
        if have >= a - EPS:
            pay = a if have >= a else have
            cash[d] = have - pay
            cash[c] += pay
            b_state[pid] = SETTLED
            if b_rolled[pid] == 0:
                b_settled_on[pid] = day
            b_settled[n] = pid
            n += 1
            if day == 1 and a > 0:
                k = s[IS_N_D1]
                b_d1_pid[k] = pid
                b_d1_payee[k] = c
                s[IS_N_D1] = k + 1
        elif p[IP_FAIL_FAST]:
            log_default(ints, floats, d, day)
            return n, True
        else:
            cash[d] = 0.0
            cash[c] += have
            b_state[pid] = DEFAULTED
            b_defaulted[d] = 1
            s[IS_N_DEFAULTED] += 1
            log_default(ints, floats, d, day)
        pid = following
    return n, False


@kernel
def roll_over(ints, floats, n_settled, day):
    """Re-issue each row settled today to the agent it paid (§3.4), due ``day + distance``."""
    b_cash = float_field(ints, floats, F_CASH)
    b_settled = int_field(ints, I_SETTLED)
    b_debtor = int_field(ints, I_DEBTOR)
    b_holder = int_field(ints, I_HOLDER)
    b_defaulted = int_field(ints, I_DEFAULTED)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_distance = int_field(ints, I_DISTANCE)
    b_due = int_field(ints, I_DUE)
    b_state = int_field(ints, I_STATE)
    b_rolled = int_field(ints, I_ROLLED)
    cash = b_cash
    for k in range(n_settled):
        pid = b_settled[k]
        d, h = b_debtor[pid], b_holder[pid]
        if b_defaulted[d] or b_defaulted[h]:
            continue
        a = b_amount[pid]
        new_due = day + b_distance[pid]
        b_due[pid] = new_due
        b_state[pid] = OPEN
        b_rolled[pid] = 1
        append_due(ints, floats, pid, new_due)
        have = cash[h]
        lend = a if have >= a else have
        cash[h] = have - lend
        cash[d] += lend
