"""CPython's ``random.Random`` in numba: the same numbers, bit for bit, from a state array.

The state ``st`` is an int64 array of 625 items laid out as ``random.Random(seed).getstate()[1]``:
the 624 Mersenne Twister words (each in [0, 2**32)), then the index ``mti`` (0..624) of the next
word to temper. :func:`state_of` makes it from a ``random.Random``, :func:`restore` hands it back.

Every compiled function draws exactly what the matching method of ``random.Random`` draws on the
same state and leaves the state where that method leaves it (``Modules/_randommodule.c`` and
``Lib/random.py``, which agree on all of this in CPython 3.11, 3.12 and 3.13). They use only scalar
math and the arrays passed in: they allocate nothing and raise nothing. Outside a function's stated
domain the result is defined here (see each docstring) where CPython would raise or never return.
"""

from __future__ import annotations

import math
import random as _pyrandom

import numpy as np

from .layout import kernel

# -- MT19937 (Matsumoto & Nishimura), as in CPython's Modules/_randommodule.c --------------------

N = 624  # words of state
M = 397  # the middle word of the recurrence
STATE_LEN = N + 1  # the words, then the index
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF

# Lib/random.py's module constants, computed the same way (the same libm calls at import)
LOG4 = math.log(4.0)
SG_MAGICCONST = 1.0 + math.log(4.5)
_E = math.e


def state_of(rng: _pyrandom.Random) -> np.ndarray:
    """A new state array (int64, length 625) holding ``rng``'s Mersenne Twister state."""
    version, internal, _gauss_next = rng.getstate()
    st = np.array(internal, dtype=np.int64)
    if version != 3 or st.shape != (STATE_LEN,):
        raise ValueError("not a Mersenne Twister state of random.Random")
    return st


def restore(rng: _pyrandom.Random, st: np.ndarray) -> None:
    """Put the state array ``st`` back into ``rng`` (its pending gauss() value is dropped)."""
    rng.setstate((3, tuple(int(x) for x in st), None))


@kernel
def twist(st):
    """Regenerate all 624 words at once (the ``index >= N`` block of CPython's
    ``genrand_uint32``) and set the index to 0. Kept apart so the per-word path stays small."""
    for kk in range(N - M):
        y = (st[kk] & _UPPER) | (st[kk + 1] & _LOWER)
        st[kk] = st[kk + M] ^ (y >> 1) ^ ((y & 1) * _MATRIX_A)
    for kk in range(N - M, N - 1):
        y = (st[kk] & _UPPER) | (st[kk + 1] & _LOWER)
        st[kk] = st[kk + (M - N)] ^ (y >> 1) ^ ((y & 1) * _MATRIX_A)
    y = (st[N - 1] & _UPPER) | (st[0] & _LOWER)
    st[N - 1] = st[M - 1] ^ (y >> 1) ^ ((y & 1) * _MATRIX_A)
    st[N] = 0


@kernel
def temper(y):
    """MT19937's tempering of one state word into an output word (both in [0, 2**32))."""
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y


@kernel
def genrand_uint32(st):
    """The next 32-bit output of MT19937 (``genrand_uint32``), twisting all 624 words first when
    the index has reached 624. Equal to ``Random.getrandbits(32)``."""
    i = st[N]
    if i >= N:
        twist(st)
        i = 0
    st[N] = i + 1
    return temper(st[i])


@kernel
def random(st):
    """``Random.random()``: a float in [0.0, 1.0) with 53 random bits, from two words (the high
    27 bits of the first, the high 26 of the second)."""
    i = st[N]
    if i <= N - 2:  # both words without a twist: one index check
        st[N] = i + 2
        a = temper(st[i]) >> 5
        b = temper(st[i + 1]) >> 6
    else:
        a = genrand_uint32(st) >> 5
        b = genrand_uint32(st) >> 6
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)


@kernel
def getrandbits(st, k):
    """``Random.getrandbits(k)`` for 0 <= k <= 63: one word shifted right by 32 - k when k <= 32,
    else the low word in full and the high word shifted right by 64 - k. k == 0 gives 0 without
    drawing (as CPython does); k < 0 also gives 0 (CPython raises); k > 63 is not supported."""
    if k <= 0:
        return 0
    if k <= 32:
        return genrand_uint32(st) >> (32 - k)
    lo = genrand_uint32(st)
    hi = genrand_uint32(st) >> (64 - k)
    return lo | (hi << 32)


