"""Writing a user's output file (a CSV, a report) without ever destroying what was there."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(OSError):
    """The output file cannot be written; the message names it and the cause."""


def write_atomically(path: str | Path, text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, renamed into
    place only when complete: an existing file is replaced whole or left as it was. The folder
    is created if it does not exist."""
    target = Path(path).expanduser()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise IsADirectoryError(21, "it is a folder", str(target))
        fd, scratch = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as out:
                out.write(text)
            os.replace(scratch, target)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise
    except OSError as err:
        reason = err.strerror or str(err)
        raise OutputError(f"cannot write {target}: {reason}") from None
    return target
