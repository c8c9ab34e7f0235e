"""Exact arithmetic of scenario generation (MODEL.md §2.1–2.3), shared by ``scenario.py``.

Every amount is defined by ``decimal.Decimal`` arithmetic in the default 28-digit context; the
only floats the model sees are ``float(x)`` of those Decimals, floored for payables (§2.6).
Converting a Decimal to a float goes through its string and costs ~0.5 µs, three times per
trader, so payable amounts are decided from a float *estimate* of the Decimal instead, whose
error is bounded (see ``settle``): the estimate is used only where every value within that bound
gives the same answer, and the Decimal is evaluated exactly everywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal, getcontext

import numpy as np

MIN_AMOUNT = Decimal("0.01")
ZERO = Decimal(0)
# Absolute margin around a float estimate, on top of ``rel_tol(n)``: the estimates below are
# within (n + 7)·2^−53 relative (plus < 1e−50 absolute) of the exact value, see ``estimate``.
ABS_TOL = 1e-12


def rel_tol(n: int) -> float:
    """Relative margin for estimates of a scenario with n traders: 4× their error bound.

    Float roundings are 2^−53 each; the Decimal ones 10^(1−prec) at most (negligible in the
    default 28-digit context, but a caller's narrower context only widens the margin).
    """
    return 4 * (n + 8) * (2.0**-53 + 10.0 ** (1 - getcontext().prec))


def swap_count(n: int, m: float) -> int:
    """Number of adjacent swaps of §2.2 (0 when |m| < 1e−9 or |m| = 1)."""
    if abs(m) < 1e-9 or abs(m) >= 1:
        return 0
    return min(round((1 - abs(m)) * n * max(1, n - 1)), n * (n - 1))


def draws(
    n: int, concentration: float, monotonicity: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """All uses of the random stream ``random.Random(seed)`` (§2.1 step 2, §2.2), in compiled
    code: n gamma weights, then the swaps of §2.2 applied to the positions 0..n−1 (identity when
    there are none)."""
    from .kernel.draws import draw_arenas
    from .kernel.loader import DRAW, call

    ints, floats = draw_arenas(n, concentration, swap_count(n, monotonicity), seed)
    call(DRAW, ints, floats)
    return floats[1:], ints[-n:]


def exact_amounts(q_total: float, weights: Sequence[float]) -> tuple[list[Decimal], Decimal]:
    """Dirichlet debt sizes summing to Q exactly (§2.1 step 3), before the minimum rule.

    Returns the amounts and Σ_{i<n−1} a_i (left to right), from which the last one was made.
    """
    q = Decimal(str(q_total))
    if isinstance(weights, np.ndarray):
        weights = weights.tolist()  # repr of a numpy scalar is not the float's
    ws = list(map(Decimal, map(repr, weights)))
    total_w = sum(ws, ZERO)
    amounts = [q * w / total_w for w in ws[:-1]]
    rest = sum(amounts, ZERO)
    amounts.append(q - rest)
    return amounts, rest


def _take_back(amounts: list[Decimal], excess: Decimal) -> Decimal:
    """Reduce amounts, largest first, each down to at most 0.01; return what is left over."""
    for i in sorted(range(len(amounts)), key=lambda k: amounts[k], reverse=True):
        if excess <= 0:
            break
        give = min(excess, amounts[i] - MIN_AMOUNT)
        if give > 0:
            amounts[i] -= give
            excess -= give
    return excess


def fast_minimum(
    amounts: list[Decimal], rest: Decimal, q: Decimal, est: np.ndarray, rel: float
) -> list[Decimal] | None:
    """``apply_minimum`` when no amount is ≤ 0 and Σa ≤ Q (else None), updating ``est`` in place.

    Then pass (a) does nothing, pass (b) changes at most the last amount, and pass (c) raises
    every other a_i < 0.01 to 0.01 and sets the last to max(Q − Σ_{i<n−1} a_i, 0.01). The
    amounts below 0.01 are found among those whose estimate is < 0.01 + 2·tol; ``rest + a[-1]``
    is the left-to-right sum of all amounts.
    """
    if min(amounts) >= MIN_AMOUNT:  # nothing to raise; the last one is Q − rest already
        return amounts if rest + amounts[-1] <= q else None
    head = est[:-1]
    maybe = (head < 0.01 + 2 * (rel * head + ABS_TOL)).nonzero()[0].tolist()
    low = [i for i in maybe if amounts[i] < MIN_AMOUNT]
    if any(amounts[i] <= 0 for i in low) or amounts[-1] <= 0 or rest + amounts[-1] > q:
        return None
    a = list(amounts)
    for i in low:
        a[i] = MIN_AMOUNT
    if low:
        est[low] = 0.01
        rest = sum(a[:-1], ZERO)
    a[-1] = max(q - rest, MIN_AMOUNT)
    est[-1] = float(a[-1])
    return a


def apply_minimum(amounts: list[Decimal], q_total: float) -> list[Decimal]:
    """The 0.01 floor of §2.1 step 4, in its three passes."""
    q = Decimal(str(q_total))
    a = list(amounts)
    added = ZERO
    for i, x in enumerate(a):
        if x <= 0:
            added += MIN_AMOUNT - x
            a[i] = MIN_AMOUNT
    if added > 0:
        _take_back(a, added)
    total = sum(a, ZERO)
    if total > q:
        _take_back(a, total - q)
    elif total < q:
        a[-1] += q - total
    a = [max(x, MIN_AMOUNT) for x in a]
    last = q - sum(a[:-1], ZERO)
    a[-1] = max(last, MIN_AMOUNT)
    return a


def monotone_order(
    amounts: Sequence[Decimal], m: float, swapped: Sequence[int]
) -> list[int] | None:
    """Positions → indices of ``amounts`` after §2.2's sort and swaps; None if |m| < 1e−9.

    ``swapped`` is where the swaps moved each position (``draws``). Equal amounts are
    interchangeable, so any sort that orders the values gives the same result.
    """
    if abs(m) < 1e-9:
        return None
    order = sorted(range(len(amounts)), key=amounts.__getitem__, reverse=m > 0)
    return [order[k] for k in (swapped.tolist() if isinstance(swapped, np.ndarray) else swapped)]


def due_array(n: int, maturity_days: int, mu: float) -> np.ndarray:
    """Original due day of each ring payable (§2.3), as int64."""
    t = maturity_days
    lag = min(max(round(mu * (t - 1)), 0), t - 1)
    if t <= 1 or lag == 0:
        return np.ones(n, dtype=np.int64)
    if n * t < 2**62:
        return (np.arange(-1, n - 1, dtype=np.int64) * lag) % t + 1
    return np.array([((i - 1) * lag) % t + 1 for i in range(n)], dtype=np.int64)


def estimate(q_total: float, weights: Sequence[float], amounts: Sequence[Decimal]) -> np.ndarray:
    """Floats within 1.3e−10·a_i + 1e−50 of ``amounts = exact_amounts(q_total, weights)[0]``
    (exactly float(a_i) off the fast path).

    Fast path: Q·w_i/Σw in float (Q = Decimal(repr(q)) and w = Decimal(repr(w)) are within half
    an ulp of their floats; Σw in float is within (n−1)·2^−53 relative). The last amount is
    Q − Σ_{i<n−1} a_i and can cancel, so it is always converted exactly.
    """
    w = np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    if (
        len(amounts) == len(w) <= 10**6
        and 1e-6 <= q_total <= 1e15
        and math.isfinite(total)
        and total >= 1e-250
    ):
        est = q_total * w / total
        est[-1] = float(amounts[-1])
        return est
    return np.array(list(map(float, amounts)), dtype=np.float64)


def settle(
    est: np.ndarray, ring: int, exact: Callable[[int], Decimal], rel: float
) -> tuple[np.ndarray, np.ndarray]:
    """Floored amounts of the payable rows that exist, and the indices of the legs that do.

    Rows are ``ring`` ring payables, which always exist, then candidate legs, which exist when
    their exact value x = ``exact(row)`` is > 0.01. ``est[row]`` must be within
    (n + 7)·2^−53·x + 1e−50 of x (``estimate``), ``rel = rel_tol(n)``; with tol = rel·y + 1e−12
    (≥ 4× that error, and ≫ the float rounding of y ± tol):

    * a leg exists if y − tol > 0.01 and does not if y + tol < 0.01;
    * if ⌊y − tol⌋ = ⌊y + tol⌋ = k, then ``math.floor(float(x))`` = k: x lies in (k, k + 1)
      further than half an ulp below k + 1 (and k < 2^52: above, tol ≥ 1/2 and no k is
      accepted), so its nearest float does too.

    Every other value is evaluated exactly (NaN estimates fail every test).
    """
    tol = rel * est + ABS_TOL
    hi = est + tol
    lo = est - tol
    k = np.floor(hi)
    sure = k == np.floor(lo)
    made = lo[ring:] > 0.01
    for i in (~made & ~(hi[ring:] < 0.01)).nonzero()[0].tolist():
        made[i] = exact(ring + i) > MIN_AMOUNT
    keep = np.concatenate([np.ones(ring, dtype=bool), made])
    for r in (keep & ~sure).nonzero()[0].tolist():
        k[r] = math.floor(float(exact(r)))
    return k[keep], made.nonzero()[0]