@kernel
def bit_length(n):
    """``int.bit_length()`` of an int64 n >= 0 (0 for n <= 0)."""
    if n <= 0:
        return 0
    k = 0
    if n >= 0x100000000:
        n >>= 32
        k += 32
    if n >= 0x10000:
        n >>= 16
        k += 16
    if n >= 0x100:
        n >>= 8
        k += 8
    if n >= 0x10:
        n >>= 4
        k += 4
    if n >= 0x4:
        n >>= 2
        k += 2
    if n >= 0x2:
        n >>= 1
        k += 1
    return k + 1


@kernel
def randbelow(st, n):
    """``Random._randbelow(n)`` (``_randbelow_with_getrandbits``) for 1 <= n < 2**63: draw
    ``getrandbits(n.bit_length())`` until it is below n. n == 1 draws too (k = 1) and gives 0.
    For n <= 0 this gives 0 without drawing (CPython 3.11-3.13 never returns for n == 0)."""
    if n <= 0:
        return 0
    k = bit_length(n)
    r = getrandbits(st, k)
    while r >= n:
        r = getrandbits(st, k)
    return r


@kernel
def randrange_n(st, n):
    """``Random.randrange(n)`` for an int 1 <= n < 2**63, which is ``_randbelow(n)``. For n <= 0
    this gives 0 without drawing (CPython raises ValueError)."""
    return randbelow(st, n)


@kernel
def shuffle(st, arr, length):
    """``Random.shuffle`` of ``arr[:length]`` in place (the rest of ``arr`` is untouched): for i
    from length - 1 down to 1, swap items i and ``_randbelow(i + 1)``."""
    for i in range(length - 1, 0, -1):
        j = randbelow(st, i + 1)
        t = arr[i]
        arr[i] = arr[j]
        arr[j] = t


@kernel
def gammavariate(st, alpha, beta):
    """``Random.gammavariate(alpha, beta)`` for alpha > 0 and beta > 0, with Lib/random.py's
    operations in its order (so the same roundings): Cheng's method for alpha > 1, an exponential
    for alpha == 1, Kennedy & Gentle's algorithm GS for alpha < 1. For alpha <= 0 or beta <= 0
    (where CPython raises ValueError) this gives NaN without drawing."""
    if alpha <= 0.0 or beta <= 0.0:
        return np.nan
    if alpha > 1.0:
        ainv = math.sqrt(2.0 * alpha - 1.0)
        bbb = alpha - LOG4
        ccc = alpha + ainv
        while True:
            u1 = random(st)
            if not 1e-7 < u1 < 0.9999999:
                continue
            u2 = 1.0 - random(st)
            v = math.log(u1 / (1.0 - u1)) / ainv
            x = alpha * math.exp(v)
            z = u1 * u1 * u2
            r = bbb + ccc * v - x
            if r + SG_MAGICCONST - 4.5 * z >= 0.0 or r >= math.log(z):
                return x * beta
    elif alpha == 1.0:
        return -math.log(1.0 - random(st)) * beta
    else:
        while True:
            u = random(st)
            b = (_E + alpha) / _E
            p = b * u
            x = p ** (1.0 / alpha) if p <= 1.0 else -math.log((b - p) / alpha)
            u1 = random(st)
            if p > 1.0:
                if u1 <= x ** (alpha - 1.0):
                    break
            elif u1 <= math.exp(-x):
                break
        return x * beta


@kernel
def seed_words(st, key, key_length):
    """``random.Random(seed)`` for an int seed ≥ 0 given as its 32-bit words, least significant
    first (``key[:key_length]``, at least one word): CPython's ``init_by_array``."""
    mask = 0xFFFFFFFF
    st[0] = 19650218
    for i in range(1, 624):  # init_genrand(19650218)
        prev = st[i - 1]
        st[i] = (1812433253 * (prev ^ (prev >> 30)) + i) & mask
    i, j = 1, 0
    for _ in range(max(624, key_length)):
        prev = st[i - 1]
        st[i] = ((st[i] ^ (((prev ^ (prev >> 30)) * 1664525) & mask)) + key[j] + j) & mask
        i += 1
        j += 1
        if i >= 624:
            st[0] = st[623]
            i = 1
        if j >= key_length:
            j = 0
    for _ in range(623):
        prev = st[i - 1]
        st[i] = ((st[i] ^ (((prev ^ (prev >> 30)) * 1566083941) & mask)) - i) & mask
        i += 1
        if i >= 624:
            st[0] = st[623]
            i = 1
    st[0] = 0x80000000
    st[624] = 624


def seed_key(seed: int) -> list[int]:
    """The 32-bit words of an int seed ≥ 0, least significant first (at least one)."""
    words = [seed & 0xFFFFFFFF]
    seed >>= 32
    while seed:
        words.append(seed & 0xFFFFFFFF)
        seed >>= 32
    return words
