"""One run on the compiled kernel: the arenas of its state, its advance, and what it reports."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .kernel import layout as L
from .kernel.loader import RUN, advance_fn, call, interpreted
from .kernel.mt import seed_key
from .market import SEED_OFFSET, TradeRecord
from .params import ModelParams
from .results import RunResult
from .scenario import BUCKETS, ScenarioArrays, bucket_of


@dataclass(frozen=True)
class Rules:
    """How the engine runs a scenario (the engine-facing part of ModelParams)."""

    default_handling: str = "fail-fast"
    rollover: bool = True
    max_days: int = 30
    quiet_days: int = 2
    stop_rule: str = "horizon"


class KernelRun:
    """The state of one run in the kernel's arenas (``kernel/layout.py``)."""

    def __init__(
        self,
        rows: ScenarioArrays,
        rules: Rules,
        params: ModelParams | None = None,
        active: bool = False,
        trade_log: bool = False,
    ):
        self.rows, self.n_traders, self.active = rows, rows.n_traders, active
        self._names: tuple[str, ...] | None = None
        self.face_type = int if rows.whole else float
        n_agents, n_rows = len(rows.cash), len(rows.debtor)
        max_due = int(rows.due.max()) if n_rows else 0
        day_width = rules.max_days + max_due + 1
        ints = {
            "iparam": L.IP_SIZE, "istat": L.IS_SIZE, "defaulted": n_agents,
            "debtor": n_rows, "creditor": n_rows, "holder": n_rows, "due": n_rows,
            "distance": n_rows, "state": n_rows, "rolled": n_rows, "settled_on": n_rows,
            "day_head": day_width, "day_tail": day_width, "row_next": n_rows,
            "settled": n_rows, "d1_pid": n_rows, "d1_payee": n_rows,
            "default_agent": n_agents + 1, "default_day": n_agents + 1,
            "metric_order": n_agents,
        }  # fmt: skip
        floats = {
            "fparam": L.FP_SIZE, "fstat": L.FS_SIZE, "cash": n_agents, "amount": n_rows,
            "metric_net": n_agents,
        }  # fmt: skip
        book_width = self.trade_cap = 0
        if active:
            assert params is not None
            span = rules.max_days + params.market.horizon + 1
            book_width = max(span, max_due + 1) + max_due
            self.trade_cap = n_rows + n_agents + 1 if trade_log else 0
            _market_sizes(ints, floats, n_agents, n_rows, book_width, self.trade_cap)
        self.arenas = a = L.Arenas(ints, floats)
        a.cash[:] = rows.cash
        a.debtor[:] = rows.debtor
        a.creditor[:] = rows.creditor
        a.holder[:] = rows.creditor
        a.amount[:] = rows.amount
        a.due[:] = rows.due
        a.distance[:] = rows.due
        a.settled_on[:] = -1
        p = a.iparam
        p[L.IP_N_AGENTS], p[L.IP_N_TRADERS], p[L.IP_N_ROWS] = n_agents, rows.n_traders, n_rows
        p[L.IP_FAIL_FAST] = rules.default_handling == "fail-fast"
        p[L.IP_ROLLOVER] = rules.rollover
        p[L.IP_MAX_DAYS], p[L.IP_QUIET_DAYS] = rules.max_days, rules.quiet_days
        p[L.IP_HORIZON_RULE] = rules.stop_rule == "horizon"
        p[L.IP_STOP_BEFORE] = rules.max_days
        p[L.IP_DAY_WIDTH], p[L.IP_BOOK_WIDTH] = day_width, book_width
        p[L.IP_RING_TRADERS] = rows.n_traders or n_agents
        p[L.IP_ACTIVE], p[L.IP_TRADE_CAP] = active, self.trade_cap
        if active:
            assert params is not None
            self._set_market(params)
        self._call = _caller(a)

    @property
    def names(self) -> tuple[str, ...]:
        """Agent names in index order (a generated scenario makes them only when asked)."""
        if self._names is None:
            self._names = tuple(self.rows.agents)
        return self._names

    def _maker_index(self) -> dict[str, int]:
        """Where each market maker is among the agents."""
        if self.rows.names is None:  # generated: the traders, then MARKET_MAKERS in order
            return {m: self.n_traders + k for k, m in enumerate(self.rows.market_makers)}
        return {name: i for i, name in enumerate(self.names)}

    def _set_market(self, params: ModelParams) -> None:
        a, p, f = self.arenas, self.arenas.iparam, self.arenas.fparam
        index = self._maker_index()
        missing = [
            f"{k}_{b}" for b in BUCKETS for k in ("vbt", "dealer") if f"{k}_{b}" not in index
        ]
        if missing:
            raise ValueError(f"the active regime needs market makers; missing {missing}")
        a.slot_of[:] = -1
        for k, bucket in enumerate(BUCKETS):
            vbt, dealer = index[f"vbt_{bucket}"], index[f"dealer_{bucket}"]
            p[L.IP_VBT + k], p[L.IP_DEALER + k] = vbt, dealer
            a.slot_of[vbt], a.slot_of[dealer] = 2 * k, 2 * k + 1
        # the makers' cash is summed in the order the Python model iterated their set
        for at, kind in ((L.IP_DEALER_SUM, "dealer"), (L.IP_VBT_SUM, "vbt")):
            p[at : at + 3] = list(set(index[f"{kind}_{b}"] for b in BUCKETS))
        risk = params.market.risk
        p[L.IP_MARKET_HORIZON], p[L.IP_RISK] = params.market.horizon, risk.enabled
        p[L.IP_LOOKBACK] = risk.lookback
        f[L.FP_MID], f[L.FP_LOT] = params.outside_mid_ratio, params.face_value
        for k, bucket in enumerate(BUCKETS):
            f[L.FP_SPREAD + k] = getattr(params.market.spreads, bucket)
        f[L.FP_PRIOR_P], f[L.FP_PRIOR_W] = risk.prior_default_prob, risk.prior_weight
        f[L.FP_BASE_PREMIUM], f[L.FP_URGENCY] = risk.base_premium, risk.urgency
        f[L.FP_BUY_MULTIPLIER] = risk.buy_premium_multiplier
        key = seed_key(params.seed + SEED_OFFSET)
        p[L.IP_MT_KEY_LENGTH] = len(key)
        p[L.IP_MT_KEY : L.IP_MT_KEY + len(key)] = key

    # -- running -------------------------------------------------------------------------------

    def advance(self, stop_before: int | None = None) -> bool:
        """Run on until the run ends or day ``stop_before``; True once the run has ended."""
        p = self.arenas.iparam
        p[L.IP_STOP_BEFORE] = p[L.IP_MAX_DAYS] if stop_before is None else stop_before
        self.arenas.istat[L.IS_N_LOGGED] = 0
        return self._call() != L.RUNNING

    def sync_book(self, day: int) -> None:
        """Bring the market's book up to ``day`` as the market phase would, running nothing
        (for tests that recount the book). A passive run has no book: nothing happens."""
        if not self.active:
            return
        self.arenas.iparam[L.IP_STOP_BEFORE] = -day - 1
        self._call()

    @property
    def next_day(self) -> int:
        return int(self.arenas.istat[L.IS_NEXT_DAY])

    @property
    def days_run(self) -> int:
        return int(self.arenas.istat[L.IS_DAYS_RUN])

    def defaults(self, start: int = 0) -> list[tuple[int, str]]:
        """(day, agent) of every default from the ``start``-th on, in the order they happened."""
        a = self.arenas
        n = int(a.istat[L.IS_N_DEFAULT_LOG])
        return [(int(a.default_day[k]), self.names[a.default_agent[k]]) for k in range(start, n)]

    def trades(self) -> list[TradeRecord]:
        """The trades logged since the last :meth:`advance` (needs ``trade_log``)."""
        a = self.arenas
        if a.istat[L.IS_LOG_OVERFLOW]:
            raise RuntimeError("the kernel's trade log overflowed")  # a bug: the cap is a bound
        n = int(a.istat[L.IS_N_LOGGED])
        ints = a.trade_int[: n * L.TRADE_INTS].reshape(n, L.TRADE_INTS).tolist()
        floats = a.trade_float[: n * L.TRADE_FLOATS].reshape(n, L.TRADE_FLOATS).tolist()
        return [self._trade_record(i, f) for i, f in zip(ints, floats, strict=True)]

    def _trade_record(self, i: list[int], f: list[float]) -> TradeRecord:
        day, side, customer, maker, pid, interior = i
        unit, paid, prob, shortfall, wealth, threshold = f
        a, names = self.arenas, self.names
        due = int(a.due[pid])
        return TradeRecord(
            day=day,
            side="sell" if side == 0 else "buy",
            customer=names[customer],
            market_maker=names[maker],
            payable=pid,
            face=self.face_type(a.amount[pid]),
            unit_price=unit,
            cash=paid,
            default_prob=prob,
            shortfall=_none_if_nan(shortfall),
            wealth=_none_if_nan(wealth),
            threshold=_none_if_nan(threshold),
            bucket=bucket_of(due - day) or "",
            venue="dealer" if interior else "vbt",
            issuer=names[a.debtor[pid]],
            due_day=due,
        )

    # -- results -------------------------------------------------------------------------------

    def result(self, regime: str) -> RunResult:
        """The §4 metrics of the finished run, plus the §5.7 trade metrics of an active one."""
        s, f = self.arenas.istat.tolist(), self.arenas.fstat.tolist()
        total, unpaid = f[L.FS_TOTAL], f[L.FS_UNPAID]
        delta = unpaid / total if total > 0 else None
        ring_total = f[L.FS_RING_TOTAL]
        alpha = hhi = mpeak = v = None
        if f[L.FS_DAY1]:
            alpha, hhi, mpeak = (
                _none_if_nan(f[L.FS_ALPHA]),
                _none_if_nan(f[L.FS_HHI]),
                f[L.FS_MPEAK],
            )
            v = f[L.FS_GROSS] / mpeak if mpeak > 0 else None
        n_rows = len(self.arenas.debtor)
        return RunResult(
            regime=regime,
            delta_total=delta,
            phi_total=None if delta is None else 1 - delta,
            alpha_1=alpha,
            mpeak_1=mpeak,
            v_1=v,
            hhi_plus_1=hhi,
            time_to_stability=s[L.IS_LAST_DUE] if n_rows else None,
            n_defaults=1 if s[L.IS_FAILED_FAST] else s[L.IS_N_DEFAULTED],
            n_clears=s[L.IS_CLEARS],
            days_run=s[L.IS_DAYS_RUN],
            stop_reason=L.STOP_REASONS[s[L.IS_STOP]],
            total_face=self.face_type(total),
            unpaid_face=self.face_type(unpaid),
            delta_ring=f[L.FS_RING_UNPAID] / ring_total if ring_total > 0 else None,
            **(self._trade_stats(s, f) if self.active else {}),
        )

    @staticmethod
    def _trade_stats(s: list[int], f: list[float]) -> dict[str, float | int]:
        return dict(
            n_trades=s[L.IS_N_TRADES],
            n_sells=s[L.IS_N_SELLS],
            n_buys=s[L.IS_N_BUYS],
            n_interior=s[L.IS_N_INTERIOR],
            n_passthrough=s[L.IS_N_PASSTHROUGH],
            n_rejected_sells=s[L.IS_N_REJECTED_SELLS],
            n_rejected_buys=s[L.IS_N_REJECTED_BUYS],
            n_unfilled_sells=s[L.IS_N_UNFILLED_SELLS],
            trade_volume_face=f[L.FS_VOLUME_FACE],
            trade_volume_cash=f[L.FS_VOLUME_CASH],
            dealer_pnl=f[L.FS_DEALER_PNL],
            vbt_pnl=f[L.FS_VBT_PNL],
        )


