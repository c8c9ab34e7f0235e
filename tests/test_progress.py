"""The progress line of a sweep on a terminal: redrawn in place, never wider than the terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import termios
import threading

import pytest

from bilancio.sweep.progress import Progress


class _Reader(threading.Thread):
    """Drains the pty's master side while the progress writes (its buffer holds a few KB)."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd, self.data = fd, b""
        self.start()

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO once the other end is closed
                return
            if not chunk:
                return
            self.data += chunk

    def drained(self, timeout: float = 10) -> None:
        """Wait until the last line's newline has been read: Linux may drop what is still
        buffered in a pty once its other end is closed, which cut the text short."""
        import time

        deadline = time.monotonic() + timeout
        while not self.data.endswith(b"\n") and time.monotonic() < deadline:
            time.sleep(0.01)

    def text(self) -> str:
        self.join(timeout=10)
        os.close(self.fd)
        return self.data.decode()


@pytest.mark.parametrize("columns_env", [True, False], ids=["COLUMNS=40", "window 40"])
def test_the_live_line_fits_a_narrow_terminal(monkeypatch, columns_env: bool) -> None:
    master, slave = pty.openpty()
    # the terminal is 40 columns wide, by $COLUMNS or by the window size of the pty itself
    width = 40
    if columns_env:
        monkeypatch.setenv("COLUMNS", str(width))
    else:
        monkeypatch.delenv("COLUMNS", raising=False)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # no \n -> \r\n translation: see exactly what was written
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    reader = _Reader(master)
    stream = os.fdopen(slave, "w", encoding="utf-8")
    progress = Progress(1000, skipped=3, stream=stream)
    assert progress.live
    progress.interval = 0  # draw on every update
    for i in range(997):
        progress.update(failed=i % 100 == 0)
    progress.close()
    reader.drained()
    stream.close()
    text = reader.text()
    assert text.endswith("\n") and text.count("\n") == 1  # one line, redrawn in place
    redraws = text.rstrip("\n").split("\r")[1:]
    assert len(redraws) >= 997
    # "1000/1000 jobs (10 failed, 3 already done) ..." is longer than 39 characters: every
    # redraw (with the spaces that blank an earlier, longer one) is cut to 40 - 1
    assert max(len(r) for r in redraws) == width - 1
    assert redraws[-1].startswith("1000/1000 jobs (10 failed")


def test_a_wide_terminal_keeps_the_bar(monkeypatch) -> None:
    master, slave = pty.openpty()
    monkeypatch.setenv("COLUMNS", "200")
    reader = _Reader(master)
    stream = os.fdopen(slave, "w", encoding="utf-8")
    progress = Progress(2, stream=stream)
    progress.update(False)
    progress.update(False)
    progress.close()
    reader.drained()
    stream.close()
    text = reader.text()
    last = text.strip().split("\r")[-1]
    assert last.startswith("[" + "#" * 30 + "] 2/2 jobs (0 failed)")
