"""Metrics of one run (MODEL.md §4, §5.7), measured into ``fstat`` when the run ends."""

from __future__ import annotations

import math

from .book import maker_value
from .layout import (
    F_AMOUNT,
    F_FSTAT,
    F_METRIC_NET,
    FS_ALPHA,
    FS_DAY1,
    FS_DEALER_PNL,
    FS_DEALER_VALUE0,
    FS_GROSS,
    FS_HHI,
    FS_MPEAK,
    FS_RING_TOTAL,
    FS_RING_UNPAID,
    FS_TOTAL,
    FS_UNPAID,
    FS_VBT_PNL,
    FS_VBT_VALUE0,
    I_CREDITOR,
    I_D1_PAYEE,
    I_D1_PID,
    I_DEBTOR,
    I_DISTANCE,
    I_IPARAM,
    I_ISTAT,
    I_METRIC_ORDER,
    I_SETTLED_ON,
    IP_ACTIVE,
    IP_DEALER_SUM,
    IP_N_AGENTS,
    IP_N_ROWS,
    IP_RING_TRADERS,
    IP_VBT_SUM,
    IS_CLEARS,
    IS_N_D1,
    float_field,
    int_field,
    kernel,
)


@kernel
def measure(ints, floats):
    b_iparam = int_field(ints, I_IPARAM)
    b_fstat = float_field(ints, floats, F_FSTAT)
    face_totals(ints, floats)
    day_one_stats(ints, floats)
    peak_liquidity(ints, floats)
    if b_iparam[IP_ACTIVE]:
        f = b_fstat
        f[FS_DEALER_PNL] = maker_value(ints, floats, IP_DEALER_SUM) - f[FS_DEALER_VALUE0]
        f[FS_VBT_PNL] = maker_value(ints, floats, IP_VBT_SUM) - f[FS_VBT_VALUE0]


@kernel
def face_totals(ints, floats):
    """Total and unpaid original face, payables cleared on their due day; the same for the
    ring's own payables (debtor and original creditor both traders: ``delta_ring``)."""
    b_iparam = int_field(ints, I_IPARAM)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_settled_on = int_field(ints, I_SETTLED_ON)
    b_distance = int_field(ints, I_DISTANCE)
    b_debtor = int_field(ints, I_DEBTOR)
    b_creditor = int_field(ints, I_CREDITOR)
    b_fstat = float_field(ints, floats, F_FSTAT)
    b_istat = int_field(ints, I_ISTAT)
    traders = b_iparam[IP_RING_TRADERS]
    total = unpaid = ring_total = ring_unpaid = 0.0
    clears = 0
    for pid in range(b_iparam[IP_N_ROWS]):
        a = b_amount[pid]
        paid = b_settled_on[pid] == b_distance[pid]  # distance = the original due day
        total += a
        if paid:
            clears += 1
        else:
            unpaid += a
        if b_debtor[pid] < traders and b_creditor[pid] < traders:
            ring_total += a
            if not paid:
                ring_unpaid += a
    f = b_fstat
    f[FS_TOTAL], f[FS_UNPAID] = total, unpaid
    f[FS_RING_TOTAL], f[FS_RING_UNPAID] = ring_total, ring_unpaid
    b_istat[IS_CLEARS] = clears


@kernel
def day_one_stats(ints, floats):
    """α₁ and HHI⁺₁: scenario statistics of the original payables due on day 1, with their
    original creditors. Net positions are summed in the order agents first appear (so HHI⁺'s
    sum of squares adds in the same order as the Python model did)."""
    b_fstat = float_field(ints, floats, F_FSTAT)
    b_metric_net = float_field(ints, floats, F_METRIC_NET)
    b_metric_order = int_field(ints, I_METRIC_ORDER)
    b_iparam = int_field(ints, I_IPARAM)
    b_distance = int_field(ints, I_DISTANCE)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_debtor = int_field(ints, I_DEBTOR)
    b_creditor = int_field(ints, I_CREDITOR)
    f, net, order = b_fstat, b_metric_net, b_metric_order
    n_seen = 0
    total = 0.0
    for a in range(b_iparam[IP_N_AGENTS]):
        net[a] = math.nan  # not seen yet
    for pid in range(b_iparam[IP_N_ROWS]):
        if b_distance[pid] != 1:
            continue
        a = b_amount[pid]
        total += a
        for agent, change in ((b_debtor[pid], -a), (b_creditor[pid], a)):
            if math.isnan(net[agent]):
                net[agent] = 0.0
                order[n_seen] = agent
                n_seen += 1
            net[agent] += change
    f[FS_DAY1] = 1.0 if n_seen > 0 else 0.0
    mbar = positive = 0.0
    for k in range(n_seen):
        x = net[order[k]]
        if x < 0:
            mbar += -x
        elif x > 0:
            positive += x
    f[FS_ALPHA] = 1 - mbar / total if total > 0 else math.nan
    hhi = 0.0
    for k in range(n_seen):
        x = net[order[k]]
        if x > 0:
            hhi += (x / positive) ** 2
    f[FS_HHI] = hhi if positive > 0 else math.nan


@kernel
def peak_liquidity(ints, floats):
    """Mpeak₁ and gross₁: replay day 1's payments in full in order; the peak of Σ max(Δ_i, 0)."""
    b_metric_net = float_field(ints, floats, F_METRIC_NET)
    b_iparam = int_field(ints, I_IPARAM)
    b_istat = int_field(ints, I_ISTAT)
    b_d1_pid = int_field(ints, I_D1_PID)
    b_amount = float_field(ints, floats, F_AMOUNT)
    b_debtor = int_field(ints, I_DEBTOR)
    b_d1_payee = int_field(ints, I_D1_PAYEE)
    b_fstat = float_field(ints, floats, F_FSTAT)
    delta = b_metric_net
    for a in range(b_iparam[IP_N_AGENTS]):
        delta[a] = 0.0
    positive = peak = gross = 0.0
    for k in range(b_istat[IS_N_D1]):
        pid = b_d1_pid[k]
        a = b_amount[pid]
        for agent, change in ((b_debtor[pid], a), (b_d1_payee[k], -a)):
            old = delta[agent]
            new = old + change
            delta[agent] = new
            positive += max(new, 0.0) - max(old, 0.0)
        peak = max(peak, positive)
        gross += a
    b_fstat[FS_MPEAK], b_fstat[FS_GROSS] = peak, gross
