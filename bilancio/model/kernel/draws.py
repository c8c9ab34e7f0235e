"""The scenario generator's random draws (MODEL.md §2.1 step 2, §2.2) as compiled code.

``random.Random(seed)``: n gamma weights, then the adjacent swaps of the monotonicity rule,
applied to an order of positions (the Python side applies that order to the sorted amounts).
The arenas of a draw are laid out by :func:`draw_arenas`.
"""

from __future__ import annotations

import numpy as np

from .layout import kernel
from .mt import gammavariate, randbelow, seed_key, seed_words

# the int arena: n, swaps, key length, the key (≤ 4 words), the state (625), then the order (n)
KEY, STATE = 3, 7
ORDER = STATE + 625


@kernel
def draw(ints, floats):
    """Fill ``floats[1:1+n]`` with the weights and the order with the swapped positions."""
    n, swaps, key_length = ints[0], ints[1], ints[2]
    st = ints[STATE : STATE + 625]
    seed_words(st, ints[KEY : KEY + key_length], key_length)
    concentration = floats[0]
    for i in range(n):
        floats[1 + i] = gammavariate(st, concentration, 1.0)
    order = ints[ORDER : ORDER + n]
    for i in range(n):
        order[i] = i
    for _ in range(swaps):
        j = randbelow(st, n - 1)  # rng.randrange(n − 1)
        order[j], order[j + 1] = order[j + 1], order[j]
    return 0


def draw_arenas(n: int, concentration: float, swaps: int, seed: int) -> tuple[np.ndarray, ...]:
    """The two arenas of a draw for ``random.Random(seed)`` (seed ≥ 0, < 2**128)."""
    key = seed_key(seed)
    ints = np.zeros(ORDER + n, dtype=np.int64)
    ints[0], ints[1], ints[2] = n, swaps, len(key)
    ints[KEY : KEY + len(key)] = key
    floats = np.empty(n + 1, dtype=np.float64)
    floats[0] = concentration
    return ints, floats
