"""Load the compiled kernel: from object code cached on disk, compiling it only when needed.

numba compiles the kernel (``compile.py``), but importing numba and readying its compiler costs
about two seconds in every process, more than a small run. So the object code numba produces is
cached on disk, keyed by the kernel's source, the compiler's version and this CPU, and later
processes load it with llvmlite alone (about 0.1 s) and call it through ctypes with its explicit C
signature. The first process on a machine compiles (several seconds) under a file lock, so
parallel processes compile once between them.

The package ships the object for the platforms it was built on (``objects/``, for the locked
numba and llvmlite), so a fresh install usually compiles nothing. Otherwise the cache lives in
``$BILANCIO_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/bilancio``, else ``~/.cache/bilancio``; where
it cannot be written, every process compiles for itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

KernelFn = Callable[[int, int, int, int, int], int]
SOURCES = (
    "layout.py", "mt.py", "draws.py", "book.py", "quotes.py", "market.py", "metrics.py",
    "engine.py", "compile.py",
)  # fmt: skip
PROTOTYPE = ctypes.CFUNCTYPE(
    ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64
)
RUN, DRAW = 0, 1  # the kernel's operations (compile.py)
_loaded: KernelFn | None = None
_keep_alive: list[object] = []  # the JIT engine (its code) or the cfunc must outlive every call


def advance_fn() -> KernelFn:
    """The kernel's entry point, ``kernel(op, ints*, n_ints, floats*, n_floats)``: op RUN
    advances a run (returns its stop reason), op DRAW makes a scenario's random draws."""
    global _loaded
    if _loaded is None:
        _loaded = _load()
    return _loaded


def call(op: int, ints: np.ndarray, floats: np.ndarray) -> int:
    """Run the kernel's operation ``op`` on two arenas (compiled, or interpreted)."""
    if interpreted():
        from . import draws, engine

        return int((draws.draw if op == DRAW else engine.advance)(ints, floats))
    return advance_fn()(op, ints.ctypes.data, len(ints), floats.ctypes.data, len(floats))


def interpreted() -> bool:
    """``BILANCIO_KERNEL=python``: run the kernel's source uncompiled (debugging, benchmarks)."""
    return os.environ.get("BILANCIO_KERNEL", "") == "python"


def for_this_cpu() -> bool:
    """``BILANCIO_KERNEL_CPU=host``: compile for this CPU's features. By default the kernel is
    compiled for any CPU of the architecture ("generic"): as fast here, and one object then
    serves every machine (the package ships it, and Modal's containers run on several CPUs)."""
    return os.environ.get("BILANCIO_KERNEL_CPU", "generic") == "host"


def bundled_dir() -> Path:
    """The objects shipped with the package: the generic kernel for the locked numba and
    llvmlite on the platforms it was built on (``python -m bilancio.model.kernel.loader
    --bundle``), so a fresh install compiles nothing."""
    return Path(__file__).parent / "objects"


