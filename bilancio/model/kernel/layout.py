"""The layout of a run's state: two arenas, one of int64 and one of float64 numbers.

The compiled kernel takes the whole state of a run as two flat arrays, so one call carries it
across the C boundary. Each named field is a slice of one arena; the int arena starts with a
header of offsets (``int_field``/``float_field`` in :mod:`.engine` read it). Python sees the same
fields as numpy views (:class:`Arenas`), so nothing is copied back and forth.

Everything in this package except ``compile.py`` and ``loader.py`` is plain Python that numba
compiles (``@kernel`` marks the functions); it imports nothing heavy and can run uncompiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

KERNELS: list[Callable[..., Any]] = []


def kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``fn`` for compilation (compile.py replaces it by its numba version)."""
    KERNELS.append(fn)
    return fn


@kernel
def int_field(ints, k):
    """The int field number ``k`` of the int arena, as a view."""
    return ints[ints[k] : ints[k + 1]]


@kernel
def float_field(ints, floats, k):
    """The float field number ``k`` of the float arena, as a view."""
    return floats[ints[N_INT_FIELDS + 1 + k] : ints[N_INT_FIELDS + 2 + k]]


# -- int fields, in arena order --------------------------------------------------------------
INT_FIELDS = (
    "iparam", "istat",  # scalars: parameters, then the run's counters and status
    "defaulted",  # per agent
    "debtor", "creditor", "holder", "due", "distance", "state", "rolled", "settled_on",  # rows
    "day_head", "day_tail", "row_next",  # the rows due on each day, in creation order
    "settled", "d1_pid", "d1_payee",  # scratch: today's settlements; day 1's payments
    "default_agent", "default_day",  # who defaulted, in order (the on_default hook)
    "mt",  # the market's Mersenne Twister state (random.Random.getstate()[1])
    "expelled", "book_holder", "slot_of",  # market book: customers out; who holds a claim
    "cl_head", "cl_next", "cl_prev",  # claims held by each customer (linked lists)
    "stock_count",  # claims per market maker slot and due day
    "pos_start", "pos_rows",  # positive original rows by due day (CSR)
    "debt_start", "debt_rows",  # rows by debtor (CSR)
    "pending", "pending_claims", "hist_failed",  # the book's catch-up and the risk history
    "sold", "sellers", "kstar", "buyers", "offers",  # the day's market phase
    "caches",  # quote/inventory/smallest validity flags of the day
    "trade_int", "metric_order",  # trade log (6 ints a trade); metrics scratch
)  # fmt: skip
FLOAT_FIELDS = (
    "fparam", "fstat", "cash", "amount",
    "owed", "held", "claim_face", "gap",  # market book: O_i(d), R_i(d) by agent × day
    "quotes", "inventory", "smallest",  # the day's caches
    "trade_float", "metric_net",  # trade log (6 floats a trade); metrics scratch
)  # fmt: skip
# field numbers (checked against the lists above by the tests)
(
    I_IPARAM, I_ISTAT, I_DEFAULTED, I_DEBTOR, I_CREDITOR, I_HOLDER, I_DUE, I_DISTANCE, I_STATE,
    I_ROLLED, I_SETTLED_ON, I_DAY_HEAD, I_DAY_TAIL, I_ROW_NEXT, I_SETTLED, I_D1_PID, I_D1_PAYEE,
    I_DEFAULT_AGENT, I_DEFAULT_DAY, I_MT, I_EXPELLED, I_BOOK_HOLDER, I_SLOT_OF, I_CL_HEAD,
    I_CL_NEXT, I_CL_PREV, I_STOCK_COUNT, I_POS_START, I_POS_ROWS, I_DEBT_START, I_DEBT_ROWS,
    I_PENDING, I_PENDING_CLAIMS, I_HIST_FAILED, I_SOLD, I_SELLERS, I_KSTAR, I_BUYERS, I_OFFERS,
    I_CACHES, I_TRADE_INT, I_METRIC_ORDER,
) = range(42)  # fmt: skip
(
    F_FPARAM, F_FSTAT, F_CASH, F_AMOUNT, F_OWED, F_HELD, F_CLAIM_FACE, F_GAP, F_QUOTES,
    F_INVENTORY, F_SMALLEST, F_TRADE_FLOAT, F_METRIC_NET,
) = range(13)  # fmt: skip
N_INT_FIELDS = len(INT_FIELDS)
N_FLOAT_FIELDS = len(FLOAT_FIELDS)
HEADER = N_INT_FIELDS + 1 + N_FLOAT_FIELDS + 1  # offsets, each list closed by its end

