"""What the market knows of every agent (MODEL.md §5.5), kept up to date incrementally.

The book starts from the scenario and, before each market phase, applies only what changed since
the last one — the rows that fell due that day and the liabilities of agents expelled since.
O_i(d) (``owed``) and R_i(d) (``held``) are rows of agent × day; days before today are never read
again. A claim in the book is held by ``book_holder[row]``: a customer keeps its claims in a
linked list, a market maker counts them per due day (``stock_count``) and finds them through the
positive original rows of that day (``pos_rows``), already in row order.
"""

from __future__ import annotations

from .layout import (
    EPS,
    F_AMOUNT,
    F_CASH,
    F_CLAIM_FACE,
    F_FPARAM,
    F_FSTAT,
    F_HELD,
    F_OWED,
    FP_MID,
    FS_DEALER_VALUE0,
    FS_VBT_VALUE0,
    I_BOOK_HOLDER,
    I_CL_HEAD,
    I_CL_NEXT,
    I_CL_PREV,
    I_DAY_HEAD,
    I_DEBT_ROWS,
    I_DEBT_START,
    I_DEBTOR,
    I_DEFAULTED,
    I_DISTANCE,
    I_DUE,
    I_EXPELLED,
    I_HIST_FAILED,
    I_HOLDER,
    I_IPARAM,
    I_ISTAT,
    I_MT,
    I_OFFERS,
    I_PENDING,
    I_PENDING_CLAIMS,
    I_POS_ROWS,
    I_POS_START,
    I_ROLLED,
    I_ROW_NEXT,
    I_SLOT_OF,
    I_STATE,
    I_STOCK_COUNT,
    IP_BOOK_WIDTH,
    IP_DEALER_SUM,
    IP_MT_KEY,
    IP_MT_KEY_LENGTH,
    IP_N_AGENTS,
    IP_N_ROWS,
    IP_VBT_SUM,
    IS_MARKET_LAST_DUE,
    IS_N_DEFAULTED,
    IS_N_KNOWN_DEFAULTED,
    IS_N_PENDING,
    IS_N_PENDING_CLAIMS,
    IS_PENDING_DAY,
    NO_DAY,
    OPEN,
    float_field,
    int_field,
    kernel,
)
from .mt import seed_words

# -- setup -------------------------------------------------------------------------------------


@kernel
def market_setup(ints, floats):
    """The book from the scenario, the rows by due day and by debtor, the makers' values, and
    the market's random stream, ``random.Random(seed + 1_000_003)``."""
    b_iparam = int_field(ints, I_IPARAM)
    key_length = b_iparam[IP_MT_KEY_LENGTH]
    seed_words(int_field(ints, I_MT), b_iparam[IP_MT_KEY : IP_MT_KEY + key_length], key_length)
    b_istat = int_field(ints, I_ISTAT)
    b_book_holder = int_field(ints, I_BOOK_HOLDER)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_pos_start = int_field(ints, I_POS_START)
    b_due = int_field(ints, I_DUE)
    b_debt_start = int_field(ints, I_DEBT_START)
    b_debtor = int_field(ints, I_DEBTOR)
    b_hist_failed = int_field(ints, I_HIST_FAILED)
    b_cl_head = int_field(ints, I_CL_HEAD)
    b_pos_rows = int_field(ints, I_POS_ROWS)
    b_offers = int_field(ints, I_OFFERS)
    b_debt_rows = int_field(ints, I_DEBT_ROWS)
    b_state = int_field(ints, I_STATE)
    b_defaulted = int_field(ints, I_DEFAULTED)
    b_holder = int_field(ints, I_HOLDER)
    b_fstat = float_field(ints, floats, F_FSTAT)
    p, s = b_iparam, b_istat
    width, n_rows = p[IP_BOOK_WIDTH], p[IP_N_ROWS]
    last_due = 0
    for pid in range(n_rows):
        b_book_holder[pid] = -1
        if b_amount[pid] > 0:
            b_pos_start[b_due[pid] + 1] += 1
            last_due = max(last_due, b_due[pid])
        b_debt_start[b_debtor[pid] + 1] += 1
    for d in range(width):
        b_pos_start[d + 1] += b_pos_start[d]
        b_hist_failed[d] = -1
    for a in range(p[IP_N_AGENTS]):
        b_debt_start[a + 1] += b_debt_start[a]
        b_cl_head[a] = -1
    # counting sort, stable: row order within a day and within a debtor
    fill_csr(b_pos_start, b_pos_rows, b_due, b_amount, n_rows, True, b_offers)
    fill_csr(b_debt_start, b_debt_rows, b_debtor, b_amount, n_rows, False, b_offers)
    s[IS_MARKET_LAST_DUE] = last_due
    s[IS_PENDING_DAY] = -1
    for pid in range(n_rows):
        if b_state[pid] == OPEN and b_defaulted[b_debtor[pid]] == 0:
            add_row(ints, floats, pid)
            if b_amount[pid] > 0:
                take_claim(ints, floats, pid, b_holder[pid])
    b_fstat[FS_DEALER_VALUE0] = maker_value(ints, floats, IP_DEALER_SUM)
    b_fstat[FS_VBT_VALUE0] = maker_value(ints, floats, IP_VBT_SUM)


