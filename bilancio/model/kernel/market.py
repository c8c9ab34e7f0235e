"""The dealer market of the active regime (MODEL.md §5) as compiled code: the day's phase.

Each day, before settlement, customers short of cash sell claims they hold and customers with
spare cash buy claims, always against a market maker: the dealer of the claim's maturity bucket
(at its inventory-sensitive quotes) or, failing that, the VBT at the outside quotes. What the
market knows of every agent is the book (``book.py``); prices are in ``quotes.py``.
"""

from __future__ import annotations

import math

from .book import move_claim, next_obligation, owed_within, shortfall, sync
from .layout import (
    EPS,
    F_AMOUNT,
    F_CASH,
    F_CLAIM_FACE,
    F_FPARAM,
    F_FSTAT,
    F_GAP,
    F_INVENTORY,
    F_OWED,
    F_TRADE_FLOAT,
    FP_BASE_PREMIUM,
    FP_BUY_MULTIPLIER,
    FP_PRIOR_P,
    FP_PRIOR_W,
    FP_URGENCY,
    FS_VOLUME_CASH,
    FS_VOLUME_FACE,
    I_BUYERS,
    I_CACHES,
    I_CL_HEAD,
    I_CL_NEXT,
    I_DUE,
    I_EXPELLED,
    I_HIST_FAILED,
    I_HOLDER,
    I_IPARAM,
    I_ISTAT,
    I_KSTAR,
    I_MT,
    I_OFFERS,
    I_POS_ROWS,
    I_POS_START,
    I_SELLERS,
    I_SETTLED_ON,
    I_SLOT_OF,
    I_SOLD,
    I_TRADE_INT,
    IP_BOOK_WIDTH,
    IP_DEALER,
    IP_LOOKBACK,
    IP_MARKET_HORIZON,
    IP_N_ROWS,
    IP_N_TRADERS,
    IP_RISK,
    IP_TRADE_CAP,
    IP_VBT,
    IS_FIRST_DUE,
    IS_LOG_OVERFLOW,
    IS_MARKET_LAST_DUE,
    IS_N_BUYS,
    IS_N_INTERIOR,
    IS_N_LOGGED,
    IS_N_PASSTHROUGH,
    IS_N_REJECTED_BUYS,
    IS_N_REJECTED_SELLS,
    IS_N_SELLS,
    IS_N_TRADES,
    IS_N_UNFILLED_SELLS,
    NO_DAY,
    TRADE_FLOATS,
    TRADE_INTS,
    float_field,
    int_field,
    kernel,
)
from .mt import shuffle
from .quotes import (
    UNKNOWN,
    bucket_of,
    candidate,
    first_due,
    first_due_on_offer,
    inventory,
    outside_ask,
    outside_bid,
    quotes,
)

SELL, BUY = 0, 1


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
