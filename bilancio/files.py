"""Writing a user's output file (a CSV, a report) without ever destroying what was there."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class OutputError(OSError):
    """The output file cannot be written; the message names it and the cause."""


def write_atomically(path: str | Path, text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` to ``path``: through a temporary file in the same folder, renamed into
    place only when complete, so an existing file is replaced whole or left as it was. A
    missing folder is created; a symbolic link is followed (the link stays a link); a device or
    pipe (``/dev/stdout``) is written to directly; the file keeps its permissions, and a new
    one gets the usual ones (0666 less the umask)."""
    target = Path(path).expanduser()
    try:
        try:
            found = os.stat(target)  # through any link
        except FileNotFoundError:
            found = None
        if found is not None and stat.S_ISDIR(found.st_mode):
            raise IsADirectoryError(21, "it is a folder", str(target))
        if found is not None and not stat.S_ISREG(found.st_mode):  # a device, a pipe
            with open(target, "w", encoding="utf-8", newline=newline) as out:
                out.write(text)
            return target
        if target.is_symlink():
            target = target.resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = _mode_for(target)
        fd, scratch = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as out:
                out.write(text)
            os.chmod(scratch, mode)
            os.replace(scratch, target)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise
    except OSError as err:
        reason = err.strerror or str(err)
        raise OutputError(f"cannot write {path}: {reason}") from None
    return target


def _mode_for(target: Path) -> int:
    if target.exists():
        return stat.S_IMODE(target.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