def _caller(arenas: L.Arenas) -> Callable[[], int]:
    """The kernel's ``advance`` bound to these arenas: compiled, or with ``BILANCIO_KERNEL=python``
    the same source run by the interpreter (for debugging; 50–85× slower)."""
    if interpreted():
        return lambda: call(RUN, arenas.ints, arenas.floats)
    fn, ints, floats = advance_fn(), arenas.ints, arenas.floats
    pointers = (RUN, ints.ctypes.data, len(ints), floats.ctypes.data, len(floats))
    return lambda: fn(*pointers)


def _market_sizes(
    ints: dict[str, int],
    floats: dict[str, int],
    n_agents: int,
    n_rows: int,
    width: int,
    trade_cap: int,
) -> None:
    ints.update(
        mt=625, expelled=n_agents, book_holder=n_rows, slot_of=n_agents, cl_head=n_agents,
        cl_next=n_rows, cl_prev=n_rows, stock_count=6 * width, pos_start=width + 1,
        pos_rows=n_rows, debt_start=n_agents + 1, debt_rows=n_rows, pending=n_rows,
        pending_claims=n_rows, hist_failed=width, sold=n_agents, sellers=n_agents,
        kstar=n_agents, buyers=n_agents, offers=max(n_rows, n_agents, width) + 1, caches=12,
        trade_int=trade_cap * L.TRADE_INTS,
    )  # fmt: skip
    floats.update(
        owed=n_agents * width, held=n_agents * width, claim_face=n_agents, gap=n_agents,
        quotes=9, inventory=3, smallest=6, trade_float=trade_cap * L.TRADE_FLOATS,
    )  # fmt: skip


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else x
