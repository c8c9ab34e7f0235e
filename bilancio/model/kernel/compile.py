"""Compile the kernel with numba into one C-callable function and its object code.

Imported only when no cached object code fits this machine (``loader.py``): importing numba
alone costs about a second, compiling the kernel several more.
"""

from __future__ import annotations

import importlib
from typing import Any

import numba
from numba import types

from . import layout

OPTIONS = dict(error_model="numpy", boundscheck=False, nogil=True)
MODULES = ("mt", "draws", "book", "quotes", "market", "metrics", "engine")
SIGNATURE = types.int64(
    types.int64,
    types.CPointer(types.int64),
    types.int64,
    types.CPointer(types.float64),
    types.int64,
)
RUN, DRAW = 0, 1  # what the entry point does: advance a run, or make a scenario's draws


def jit_kernels() -> None:
    """Replace every ``@kernel`` function of the package by its numba version, wherever a
    kernel module binds it (imported names included), so kernels call compiled kernels."""
    modules = [importlib.import_module(f"{__package__}.{name}") for name in MODULES]
    compiled = {id(fn): numba.njit(**OPTIONS)(fn) for fn in layout.KERNELS}
    for module in [layout, *modules]:
        for name, value in list(vars(module).items()):
            if id(value) in compiled:
                setattr(module, name, compiled[id(value)])


def compile_entry() -> Any:
    """The kernel as a numba ``cfunc``: ``int64 kernel(op, int64*, int64, double*, int64)``,
    ``op`` being RUN (``engine.advance``) or DRAW (``draws.draw``) on the two arenas."""
    jit_kernels()
    engine = importlib.import_module(f"{__package__}.engine")
    draws = importlib.import_module(f"{__package__}.draws")

    def entry(op, ints, n_ints, floats, n_floats):
        int_arena = numba.carray(ints, (n_ints,))
        float_arena = numba.carray(floats, (n_floats,))
        if op == DRAW:
            return draws.draw(int_arena, float_arena)
        return engine.advance(int_arena, float_arena)

    return numba.cfunc(SIGNATURE, **OPTIONS)(entry)


def object_code(entry: Any) -> tuple[bytes, str, list[str]]:
    """(object code, symbol name, undefined symbols) of a compiled ``cfunc``.

    Reads numba's code library (private API, checked by the tests on every numba we allow)."""
    library = entry._library
    module = library._final_module
    undefined = sorted(
        {f.name for f in module.functions if f.is_declaration and not f.name.startswith("llvm.")}
        | {g.name for g in module.global_variables if g.is_declaration}
    )
    return library.codegen._tm.emit_object(module), entry.native_name, undefined
