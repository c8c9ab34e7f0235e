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


def object_code(entry: Any, generic: bool = True) -> tuple[bytes, str, list[str], list[str]]:
    """(object code, symbol name, undefined functions, undefined data) of a compiled ``cfunc``.

    The optimised module numba made is emitted again as position-independent code (for the
    generic CPU, or this one), so the same object can be linked by MCJIT or into a shared
    library. Reads numba's code library (private API; the loader falls back if it moves)."""
    import llvmlite.binding as llvm

    module = entry._library._final_module
    functions = sorted(
        f.name for f in module.functions if f.is_declaration and not f.name.startswith("llvm.")
    )
    data = sorted(g.name for g in module.global_variables if g.is_declaration)
    cpu = "generic" if generic else llvm.get_host_cpu_name()
    features = "" if generic else llvm.get_host_cpu_features().flatten()
    machine = llvm.Target.from_triple(module.triple).create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="pic", codemodel="default"
    )
    return machine.emit_object(module), entry.native_name, functions, data


LIBM = frozenset(
    [
        "log",
        "exp",
        "pow",
        "sqrt",
        "floor",
        "ceil",
        "fmod",
        "cos",
        "sin",
        "tan",
        "acos",
        "asin",
        "atan",
        "atan2",
        "log1p",
        "expm1",
        "lgamma",
        "tgamma",
        "trunc",
        "round",
        "fabs",
        "hypot",
    ]
)


def stubs_object(functions: list[str], data: list[str], triple: str) -> bytes:
    """An object defining every symbol the kernel names but only reaches on an error path
    (numba's helpers, Python's C API): functions that abort, null data. The C math library is
    left to the system."""
    import llvmlite.binding as llvm

    lines = [f'target triple = "{triple}"', "declare void @abort()"]
    for name in functions:
        if name not in LIBM:
            lines.append(f'define void @"{name}"() {{\n  call void @abort()\n  unreachable\n}}')
    for name in data:
        lines.append(f'@"{name}" = global i8* null')
    module = llvm.parse_assembly("\n".join(lines))
    machine = llvm.Target.from_triple(triple).create_target_machine(
        cpu="generic", reloc="pic", codemodel="default"
    )
    return machine.emit_object(module)
