"""The dealer market of the active regime (MODEL.md §5) as compiled code.

Each day, before settlement, customers short of cash sell claims they hold and customers with
spare cash buy claims, always against a market maker: the dealer of the claim's maturity bucket
(at its inventory-sensitive quotes) or, failing that, the VBT at the outside quotes.

What the market knows of every agent (§5.5) is kept up to date incrementally (the *book*): it
starts from the scenario and, before each market phase, applies only what changed since the last
one — the rows that fell due that day and the liabilities of agents expelled since. O_i(d)
(``owed``) and R_i(d) (``held``) are rows of agent × day; days before today are never read again.
A claim in the book is held by ``book_holder[row]``: a customer keeps its claims in a linked list,
a market maker counts them per due day (``stock_count``) and finds them through the positive
original rows of that day (``pos_rows``), already in row order.
"""

from __future__ import annotations

import math

import numpy as np

from .layout import (
    EPS,
    F_AMOUNT,
    F_CASH,
    F_CLAIM_FACE,
    F_FPARAM,
    F_FSTAT,
    F_GAP,
    F_HELD,
    F_INVENTORY,
    F_OWED,
    F_QUOTES,
    F_SMALLEST,
    F_TRADE_FLOAT,
    FP_BASE_PREMIUM,
    FP_BUY_MULTIPLIER,
    FP_LOT,
    FP_MID,
    FP_PRIOR_P,
    FP_PRIOR_W,
    FP_SPREAD,
    FP_URGENCY,
    FS_DEALER_VALUE0,
    FS_VBT_VALUE0,
    FS_VOLUME_CASH,
    FS_VOLUME_FACE,
    I_BOOK_HOLDER,
    I_BUYERS,
    I_CACHES,
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
    I_KSTAR,
    I_MT,
    I_OFFERS,
    I_PENDING,
    I_PENDING_CLAIMS,
    I_POS_ROWS,
    I_POS_START,
    I_ROLLED,
    I_ROW_NEXT,
    I_SELLERS,
    I_SETTLED_ON,
    I_SLOT_OF,
    I_SOLD,
    I_STATE,
    I_STOCK_COUNT,
    I_TRADE_INT,
    IP_BOOK_WIDTH,
    IP_DEALER,
    IP_DEALER_SUM,
    IP_LOOKBACK,
    IP_MARKET_HORIZON,
    IP_MT_KEY,
    IP_MT_KEY_LENGTH,
    IP_N_AGENTS,
    IP_N_ROWS,
    IP_N_TRADERS,
    IP_RISK,
    IP_TRADE_CAP,
    IP_VBT,
    IP_VBT_SUM,
    IS_FIRST_DUE,
    IS_LOG_OVERFLOW,
    IS_MARKET_LAST_DUE,
    IS_N_BUYS,
    IS_N_DEFAULTED,
    IS_N_INTERIOR,
    IS_N_KNOWN_DEFAULTED,
    IS_N_LOGGED,
    IS_N_PASSTHROUGH,
    IS_N_PENDING,
    IS_N_PENDING_CLAIMS,
    IS_N_REJECTED_BUYS,
    IS_N_REJECTED_SELLS,
    IS_N_SELLS,
    IS_N_TRADES,
    IS_N_UNFILLED_SELLS,
    IS_PENDING_DAY,
    NO_DAY,
    OPEN,
    TRADE_FLOATS,
    TRADE_INTS,
    float_field,
    int_field,
    kernel,
)
from .mt import seed_words, shuffle

UNKNOWN = -2  # a cache entry not computed yet today
SELL, BUY = 0, 1


