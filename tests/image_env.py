"""The Modal image's Python environment, built here from the image's own Dockerfile.

Modal builds ``modal_app.image`` remotely from Dockerfile commands that its client generates;
no network reaches Modal from here, but the commands can be asked for and run. ``dockerfile``
returns them (every layer, base first) from the real image object; ``build_environment`` runs
the ``uv sync`` layer's command in a temporary folder that stands in for ``/.uv``, with the
files Modal would copy into it, and returns the environment's Python.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

BUILDER_VERSION = "2025.06"  # Modal's image builder version of the installed client


def _layers(image: Any) -> list[Any]:
    """The layers of a modal Image, outermost first (each a private ``_Image``)."""
    from modal._utils.async_utils import synchronizer

    found, todo = [], [synchronizer._translate_in(image)]
    while todo:
        layer = todo.pop()
        found.append(layer)
        load = layer._load
        cells = dict(
            zip(
                load.__code__.co_freevars,
                (c.cell_contents for c in load.__closure__ or ()),
                strict=True,
            )
        )
        todo.extend((cells.get("base_images") or {}).values())
        if cells.get("base_image") is not None:
            todo.append(cells["base_image"])
        layer._cells = cells
    return found


def dockerfile(image: Any) -> tuple[list[str], dict[str, str]]:
    """(commands, context files) of every Dockerfile layer, base image first."""
    commands: list[str] = []
    context: dict[str, str] = {}
    for layer in reversed(_layers(image)):
        make = layer._cells.get("dockerfile_function")
        if make is None:
            continue
        spec = make(BUILDER_VERSION)
        commands += spec.commands
        context.update(spec.context_files)
    return commands, context


def build_environment(image: Any, where: Path) -> Path:
    """Run the image's ``uv sync`` layer here (``where`` stands in for the image's ``/``);
    return the Python of the environment it makes."""
    commands, context = dockerfile(image)
    root = where / "uv-root"
    root.mkdir(parents=True)
    for command in commands:
        words = shlex.split(command)
        if words[:1] == ["COPY"] and words[1].startswith("/."):  # a context file
            shutil.copy(context[words[1]], root / Path(words[2]).name)
    (sync,) = [c for c in commands if c.startswith("RUN /.uv/uv sync")]
    args = shlex.split(sync.removeprefix("RUN /.uv/uv "))
    args = [a.replace("--project=/.uv", f"--project={root}") for a in args]
    env = {
        **os.environ,
        "UV_PYTHON": sys.executable,  # the image's python is 3.11; this machine's will do
        "UV_PYTHON_DOWNLOADS": "never",
    }
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [shutil.which("uv") or "uv", *args, "-q"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return root / ".venv" / "bin" / "python"
