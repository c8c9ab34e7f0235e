"""bilancio.model.kernel.mt against CPython's own random.Random: the same numbers and the same
state afterwards, compared with == (never approximately). Every expected value is drawn here, in
the test, from random.Random on the same seed."""

from __future__ import annotations

import random as pyrandom

import numpy as np
import pytest
from numba import njit

from bilancio.model.kernel import mt
from bilancio.model.kernel.compile import jit_kernels

jit_kernels()  # the kernel modules' functions become their numba versions

# -- compiled drivers: many draws per call, so the comparison is not dominated by dispatch ------


@njit
def _words(st, out):
    for i in range(out.shape[0]):
        out[i] = mt.genrand_uint32(st)


@njit
def _floats(st, out):
    for i in range(out.shape[0]):
        out[i] = mt.random(st)


@njit
def _bits(st, ks, out):
    for i in range(ks.shape[0]):
        out[i] = mt.getrandbits(st, ks[i])


@njit
def _below(st, n, out):
    for i in range(out.shape[0]):
        out[i] = mt.randbelow(st, n)


@njit
def _range(st, n, out):
    for i in range(out.shape[0]):
        out[i] = mt.randrange_n(st, n)


@njit
def _gammas(st, alpha, beta, out):
    for i in range(out.shape[0]):
        out[i] = mt.gammavariate(st, alpha, beta)


def _seeds(count: int) -> list[int]:
    """The edge seeds, then seeds of every size drawn from a fixed generator."""
    seeds = [0, 1, 2, 2**32 - 1, 2**32, 2**32 + 1, 2**63 - 1, 2**63, 2**64 - 1, -1, -(2**40)]
    g = pyrandom.Random(20261207)
    while len(seeds) < count:
        seeds.append(g.getrandbits(g.choice([8, 31, 32, 33, 62, 63, 64, 100, 256, 2000])))
    return seeds


def _same_state(st: np.ndarray, rng: pyrandom.Random) -> bool:
    return tuple(st.tolist()) == rng.getstate()[1]


def test_state_round_trip():
    rng = pyrandom.Random(42)
    st = mt.state_of(rng)
    assert st.dtype == np.int64 and st.shape == (625,) and st[624] == 624
    other = pyrandom.Random()
    mt.restore(other, st)
    assert other.getstate() == rng.getstate()
    assert [other.random() for _ in range(10)] == [rng.random() for _ in range(10)]


def test_random_and_words_over_2000_seeds():
    """Per seed 1,300 floats (2,600 words: five twists), then 1,300 words (two more twists),
    then the state."""
    floats = np.empty(1300)
    words = np.empty(1300, dtype=np.int64)
    for seed in _seeds(2000):
        rng = pyrandom.Random(seed)
        st = mt.state_of(rng)
        draw = rng.random
        _floats(st, floats)
        assert floats.tolist() == [draw() for _ in range(1300)], seed
        _words(st, words)
        # CPython's getrandbits(32 * 1300) is those 1,300 words, the first one lowest
        assert int.from_bytes(words.astype("<u4").tobytes(), "little") == rng.getrandbits(
            32 * 1300
        ), seed
        assert _same_state(st, rng), seed


def test_single_calls_and_restore_mid_block():
    """Python-level calls interleaved with CPython's from a state restored mid-block."""
    rng = pyrandom.Random(7)
    for _ in range(1000):
        rng.random()
    st = mt.state_of(rng)
    assert 0 < st[624] < 624
    for _ in range(700):
        assert mt.random(st) == rng.random()
        assert mt.genrand_uint32(st) == rng.getrandbits(32)
    twin = pyrandom.Random()
    mt.restore(twin, st)
    assert [twin.random() for _ in range(50)] == [rng.random() for _ in range(50)]


def test_getrandbits_every_k():
    ks = np.array([k for _ in range(20) for k in range(64)], dtype=np.int64)
    pyrandom.Random(3).shuffle(ks)
    out = np.empty(ks.shape[0], dtype=np.int64)
    for seed in _seeds(60):
        rng = pyrandom.Random(seed)
        st = mt.state_of(rng)
        _bits(st, ks, out)
        assert out.tolist() == [rng.getrandbits(int(k)) for k in ks], seed
        assert _same_state(st, rng), seed
    rng = pyrandom.Random(11)
    st = mt.state_of(rng)
    for k in range(64):
        assert mt.getrandbits(st, k) == rng.getrandbits(k)
    assert mt.getrandbits(st, 0) == 0 and _same_state(st, rng)  # k == 0 draws nothing


def test_bit_length():
    values = [0, 1, 2, 3, 4, 7, 8, 255, 256, 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1]
    values += [2**j + d for j in range(1, 63) for d in (-1, 0, 1)]
    for n in values:
        assert mt.bit_length(n) == n.bit_length(), n