@kernel
def dealer_quotes(mid, spread, x, cash, lot):
    """The dealer kernel of §5.3: (bid, ask, capacity X*) for inventory ``x`` and ``cash``.

    ``spread`` is the bucket's VBT spread O and ``lot`` the lot size S. The bid is capped at the
    mid and the ask never falls below the VBT's bid.
    """
    outside_ask = mid + spread / 2
    outside_bid = max(0.0, mid - spread / 2)
    if mid <= 0.02:
        return outside_bid, outside_ask, 0.0
    value = mid * x + cash
    capacity = lot * np.floor(value / (mid * lot) + 1e-9)  # a float: no int64 overflow
    inside = lot / (capacity + lot) * spread
    centre = mid - spread * (x - capacity / 2) / (capacity + 2 * lot)
    bid = min(mid, max(outside_bid, centre - inside / 2))
    ask = min(outside_ask, max(outside_bid, centre + inside / 2))
    return bid, ask, capacity


@kernel
def bucket_of(days):
    """Maturity bucket of a remaining maturity (§5.1): 0 short, 1 mid, 2 long, −1 none."""
    if days < 1:
        return -1
    if days <= 3:
        return 0
    if days <= 8:
        return 1
    return 2


@kernel
def bucket_days(ints, floats, bucket, day):
    """The due days [first, last] whose remaining maturity on ``day`` lies in ``bucket``."""
    b_iparam = int_field(ints, I_IPARAM)
    last_day = b_iparam[IP_BOOK_WIDTH] - 1
    if bucket == 0:
        return day + 1, min(day + 3, last_day)
    if bucket == 1:
        return day + 4, min(day + 8, last_day)
    return day + 9, last_day


@kernel
def outside_bid(ints, floats, bucket):
    b_fparam = float_field(ints, floats, F_FPARAM)
    return max(0.0, b_fparam[FP_MID] - b_fparam[FP_SPREAD + bucket] / 2)


@kernel
def outside_ask(ints, floats, bucket):
    b_fparam = float_field(ints, floats, F_FPARAM)
    return b_fparam[FP_MID] + b_fparam[FP_SPREAD + bucket] / 2


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


# -- the day -----------------------------------------------------------------------------------


@kernel
def default_probability(ints, floats, day):
    """p of §5.6 from the original payables due in the lookback window before ``day``."""
    b_iparam = int_field(ints, I_IPARAM)
    b_fparam = float_field(ints, floats, F_FPARAM)
    b_pos_start = int_field(ints, I_POS_START)
    b_hist_failed = int_field(ints, I_HIST_FAILED)
    b_settled_on = int_field(ints, I_SETTLED_ON)
    b_pos_rows = int_field(ints, I_POS_ROWS)
    p, f = b_iparam, b_fparam
    due_in_window = failed = 0
    for d in range(max(0, day - p[IP_LOOKBACK]), day):
        start, end = b_pos_start[d], b_pos_start[d + 1]
        if b_hist_failed[d] < 0:  # day d is over: its count never changes again
            n = 0
            for k in range(start, end):
                n += b_settled_on[b_pos_rows[k]] != d
            b_hist_failed[d] = n
        due_in_window += end - start
        failed += b_hist_failed[d]
    return (f[FP_PRIOR_W] * f[FP_PRIOR_P] + failed) / (f[FP_PRIOR_W] + due_in_window)


