"""Prices and what market makers hold (MODEL.md §5.2–5.4): the dealer kernel, the buckets,
each dealer's inventory and quotes of the day, and the claims a buyer may take from a maker."""

from __future__ import annotations

import math

import numpy as np

from .layout import (
    EPS,
    F_AMOUNT,
    F_CASH,
    F_FPARAM,
    F_INVENTORY,
    F_QUOTES,
    F_SMALLEST,
    FP_LOT,
    FP_MID,
    FP_SPREAD,
    I_BOOK_HOLDER,
    I_CACHES,
    I_DEBTOR,
    I_DEFAULTED,
    I_IPARAM,
    I_ISTAT,
    I_POS_ROWS,
    I_POS_START,
    I_SLOT_OF,
    I_SOLD,
    I_STOCK_COUNT,
    IP_BOOK_WIDTH,
    IP_DEALER,
    IP_VBT,
    IS_FIRST_DUE,
    NO_DAY,
    float_field,
    int_field,
    kernel,
)

UNKNOWN = -2  # a cache entry not computed yet today


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