def cache_dir() -> Path:
    explicit = os.environ.get("BILANCIO_KERNEL_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bilancio"


def cache_key() -> str:
    """Hash of what the object code depends on: sources, compiler versions, the platform (and
    this CPU, with ``BILANCIO_KERNEL_CPU=host``). Imports no more of llvmlite than its version."""
    import llvmlite

    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in SOURCES:
        digest.update((here / name).read_bytes())
    parts = [llvmlite.__version__, _numba_version(), sys.platform, platform.machine()]
    if for_this_cpu():
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        parts += [llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()]
    digest.update(repr(parts).encode())
    return digest.hexdigest()[:24]


def _numba_version() -> str:
    """numba's version file, read rather than imported (importing numba costs a second, and
    ``importlib.metadata`` tens of milliseconds)."""
    import importlib.util

    spec = importlib.util.find_spec("numba")
    if spec is None or not spec.submodule_search_locations:
        return "absent"
    version_file = Path(next(iter(spec.submodule_search_locations))) / "_version.py"
    return version_file.read_text() if version_file.exists() else "unknown"


def _load() -> KernelFn:
    key = cache_key()
    shipped = bundled_dir() / f"kernel-{key}.so"
    if shipped.exists():
        try:
            return _from_library(shipped, json.loads(shipped.with_suffix(".json").read_text()))
        except OSError:  # e.g. a C library older than the one it was linked against
            pass  # the object code beside it is linked by llvmlite instead
    for folder in (bundled_dir(), cache_dir()):
        obj, meta = folder / f"kernel-{key}.o", folder / f"kernel-{key}.json"
        if obj.exists() and meta.exists():
            return _from_object(obj.read_bytes(), json.loads(meta.read_text()))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = _locked(folder / "kernel.lock")
        lock.__enter__()
    except OSError as exc:
        print(
            f"bilancio: the kernel cache {folder} cannot be written ({exc.strerror}); "
            "compiling the kernel in this process (set BILANCIO_KERNEL_CACHE to a writable "
            "folder to compile once)",
            file=sys.stderr,
        )
        return _compiled_here()
    try:
        if obj.exists() and meta.exists():  # another process compiled it meanwhile
            return _from_object(obj.read_bytes(), json.loads(meta.read_text()))
        return _compile_into(obj, meta)
    finally:
        lock.__exit__(None, None, None)


def _compiler_settings() -> None:
    """Tell numba which CPU to compile for, before it is imported."""
    if not for_this_cpu():
        os.environ["NUMBA_CPU_NAME"] = "generic"
        os.environ["NUMBA_CPU_FEATURES"] = ""


def _compile_into(obj: Path, meta: Path) -> KernelFn:
    if sys.stderr.isatty():  # a person waits: say why, once per machine
        print(
            "bilancio: compiling the model kernel for this machine (once; about half a minute)",
            file=sys.stderr,
        )
    _compiler_settings()
    from .compile import compile_entry, object_code

    entry = compile_entry()
    try:
        code, symbol, functions, data = object_code(entry, generic=not for_this_cpu())
    except AttributeError:  # a numba whose internals moved: run the in-process function
        _keep_alive.append(entry)
        return PROTOTYPE(entry.address)
    import llvmlite.binding as llvm

    about = {
        "symbol": symbol,
        "undefined": sorted(functions + data),
        "functions": functions,
        "data": data,
        "triple": llvm.get_process_triple(),
    }
    _write_atomically(obj, code)
    _write_atomically(meta, json.dumps(about, indent=1).encode())  # last: it marks complete
    return _from_object(code, about)


def _compiled_here() -> KernelFn:
    _compiler_settings()
    from .compile import compile_entry

    entry = compile_entry()
    _keep_alive.append(entry)
    return PROTOTYPE(entry.address)


def _from_object(code: bytes, meta: dict) -> KernelFn:
    """Link the object code into this process with llvmlite's MCJIT.

    Symbols the process lacks (numba's exception helpers, reached only if the kernel raised,
    which it never does) are bound to ``abort`` so such a call could not pass silently."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    abort = ctypes.cast(ctypes.CDLL(None).abort, ctypes.c_void_p).value
    for name in meta["undefined"]:
        if not llvm.address_of_symbol(name):
            llvm.add_symbol(name, abort)
    machine = llvm.Target.from_default_triple().create_target_machine()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    engine.add_object_file(llvm.ObjectFileRef.from_data(code))
    engine.finalize_object()
    address = engine.get_function_address(meta["symbol"])
    if not address:
        raise RuntimeError(f"the cached kernel has no symbol {meta['symbol']!r}")
    _keep_alive.append(engine)
    return PROTOTYPE(address)


def _from_library(path: Path, meta: dict) -> KernelFn:
    """The shipped kernel, a shared library: loaded by the system's loader (no llvmlite)."""
    library = ctypes.CDLL(str(path))
    _keep_alive.append(library)
    return ctypes.cast(library[meta["symbol"]], PROTOTYPE)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process compiles: a person waiting is told why
            if sys.stderr.isatty():
                print(
                    "bilancio: waiting for another process compiling the model kernel",
                    file=sys.stderr,
                )
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)  # a shared cache folder serves every user of the machine
    os.replace(tmp, path)


def bundle() -> Path:
    """Compile the generic kernel into the package's ``objects/`` (after a change of the
    kernel's source, or of the locked numba or llvmlite), replacing this platform's older one,
    and link it with stubs for its error paths into a shared library (this needs a C
    compiler's linker, ``cc``, here; the users of the library need none). Returns its path."""
    import llvmlite.binding as llvm

    folder = bundled_dir()
    folder.mkdir(exist_ok=True)
    key, triple = cache_key(), llvm.get_process_triple()
    for meta in folder.glob("kernel-*.json"):
        if json.loads(meta.read_text()).get("triple") == triple:
            for old in folder.glob(meta.stem + ".*"):
                old.unlink()
    obj = folder / f"kernel-{key}.o"
    _compile_into(obj, obj.with_suffix(".json"))
    about = json.loads(obj.with_suffix(".json").read_text())
    from .compile import stubs_object

    library = obj.with_suffix(".so")
    with tempfile.TemporaryDirectory() as scratch:
        stubs = Path(scratch) / "stubs.o"
        stubs.write_bytes(stubs_object(about["functions"], about["data"], triple))
        subprocess.run(
            ["cc", "-shared", "-o", str(library), str(obj), str(stubs), "-lm"], check=True
        )
    return library