@kernel
def trade(ints, floats, day):
    """The day's market phase: sellers first, then buyers, each group in shuffled order."""
    b_iparam = int_field(ints, I_IPARAM)
    b_istat = int_field(ints, I_ISTAT)
    b_caches = int_field(ints, I_CACHES)
    b_kstar = int_field(ints, I_KSTAR)
    b_sold = int_field(ints, I_SOLD)
    b_expelled = int_field(ints, I_EXPELLED)
    b_cash = float_field(ints, floats, F_CASH)
    b_gap = float_field(ints, floats, F_GAP)
    b_sellers = int_field(ints, I_SELLERS)
    b_mt = int_field(ints, I_MT)
    b_buyers = int_field(ints, I_BUYERS)
    b_owed = float_field(ints, floats, F_OWED)
    p, s = b_iparam, b_istat
    if day >= s[IS_MARKET_LAST_DUE]:
        # Only claims with τ ≥ 1 trade and no original payable falls due after this day, so no
        # offer, purchase or refusal can happen any more; the market's random draws feed
        # nothing but the market, so skipping them changes no result.
        return
    sync(ints, floats, day)
    prob = default_probability(ints, floats, day)
    for k in range(3):
        b_caches[k] = 0  # quotes, then inventory (3..5), then smallest (6..11)
        b_caches[3 + k] = 0
    for k in range(6):
        b_caches[6 + k] = 0
    s[IS_FIRST_DUE] = UNKNOWN
    horizon, width = p[IP_MARKET_HORIZON], p[IP_BOOK_WIDTH]
    n_sellers = 0
    for i in range(p[IP_N_TRADERS]):  # the customers, in order H1..Hn
        b_kstar[i] = -1
        b_sold[i] = 0
        if b_expelled[i]:
            continue
        # cheap test first: every gap is at most Σ O − cash
        if owed_within(ints, floats, i, day, horizon) - b_cash[i] > EPS:
            k_star, g = shortfall(ints, floats, i, day, horizon)
            if k_star >= 0:
                b_kstar[i] = k_star
                b_gap[i] = g
                b_sellers[n_sellers] = i
                n_sellers += 1
    shuffle(b_mt, b_sellers, n_sellers)
    for k in range(n_sellers):
        sell(ints, floats, b_sellers[k], day, prob)
    n_buyers = 0
    for i in range(p[IP_N_TRADERS]):
        if not b_expelled[i] and b_kstar[i] < 0:
            b_buyers[n_buyers] = i
            n_buyers += 1
    shuffle(b_mt, b_buyers, n_buyers)
    for k in range(n_buyers):
        i = b_buyers[k]
        # a purchase must fall due before the buyer's next obligation (of positive amount):
        # skip a buyer with an obligation on or before the first due day on offer
        first = first_due_on_offer(ints, floats, day)
        if first == NO_DAY:
            continue
        base, busy = i * width, False
        for d in range(day, first + 1):
            if b_owed[base + d] > 0:
                busy = True
                break
        if not busy:
            buy(ints, floats, i, day, prob)


@kernel
def quotes(ints, floats, bucket, day):
    """The bucket dealer's current (bid, ask, capacity); cached until it next trades."""
    b_caches = int_field(ints, I_CACHES)
    b_iparam = int_field(ints, I_IPARAM)
    b_fparam = float_field(ints, floats, F_FPARAM)
    b_cash = float_field(ints, floats, F_CASH)
    b_quotes = float_field(ints, floats, F_QUOTES)
    if b_caches[bucket] == 0:
        dealer = b_iparam[IP_DEALER + bucket]
        f = b_fparam
        bid, ask, cap = dealer_quotes(
            f[FP_MID],
            f[FP_SPREAD + bucket],
            inventory(ints, floats, bucket, day),
            b_cash[dealer],
            f[FP_LOT],
        )
        b_quotes[3 * bucket] = bid
        b_quotes[3 * bucket + 1] = ask
        b_quotes[3 * bucket + 2] = cap
        b_caches[bucket] = 1
    return b_quotes[3 * bucket], b_quotes[3 * bucket + 1], b_quotes[3 * bucket + 2]


@kernel
def inventory(ints, floats, bucket, day):
    """x: face of the dealer's claims whose remaining maturity is in its bucket today."""
    b_caches = int_field(ints, I_CACHES)
    b_iparam = int_field(ints, I_IPARAM)
    b_slot_of = int_field(ints, I_SLOT_OF)
    b_stock_count = int_field(ints, I_STOCK_COUNT)
    b_pos_start = int_field(ints, I_POS_START)
    b_pos_rows = int_field(ints, I_POS_ROWS)
    b_book_holder = int_field(ints, I_BOOK_HOLDER)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_inventory = float_field(ints, floats, F_INVENTORY)
    if b_caches[3 + bucket] == 0:
        dealer = b_iparam[IP_DEALER + bucket]
        slot, width = b_slot_of[dealer], b_iparam[IP_BOOK_WIDTH]
        first, last = bucket_days(ints, floats, bucket, day)
        x = 0.0
        for d in range(first, last + 1):
            left = b_stock_count[slot * width + d]
            k = b_pos_start[d]
            while left > 0:
                pid = b_pos_rows[k]
                if b_book_holder[pid] == dealer:
                    x += b_amount[pid]
                    left -= 1
                k += 1
        b_inventory[bucket] = x
        b_caches[3 + bucket] = 1
    return b_inventory[bucket]