@kernel
def fill_csr(start, rows, key, amount, n_rows, positive_only, cursor):
    """Rows grouped by ``key`` in row order, given the group starts (``cursor``: scratch)."""
    for g in range(len(start) - 1):
        cursor[g] = start[g]
    for pid in range(n_rows):
        if positive_only and amount[pid] <= 0:
            continue
        g = key[pid]
        rows[cursor[g]] = pid
        cursor[g] += 1


@kernel
def maker_value(ints, floats, order):
    """Cash plus M·face of live receivables, over the three market makers of a kind.

    ``order`` is where iparam lists them in the order the Python model summed their cash."""
    b_iparam = int_field(ints, I_IPARAM)
    b_holder = int_field(ints, I_HOLDER)
    b_state = int_field(ints, I_STATE)
    b_defaulted = int_field(ints, I_DEFAULTED)
    b_debtor = int_field(ints, I_DEBTOR)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_cash = float_field(ints, floats, F_CASH)
    b_fparam = float_field(ints, floats, F_FPARAM)
    p = b_iparam
    m0, m1, m2 = p[order], p[order + 1], p[order + 2]
    face = 0.0
    for pid in range(p[IP_N_ROWS]):
        h = b_holder[pid]
        live = b_state[pid] == OPEN and b_defaulted[b_debtor[pid]] == 0
        if live and (h == m0 or h == m1 or h == m2):  # noqa: SIM109 (numba: no tuple `in`)
            face += b_amount[pid]
    cash = b_cash[m0] + b_cash[m1] + b_cash[m2]
    return cash + b_fparam[FP_MID] * face


# -- the book ----------------------------------------------------------------------------------


@kernel
def add_row(ints, floats, pid):
    b_iparam = int_field(ints, I_IPARAM)
    b_due = int_field(ints, I_DUE)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_owed = float_field(ints, floats, F_OWED)
    b_debtor = int_field(ints, I_DEBTOR)
    b_held = float_field(ints, floats, F_HELD)
    b_holder = int_field(ints, I_HOLDER)
    width, due, a = b_iparam[IP_BOOK_WIDTH], b_due[pid], b_amount[pid]
    b_owed[b_debtor[pid] * width + due] += a
    b_held[b_holder[pid] * width + due] += a


