"""The compiled kernel's cache (bilancio/model/kernel/loader.py), as processes meet it.

Each test starts real ``python`` processes with their own cache folder, so what is measured is
what a user's first and later commands do: compile once (under a lock, however many start at
once), then load the object code with llvmlite, without importing numba.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bilancio.model import ModelParams, simulate_pair
from bilancio.model.kernel import loader

KERNEL = Path(loader.__file__).parent
PAIR = """
import json, sys
from bilancio.model import ModelParams, simulate_pair
pair = simulate_pair(ModelParams(n_agents=60, kappa=0.6, mu=0.75, seed=11,
                                 default_handling="expel-agent"))
print(json.dumps({"pair": pair.to_dict(), "numba": "numba" in sys.modules}))
"""


def _start(cache: Path, **env: str) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BILANCIO_KERNEL")}
    environment.update(BILANCIO_KERNEL_CACHE=str(cache), **env)
    return subprocess.Popen(
        [sys.executable, "-c", PAIR], env=environment, stdout=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen) -> dict:
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0
    return json.loads(out)


def test_a_fresh_install_loads_the_shipped_kernel_and_compiles_nothing(tmp_path):
    """The package ships the generic kernel for this platform and the locked numba and
    llvmlite: with an empty cache nothing is compiled, nothing written, numba never imported."""
    import platform

    if (sys.platform, platform.machine()) != ("linux", "x86_64"):
        pytest.skip("the package ships the kernel for Linux x86-64 only")
    shipped = loader.bundled_dir() / f"kernel-{loader.cache_key()}.o"
    assert shipped.exists(), (
        "the shipped kernel is not the current source's: "
        "run `uv run python -m bilancio.model.kernel --bundle` and commit its objects/"
    )
    assert shipped.with_suffix(".so").exists()  # linked: loaded without llvmlite's compiler
    cache = tmp_path / "empty-cache"
    found = _finish(_start(cache))
    assert found["numba"] is False
    assert not cache.exists()


def test_the_shipped_library_needs_only_the_c_library():
    """The shared library's undefined symbols: the C and math libraries (its error paths are
    stubs that abort, linked in), so any process can load it."""
    import shutil

    (library,) = loader.bundled_dir().glob(f"kernel-{loader.cache_key()}.so")
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("needs binutils' nm")
    listing = subprocess.run([nm, "-D", "--undefined-only", str(library)], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    names = {line.split()[-1].split("@")[0] for line in listing.splitlines() if line.strip()}
    assert names <= {"abort", "memset", "memcpy", "memmove", "exp", "log", "pow", "floor",
                     "sqrt", "__gmon_start__", "_ITM_deregisterTMCloneTable",
                     "_ITM_registerTMCloneTable", "__cxa_finalize"}, names  # fmt: skip


@pytest.mark.slow
def test_processes_started_at_once_compile_once_and_the_rest_load_without_numba(tmp_path):
    """BILANCIO_KERNEL_CPU=host: a kernel for this CPU, which the package does not ship."""
    cache = tmp_path / "kernel-cache"
    first = [_start(cache, BILANCIO_KERNEL_CPU="host") for _ in range(3)]  # at once
    results = [_finish(p) for p in first]
    assert sum(r["numba"] for r in results) == 1  # one compiled; the others waited and loaded
    assert len(list(cache.glob("kernel-*.o"))) == 1
    later = _finish(_start(cache, BILANCIO_KERNEL_CPU="host"))
    assert later["numba"] is False
    expected = simulate_pair(
        ModelParams(n_agents=60, kappa=0.6, mu=0.75, seed=11, default_handling="expel-agent")
    ).to_dict()
    assert all(r["pair"] == expected for r in [*results, later])


def test_the_interpreted_kernel_gives_the_compiled_results(tmp_path):
    """BILANCIO_KERNEL=python runs the same source uncompiled: the same numbers, bit for bit."""
    compiled = _finish(_start(Path(loader.cache_dir())))
    interpreted = _finish(_start(Path(loader.cache_dir()), BILANCIO_KERNEL="python"))
    assert interpreted["pair"] == compiled["pair"]
    assert interpreted["numba"] is False


def test_the_cached_kernel_needs_nothing_but_the_c_library_and_numbas_error_paths():
    """The object code's undefined symbols: the C math library, and numba's exception and
    reference-count helpers, which only a raise or an allocation would reach (the loader binds
    those to abort). An allocation (NRT_MemInfo_alloc…) or another library would show here."""
    loader.advance_fn()
    name = f"kernel-{loader.cache_key()}.json"
    (meta,) = [
        json.loads(p.read_text())
        for folder in (loader.bundled_dir(), loader.cache_dir())
        for p in folder.glob(name)
    ][:1]
    allowed_prefixes = ("numba_", "Py", "_Py", "NRT_MemInfo_call_dtor", "NRT_Free")
    libm = {"log", "exp", "sqrt", "pow", "floor", "fmod", "cos", "sin", "acos", "tan"}
    strange = [s for s in meta["undefined"] if not s.startswith(allowed_prefixes) and s not in libm]
    assert strange == []
    assert not any(s.startswith(("NRT_MemInfo_alloc", "NRT_Allocate")) for s in meta["undefined"])


def test_the_kernel_source_raises_nothing():
    """A raise in the kernel would reach numba's error path, which the loader binds to abort:
    the kernel reports every outcome as data instead. No ``@kernel`` function raises."""
    checked = 0
    for source in KERNEL.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            if not any(getattr(d, "id", None) == "kernel" for d in node.decorator_list):
                continue
            checked += 1
            raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise | ast.Assert)]
            assert not raises, f"{source.name}: {node.name} raises"
    assert checked > 40  # every module of the kernel was read


@pytest.mark.slow
def test_an_unwritable_cache_says_so_and_compiles_in_the_process(tmp_path):
    """A cache folder that cannot be made (here: a file stands where it should be) costs a
    compile in every process, says so on stderr, and changes no result."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    process = subprocess.Popen(
        [sys.executable, "-c", PAIR],
        env={
            **os.environ,
            "BILANCIO_KERNEL_CACHE": str(blocked / "cache"),
            "BILANCIO_KERNEL_CPU": "host",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "cannot be written" in err and "BILANCIO_KERNEL_CACHE" in err
    found = json.loads(out)
    assert found["numba"] is True
    expected = simulate_pair(
        ModelParams(n_agents=60, kappa=0.6, mu=0.75, seed=11, default_handling="expel-agent")
    ).to_dict()
    assert found["pair"] == expected