@kernel
def exchange(ints, floats, pid, buyer, seller, price, available):
    """The claim goes to ``buyer`` for min(price, available) cash; returns the cash paid."""
    b_cash = float_field(ints, floats, F_CASH)
    b_holder = int_field(ints, I_HOLDER)
    paid = min(price, available)
    b_cash[buyer] -= paid
    b_cash[seller] += paid
    move_claim(ints, floats, pid, seller, buyer)
    b_holder[pid] = buyer
    return paid


# -- sellers -----------------------------------------------------------------------------------


@kernel
def sell(ints, floats, i, day, prob):
    """Offer the seller's late claims, earliest due first, until its shortfall is covered."""
    b_fparam = float_field(ints, floats, F_FPARAM)
    b_kstar = int_field(ints, I_KSTAR)
    b_gap = float_field(ints, floats, F_GAP)
    b_iparam = int_field(ints, I_IPARAM)
    b_cl_head = int_field(ints, I_CL_HEAD)
    b_due = int_field(ints, I_DUE)
    b_offers = int_field(ints, I_OFFERS)
    b_cl_next = int_field(ints, I_CL_NEXT)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_cash = float_field(ints, floats, F_CASH)
    b_istat = int_field(ints, I_ISTAT)
    b_claim_face = float_field(ints, floats, F_CLAIM_FACE)
    b_sold = int_field(ints, I_SOLD)
    f = b_fparam
    k_star, g = b_kstar[i], b_gap[i]
    n_rows = b_iparam[IP_N_ROWS]
    n = 0
    pid = b_cl_head[i]
    while pid >= 0:  # the offers, sorted by (due day, row)
        if b_due[pid] > day + k_star:
            key = b_due[pid] * n_rows + pid
            k = n
            while k > 0 and b_due[b_offers[k - 1]] * n_rows + b_offers[k - 1] > key:
                b_offers[k] = b_offers[k - 1]
                k -= 1
            b_offers[k] = pid
            n += 1
        pid = b_cl_next[pid]
    proceeds = 0.0
    for k in range(n):
        if proceeds >= g - EPS:
            break
        pid = b_offers[k]
        face = b_amount[pid]
        bucket = bucket_of(b_due[pid] - day)
        dealer, vbt = b_iparam[IP_DEALER + bucket], b_iparam[IP_VBT + bucket]
        bid, _, capacity = quotes(ints, floats, bucket, day)
        x = inventory(ints, floats, bucket, day)
        if x + face <= capacity + EPS and b_cash[dealer] >= bid * face - EPS:
            maker, unit = dealer, bid
        elif b_cash[vbt] >= outside_bid(ints, floats, bucket) * face - EPS:
            maker, unit = vbt, outside_bid(ints, floats, bucket)
        else:
            b_istat[IS_N_UNFILLED_SELLS] += 1
            continue
        wealth = b_cash[i] + (1 - prob) * b_claim_face[i]
        threshold = math.nan  # with risk assessment off, every sale is accepted
        if b_iparam[IP_RISK]:
            # §5.6: the lowest unit price accepted, (1 − p) + θ with θ = θ0 − u·g/W
            theta = f[FP_BASE_PREMIUM] - f[FP_URGENCY] * g / wealth if wealth > 0 else -1.0
            threshold = (1 - prob) + theta
            if unit < threshold - EPS:
                b_istat[IS_N_REJECTED_SELLS] += 1
                continue
        paid = exchange(ints, floats, pid, maker, i, unit * face, b_cash[maker])
        proceeds += paid
        b_sold[i] = 1
        record(
            ints,
            floats,
            day,
            SELL,
            i,
            maker,
            pid,
            unit,
            paid,
            maker == dealer,
            prob,
            g,
            wealth,
            threshold,
        )