@kernel
def take_claim(ints, floats, pid, holder):
    b_slot_of = int_field(ints, I_SLOT_OF)
    b_book_holder = int_field(ints, I_BOOK_HOLDER)
    b_stock_count = int_field(ints, I_STOCK_COUNT)
    b_iparam = int_field(ints, I_IPARAM)
    b_due = int_field(ints, I_DUE)
    b_cl_head = int_field(ints, I_CL_HEAD)
    b_cl_next = int_field(ints, I_CL_NEXT)
    b_cl_prev = int_field(ints, I_CL_PREV)
    b_claim_face = float_field(ints, floats, F_CLAIM_FACE)
    b_amount = float_field(ints, floats, F_AMOUNT)
    slot = b_slot_of[holder]
    if slot >= 0:
        b_book_holder[pid] = holder
        b_stock_count[slot * b_iparam[IP_BOOK_WIDTH] + b_due[pid]] += 1
    elif b_book_holder[pid] != holder:
        b_book_holder[pid] = holder
        head = b_cl_head[holder]
        b_cl_next[pid] = head
        b_cl_prev[pid] = -1
        if head >= 0:
            b_cl_prev[head] = pid
        b_cl_head[holder] = pid
        b_claim_face[holder] += b_amount[pid]


@kernel
def release_claim(ints, floats, pid, holder, due):
    b_book_holder = int_field(ints, I_BOOK_HOLDER)
    b_slot_of = int_field(ints, I_SLOT_OF)
    b_distance = int_field(ints, I_DISTANCE)
    b_stock_count = int_field(ints, I_STOCK_COUNT)
    b_iparam = int_field(ints, I_IPARAM)
    b_cl_prev = int_field(ints, I_CL_PREV)
    b_cl_next = int_field(ints, I_CL_NEXT)
    b_cl_head = int_field(ints, I_CL_HEAD)
    b_claim_face = float_field(ints, floats, F_CLAIM_FACE)
    b_amount = float_field(ints, floats, F_AMOUNT)
    if b_book_holder[pid] != holder:
        return
    slot = b_slot_of[holder]
    if slot >= 0:
        if b_distance[pid] == due:  # a maker's claim is filed under its (original) due day
            b_book_holder[pid] = -1
            b_stock_count[slot * b_iparam[IP_BOOK_WIDTH] + due] -= 1
        return
    b_book_holder[pid] = -1
    before, after = b_cl_prev[pid], b_cl_next[pid]
    if before >= 0:
        b_cl_next[before] = after
    else:
        b_cl_head[holder] = after
    if after >= 0:
        b_cl_prev[after] = before
    b_claim_face[holder] -= b_amount[pid]


@kernel
def sync(ints, floats, day):
    """Apply what settlement changed since the last market phase; note today's dues."""
    b_iparam = int_field(ints, I_IPARAM)
    b_istat = int_field(ints, I_ISTAT)
    b_pending = int_field(ints, I_PENDING)
    b_due = int_field(ints, I_DUE)
    b_state = int_field(ints, I_STATE)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_owed = float_field(ints, floats, F_OWED)
    b_debtor = int_field(ints, I_DEBTOR)
    b_held = float_field(ints, floats, F_HELD)
    b_holder = int_field(ints, I_HOLDER)
    b_pending_claims = int_field(ints, I_PENDING_CLAIMS)
    b_defaulted = int_field(ints, I_DEFAULTED)
    b_expelled = int_field(ints, I_EXPELLED)
    b_day_head = int_field(ints, I_DAY_HEAD)
    b_rolled = int_field(ints, I_ROLLED)
    b_row_next = int_field(ints, I_ROW_NEXT)
    p, s = b_iparam, b_istat
    last_day, width = s[IS_PENDING_DAY], p[IP_BOOK_WIDTH]
    if day == last_day:
        return
    for k in range(s[IS_N_PENDING]):
        pid = b_pending[k]
        due = b_due[pid]
        if b_state[pid] == OPEN and due > last_day:  # rolled over: the new instance
            a = b_amount[pid]
            b_owed[b_debtor[pid] * width + due] += a
            b_held[b_holder[pid] * width + due] += a
    for k in range(s[IS_N_PENDING_CLAIMS]):  # settled, defaulted or written off on their day
        pid = b_pending_claims[k]
        release_claim(ints, floats, pid, b_holder[pid], last_day)
    if s[IS_N_DEFAULTED] > s[IS_N_KNOWN_DEFAULTED]:
        for agent in range(p[IP_N_AGENTS]):
            if b_defaulted[agent] and not b_expelled[agent]:
                expel(ints, floats, agent, day)
    n = n_claims = 0
    pid = b_day_head[day]
    while pid >= 0:
        b_pending[n] = pid
        n += 1
        if b_rolled[pid] == 0 and b_amount[pid] > 0:
            b_pending_claims[n_claims] = pid
            n_claims += 1
        pid = b_row_next[pid]
    s[IS_N_PENDING], s[IS_N_PENDING_CLAIMS], s[IS_PENDING_DAY] = n, n_claims, day


