"""The suite runs from a clone of this repository alone: nothing beside the clone is read.

The clone is made from what git would hand a user (tracked files plus files not yet committed
and not ignored), copied into an empty temporary folder, so no ``shared/`` folder or anything
else of this workplace lies next to it. The suite is collected there with the clone's own code
first on the path, and the tests that read reference data are run there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .sweep_helpers import REPO


def _repository_files() -> list[Path]:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [Path(name) for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def lonely_clone(tmp_path_factory) -> Path:
    clone = tmp_path_factory.mktemp("alone") / "bilancio"
    for name in _repository_files():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)
    assert sorted(p.name for p in clone.parent.iterdir()) == ["bilancio"]
    return clone


def _pytest(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BILANCIO_", "PYTEST_"))}
    env["PYTHONPATH"] = str(clone)  # the clone's bilancio, not the one this venv points at
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_suite_collects_in_a_clone_with_nothing_beside_it(lonely_clone: Path) -> None:
    proc = _pytest(lonely_clone, "--collect-only", "-q")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collected = re.search(r"(\d+) tests? collected", proc.stdout)
    assert collected and int(collected.group(1)) > 250, proc.stdout[-500:]
    assert "error" not in proc.stdout.lower().split("collected")[-1]


def test_the_reference_tests_pass_in_the_clone(lonely_clone: Path) -> None:
    proc = _pytest(
        lonely_clone,
        "-q",
        "-x",
        "tests/test_reference_passive.py",
        "tests/test_active.py",
        "-k",
        "reference or matches or cases",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"\d+ passed", proc.stdout), proc.stdout[-500:]


def test_the_clone_runs_its_own_code(lonely_clone: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(lonely_clone)}
    where = subprocess.run(
        [sys.executable, "-c", "import bilancio; print(bilancio.__file__)"],
        cwd=lonely_clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(lonely_clone)


def test_nothing_in_the_project_reads_outside_the_repository() -> None:
    pattern = re.compile(r"\.\./shared|[\"']shared[\"']|BILANCIO_REFERENCE_DIR")
    offenders = [
        str(name)
        for name in _repository_files()
        if name.suffix in (".py", ".yaml", ".toml", ".cfg", ".ini", "") and not name.is_symlink()
        if (REPO / name).is_file()
        and pattern.search((REPO / name).read_text(errors="replace"))
        and name.name != Path(__file__).name
    ]
    assert offenders == []