# -- buyers ------------------------------------------------------------------------------------


@kernel
def buy(ints, floats, i, day, prob):
    """Buy at most one claim, trying the buckets short → mid → long."""
    b_fparam = float_field(ints, floats, F_FPARAM)
    b_cash = float_field(ints, floats, F_CASH)
    b_iparam = int_field(ints, I_IPARAM)
    b_istat = int_field(ints, I_ISTAT)
    b_amount = float_field(ints, floats, F_AMOUNT)
    f = b_fparam
    before = next_obligation(ints, floats, i, day)
    free = max(0.0, b_cash[i] - owed_within(ints, floats, i, day, b_iparam[IP_MARKET_HORIZON]))
    for bucket in range(3):
        dealer, vbt = b_iparam[IP_DEALER + bucket], b_iparam[IP_VBT + bucket]
        maker, unit, pid = dealer, 0.0, -1
        if first_due(ints, floats, dealer, bucket, day) < before:  # else nothing is early enough
            unit = quotes(ints, floats, bucket, day)[1]
            pid = candidate(ints, floats, dealer, bucket, i, unit, free, before, day)
        if pid < 0:
            if first_due(ints, floats, vbt, bucket, day) >= before:
                continue
            maker, unit = vbt, outside_ask(ints, floats, bucket)
            pid = candidate(ints, floats, vbt, bucket, i, unit, free, before, day)
            if pid < 0:
                continue
        premium = f[FP_BUY_MULTIPLIER] * f[FP_BASE_PREMIUM]
        if b_iparam[IP_RISK]:  # §5.6: accepted iff 1 − p ≥ unit + m·θ0
            accepted, limit = (1 - prob) >= unit + premium - EPS, (1 - prob) - premium
        else:
            accepted, limit = unit <= 1 + EPS, 1.0
        if not accepted:
            b_istat[IS_N_REJECTED_BUYS] += 1
            continue
        paid = exchange(ints, floats, pid, i, maker, unit * b_amount[pid], free)
        record(ints, floats, day, BUY, i, maker, pid, unit, paid, maker == dealer, prob, math.nan,
               math.nan, limit)  # fmt: skip
        return


@kernel
def first_due(ints, floats, maker, bucket, day):
    """Due day of the maker's earliest in-bucket claim (NO_DAY if it holds none)."""
    b_slot_of = int_field(ints, I_SLOT_OF)
    b_iparam = int_field(ints, I_IPARAM)
    b_stock_count = int_field(ints, I_STOCK_COUNT)
    slot, width = b_slot_of[maker], b_iparam[IP_BOOK_WIDTH]
    first, last = bucket_days(ints, floats, bucket, day)
    for d in range(first, last + 1):
        if b_stock_count[slot * width + d] > 0:
            return d
    return NO_DAY


@kernel
def first_due_on_offer(ints, floats, day):
    """Earliest due day of any claim on offer today (cached until the next trade)."""
    b_istat = int_field(ints, I_ISTAT)
    b_iparam = int_field(ints, I_IPARAM)
    s, p = b_istat, b_iparam
    if s[IS_FIRST_DUE] == UNKNOWN:
        first = NO_DAY
        for bucket in range(3):
            first = min(first, first_due(ints, floats, p[IP_DEALER + bucket], bucket, day))
            first = min(first, first_due(ints, floats, p[IP_VBT + bucket], bucket, day))
        s[IS_FIRST_DUE] = first
    return s[IS_FIRST_DUE]