@kernel
def expel(ints, floats, agent, day):
    """``agent`` was expelled: its liabilities are written off, it is no longer a customer."""
    b_iparam = int_field(ints, I_IPARAM)
    b_expelled = int_field(ints, I_EXPELLED)
    b_istat = int_field(ints, I_ISTAT)
    b_debt_start = int_field(ints, I_DEBT_START)
    b_debt_rows = int_field(ints, I_DEBT_ROWS)
    b_due = int_field(ints, I_DUE)
    b_state = int_field(ints, I_STATE)
    b_held = float_field(ints, floats, F_HELD)
    b_holder = int_field(ints, I_HOLDER)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_rolled = int_field(ints, I_ROLLED)
    width = b_iparam[IP_BOOK_WIDTH]
    b_expelled[agent] = 1
    b_istat[IS_N_KNOWN_DEFAULTED] += 1
    for k in range(b_debt_start[agent], b_debt_start[agent + 1]):
        pid = b_debt_rows[k]
        due = b_due[pid]
        if b_state[pid] != OPEN or due < day:
            continue  # gone already, or due on a day the book no longer reads
        b_held[b_holder[pid] * width + due] -= b_amount[pid]
        if b_rolled[pid] == 0 and b_amount[pid] > 0:
            release_claim(ints, floats, pid, b_holder[pid], due)


@kernel
def move_claim(ints, floats, pid, seller, buyer):
    b_iparam = int_field(ints, I_IPARAM)
    b_due = int_field(ints, I_DUE)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_held = float_field(ints, floats, F_HELD)
    width, due, a = b_iparam[IP_BOOK_WIDTH], b_due[pid], b_amount[pid]
    b_held[seller * width + due] -= a
    b_held[buyer * width + due] += a
    release_claim(ints, floats, pid, seller, due)
    take_claim(ints, floats, pid, buyer)


@kernel
def owed_within(ints, floats, agent, day, horizon):
    """Σ_{d=day}^{day+horizon} O_i(d)."""
    b_iparam = int_field(ints, I_IPARAM)
    b_owed = float_field(ints, floats, F_OWED)
    base = agent * b_iparam[IP_BOOK_WIDTH]
    total = 0.0
    for d in range(day, day + horizon + 1):
        total += b_owed[base + d]
    return total


@kernel
def shortfall(ints, floats, agent, day, horizon):
    """(k*, g): the first k ≤ horizon with gap_i(k) > 1e−9, and that gap; k* = −1 if none."""
    b_cash = float_field(ints, floats, F_CASH)
    b_iparam = int_field(ints, I_IPARAM)
    b_owed = float_field(ints, floats, F_OWED)
    b_held = float_field(ints, floats, F_HELD)
    cash = b_cash[agent]
    if owed_within(ints, floats, agent, day, horizon) - cash <= EPS:
        return -1, 0.0  # every gap(k) ≤ Σ O − cash
    base = agent * b_iparam[IP_BOOK_WIDTH]
    total_owed = total_held = 0.0
    for k in range(horizon + 1):
        total_owed += b_owed[base + day + k]
        total_held += b_held[base + day + k]
        gap = total_owed - cash - total_held
        if gap > EPS:
            return k, gap
    return -1, 0.0


@kernel
def next_obligation(ints, floats, agent, day):
    """Earliest due day ≥ ``day`` of an obligation of positive amount (NO_DAY if none)."""
    b_iparam = int_field(ints, I_IPARAM)
    b_owed = float_field(ints, floats, F_OWED)
    width = b_iparam[IP_BOOK_WIDTH]
    base = agent * width
    for d in range(day, width):
        if b_owed[base + d] > 0:
            return d
    return NO_DAY