# -- iparam ----------------------------------------------------------------------------------
(
    IP_N_AGENTS, IP_N_TRADERS, IP_N_ROWS, IP_FAIL_FAST, IP_ROLLOVER, IP_MAX_DAYS,
    IP_QUIET_DAYS, IP_HORIZON_RULE, IP_ACTIVE, IP_MARKET_HORIZON, IP_RISK, IP_LOOKBACK,
    IP_STOP_BEFORE, IP_TRADE_CAP, IP_DAY_WIDTH, IP_BOOK_WIDTH, IP_RING_TRADERS,
    IP_VBT, _, _, IP_DEALER, _, _, IP_DEALER_SUM, _, _, IP_VBT_SUM, _, _, IP_MT_KEY_LENGTH,
    IP_MT_KEY, _, _, _, IP_SIZE,
) = range(35)  # fmt: skip
# -- istat -----------------------------------------------------------------------------------
(
    IS_NEXT_DAY, IS_QUIET, IS_DAYS_RUN, IS_STOP, IS_FAILED_FAST, IS_N_DEFAULTED, IS_N_D1,
    IS_N_LOGGED, IS_N_DEFAULT_LOG, IS_LAST_DUE, IS_N_TRADES, IS_N_SELLS, IS_N_BUYS,
    IS_N_INTERIOR, IS_N_PASSTHROUGH, IS_N_REJECTED_SELLS, IS_N_REJECTED_BUYS,
    IS_N_UNFILLED_SELLS, IS_MARKET_LAST_DUE, IS_PENDING_DAY, IS_N_PENDING, IS_N_PENDING_CLAIMS,
    IS_N_KNOWN_DEFAULTED, IS_STARTED, IS_CLEARS, IS_FIRST_DUE, IS_LOG_OVERFLOW, IS_SIZE,
) = range(28)  # fmt: skip
# -- fparam / fstat --------------------------------------------------------------------------
(
    FP_MID, FP_LOT, FP_SPREAD, _, _, FP_PRIOR_P, FP_PRIOR_W, FP_BASE_PREMIUM, FP_URGENCY,
    FP_BUY_MULTIPLIER, FP_SIZE,
) = range(11)  # fmt: skip
(
    FS_VOLUME_FACE, FS_VOLUME_CASH, FS_DEALER_VALUE0, FS_VBT_VALUE0, FS_TOTAL, FS_UNPAID,
    FS_RING_TOTAL, FS_RING_UNPAID, FS_ALPHA, FS_HHI, FS_MPEAK, FS_GROSS, FS_DAY1,
    FS_DEALER_PNL, FS_VBT_PNL, FS_SIZE,
) = range(16)  # fmt: skip

# stop reasons (istat[IS_STOP]); 0 while the run goes on
RUNNING, STABLE, MAX_DAYS, DEFAULT, ALL_DEFAULTED = range(5)
STOP_REASONS = ("", "stable", "max_days", "default", "all_defaulted")
# states of a chain's current instance
OPEN, SETTLED, DEFAULTED = 0, 1, 2
EPS = 1e-9  # a payment is "in full" when cash >= amount − EPS (MODEL.md §2.6)
NONE = -1
NO_DAY = 1 << 40  # "no such day" (math.inf of the Python model), far beyond any day
TRADE_INTS = 6  # day, side (0 sell, 1 buy), customer, maker, row, interior
TRADE_FLOATS = 6  # unit price, cash paid, p, shortfall, wealth, threshold (NaN: None)


class Arenas:
    """The two arenas of one run; ``arenas.cash`` and the like are numpy views of the fields
    (made when first asked for: a run reads only a few of them from Python)."""

    def __init__(self, int_sizes: dict[str, int], float_sizes: dict[str, int]):
        ints = [int_sizes.get(name, 0) for name in INT_FIELDS]
        floats = [float_sizes.get(name, 0) for name in FLOAT_FIELDS]
        int_offsets = np.cumsum([HEADER, *ints])
        float_offsets = np.cumsum([0, *floats])
        self.ints = np.zeros(int(int_offsets[-1]), dtype=np.int64)
        self.floats = np.zeros(int(float_offsets[-1]), dtype=np.float64)
        self.ints[: N_INT_FIELDS + 1] = int_offsets
        self.ints[N_INT_FIELDS + 1 : HEADER] = float_offsets

    def __getattr__(self, name: str) -> np.ndarray:
        header = self.__dict__["ints"]
        if name in _INT_NUMBER:
            k = _INT_NUMBER[name]
            view = header[header[k] : header[k + 1]]
        elif name in _FLOAT_NUMBER:
            k = N_INT_FIELDS + 1 + _FLOAT_NUMBER[name]
            view = self.__dict__["floats"][header[k] : header[k + 1]]
        else:
            raise AttributeError(name)
        self.__dict__[name] = view
        return view


_INT_NUMBER = {name: k for k, name in enumerate(INT_FIELDS)}
_FLOAT_NUMBER = {name: k for k, name in enumerate(FLOAT_FIELDS)}