@kernel
def candidate(ints, floats, maker, bucket, buyer, unit, free, before, day):
    """The maker's earliest-due, lowest-row claim in ``bucket`` that the buyer may take (−1)."""
    b_slot_of = int_field(ints, I_SLOT_OF)
    b_iparam = int_field(ints, I_IPARAM)
    b_caches = int_field(ints, I_CACHES)
    b_stock_count = int_field(ints, I_STOCK_COUNT)
    b_pos_start = int_field(ints, I_POS_START)
    b_pos_rows = int_field(ints, I_POS_ROWS)
    b_book_holder = int_field(ints, I_BOOK_HOLDER)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_smallest = float_field(ints, floats, F_SMALLEST)
    b_debtor = int_field(ints, I_DEBTOR)
    b_sold = int_field(ints, I_SOLD)
    b_defaulted = int_field(ints, I_DEFAULTED)
    slot, width = b_slot_of[maker], b_iparam[IP_BOOK_WIDTH]
    first, last = bucket_days(ints, floats, bucket, day)
    if b_caches[6 + slot] == 0:
        smallest = math.inf
        for d in range(first, last + 1):
            left, k = b_stock_count[slot * width + d], b_pos_start[d]
            while left > 0:
                pid = b_pos_rows[k]
                if b_book_holder[pid] == maker:
                    smallest = min(smallest, b_amount[pid])
                    left -= 1
                k += 1
        b_smallest[slot] = smallest
        b_caches[6 + slot] = 1
    if free < unit * b_smallest[slot] - EPS:
        return -1  # not even the smallest claim is affordable
    for d in range(first, last + 1):
        left, k = b_stock_count[slot * width + d], b_pos_start[d]
        while left > 0:
            pid = b_pos_rows[k]
            k += 1
            if b_book_holder[pid] != maker:
                continue
            left -= 1
            if d >= before:
                return -1  # by due day: every later claim is due too late as well
            issuer = b_debtor[pid]
            if issuer == buyer or b_sold[issuer] or b_defaulted[issuer]:
                continue
            if free >= unit * b_amount[pid] - EPS:
                return pid
    return -1


@kernel
def record(
    ints, floats, day, side, customer, maker, pid, unit, paid, interior, prob, g, wealth, limit
):
    """Count a trade, drop the caches it made stale, and log it if the run keeps a log."""
    b_istat = int_field(ints, I_ISTAT)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_caches = int_field(ints, I_CACHES)
    b_slot_of = int_field(ints, I_SLOT_OF)
    b_due = int_field(ints, I_DUE)
    b_inventory = float_field(ints, floats, F_INVENTORY)
    b_fstat = float_field(ints, floats, F_FSTAT)
    b_iparam = int_field(ints, I_IPARAM)
    b_trade_int = int_field(ints, I_TRADE_INT)
    b_trade_float = float_field(ints, floats, F_TRADE_FLOAT)
    s = b_istat
    face = b_amount[pid]
    b_caches[6 + b_slot_of[maker]] = 0
    s[IS_FIRST_DUE] = UNKNOWN
    bucket = bucket_of(b_due[pid] - day)
    if interior:
        b_caches[bucket] = 0
        if b_caches[3 + bucket]:
            b_inventory[bucket] += face if side == SELL else -face
    s[IS_N_TRADES] += 1
    s[IS_N_SELLS] += side == SELL
    s[IS_N_BUYS] += side == BUY
    s[IS_N_INTERIOR] += interior
    s[IS_N_PASSTHROUGH] += not interior
    b_fstat[FS_VOLUME_FACE] += face
    b_fstat[FS_VOLUME_CASH] += paid
    k = s[IS_N_LOGGED]
    if k < b_iparam[IP_TRADE_CAP]:
        ints, floats = b_trade_int, b_trade_float
        base = k * TRADE_INTS
        ints[base], ints[base + 1], ints[base + 2] = day, side, customer
        ints[base + 3], ints[base + 4], ints[base + 5] = maker, pid, interior
        base = k * TRADE_FLOATS
        floats[base], floats[base + 1], floats[base + 2] = unit, paid, prob
        floats[base + 3], floats[base + 4], floats[base + 5] = g, wealth, limit
        s[IS_N_LOGGED] = k + 1
    elif b_iparam[IP_TRADE_CAP] > 0:
        s[IS_LOG_OVERFLOW] = 1