NS = [1, 2, 3, 5, 7, 100, 2**31 - 1, 2**31, 2**32 + 1, 2**61 + 3, 2**62 + 1, 2**63 - 1]


@pytest.mark.parametrize("n", NS)
def test_randbelow_and_randrange(n):
    out = np.empty(300, dtype=np.int64)
    for seed in _seeds(40):
        rng = pyrandom.Random(seed)
        st = mt.state_of(rng)
        _below(st, n, out)
        assert out.tolist() == [rng._randbelow(n) for _ in range(300)], (seed, n)
        _range(st, n, out)
        assert out.tolist() == [rng.randrange(n) for _ in range(300)], (seed, n)
        assert _same_state(st, rng), (seed, n)
    rng = pyrandom.Random(n)
    st = mt.state_of(rng)
    assert mt.randbelow(st, n) == rng._randbelow(n)
    assert mt.randrange_n(st, n) == rng.randrange(n)
    assert _same_state(st, rng)


def test_randbelow_outside_the_domain_draws_nothing():
    st = mt.state_of(pyrandom.Random(1))
    before = st.copy()
    assert mt.randbelow(st, 0) == 0 and mt.randrange_n(st, -5) == 0
    assert np.isnan(mt.gammavariate(st, 0.0, 1.0)) and np.isnan(mt.gammavariate(st, 1.0, -1.0))
    assert (st == before).all()


def test_shuffle():
    """8,400 shuffles (1,400 of each length) on carried-over states, each compared in turn."""
    lengths = [0, 1, 2, 3, 10, 1000]
    count = 0
    for seed in _seeds(200):
        rng = pyrandom.Random(seed)
        st = mt.state_of(rng)
        for _ in range(7):
            for length in lengths:
                items = list(range(length))
                arr = np.array(items + [-1, -2], dtype=np.int64)  # a tail the shuffle leaves alone
                rng.shuffle(items)
                mt.shuffle(st, arr, length)
                assert arr.tolist() == items + [-1, -2], (seed, length)
                count += 1
        assert _same_state(st, rng), seed
    assert count == 8400


ALPHAS = [0.01, 0.05, 0.2, 0.5, 0.999, 1.0, 1.0001, 2.0, 5.0, 37.5]
BETAS = [1.0, 2.5]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_gammavariate(alpha):
    """30 seeds x 2 betas per alpha: 600 sequences of 200 draws in all."""
    out = np.empty(200)
    for beta in BETAS:
        for seed in _seeds(30):
            rng = pyrandom.Random(seed)
            st = mt.state_of(rng)
            _gammas(st, alpha, beta, out)
            assert out.tolist() == [rng.gammavariate(alpha, beta) for _ in range(200)], seed
            assert _same_state(st, rng), (seed, alpha, beta)
    rng = pyrandom.Random(99)
    st = mt.state_of(rng)
    assert mt.gammavariate(st, alpha, 1.0) == rng.gammavariate(alpha, 1.0)
    assert _same_state(st, rng)


def _allocates_or_raises(kernel) -> bool:
    """Whether any compiled version of ``kernel`` calls NRT's allocator or raises an exception
    of its own (numba pickles a raised exception into a ``picklebuf`` constant)."""
    assert kernel.signatures, kernel
    for sig in kernel.signatures:
        ir = kernel.inspect_llvm(sig)
        if "NRT_MemInfo_alloc" in ir or "NRT_Allocate" in ir or "picklebuf" in ir:
            return True
    return False


@njit(error_model="numpy", boundscheck=False, nogil=True)
def _raises(st):
    if st[0] < 0:
        raise ValueError("negative")
    return st[0]


@njit(error_model="numpy", boundscheck=False, nogil=True)
def _allocates(st):
    return np.empty(3, dtype=np.int64)[0] + st[0]


def test_kernels_allocate_nothing_and_raise_nothing():
    kernels = [
        mt.twist,
        mt.temper,
        mt.genrand_uint32,
        mt.random,
        mt.getrandbits,
        mt.bit_length,
        mt.randbelow,
        mt.randrange_n,
        mt.shuffle,
        mt.gammavariate,
    ]
    st = mt.state_of(pyrandom.Random(5))
    mt.twist(st)
    mt.getrandbits(st, 40)
    mt.randrange_n(st, 10)
    mt.shuffle(st, np.arange(4, dtype=np.int64), 4)
    mt.gammavariate(st, 0.5, 1.0)
    for kernel in kernels:
        assert not _allocates_or_raises(kernel), kernel
    # the check itself sees a raise and an allocation
    _raises(st)
    _allocates(st)
    assert _allocates_or_raises(_raises) and _allocates_or_raises(_allocates)
