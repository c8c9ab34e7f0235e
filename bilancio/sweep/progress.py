"""Progress of a sweep: done / failed / total, rate and ETA.

On a terminal a single line is redrawn in place (at most 10 times a second); otherwise a plain
line is printed every ``interval`` seconds and at the end, so logs stay readable.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(
        self,
        total: int,
        *,
        skipped: int = 0,
        stream: TextIO | None = None,
        interval: float = 10.0,
        label: str = "jobs",
        count_failures: bool = True,
    ):
        self.total, self.skipped = total, skipped
        self.done = self.failed = 0
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.interval = interval if not self.live else 0.1
        self.label, self.count_failures = label, count_failures
        self.start = time.monotonic()
        self._last = 0.0
        self._width = 0
        self._drawn_at = -1  # value of ``done`` when last drawn

    def update(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if now - self._last >= self.interval or self.finished:
            self._last = now
            self._draw(now)

    @property
    def finished(self) -> bool:
        return self.skipped + self.done >= self.total

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        remaining = self.total - self.skipped - self.done
        eta = _clock(remaining / rate) if rate > 0 else "?"
        finished = self.skipped + self.done
        skipped = f", {self.skipped} already done" if self.skipped else ""
        counts = f" ({self.failed} failed{skipped})" if self.count_failures else ""
        text = (
            f"{finished}/{self.total} {self.label}{counts} "
            f"{rate:.1f}/s elapsed {_clock(elapsed)} ETA {eta}"
        )
        if self.live:
            filled = int(30 * finished / self.total) if self.total else 30
            text = f"[{'#' * filled}{'.' * (30 - filled)}] {text}"
        return text

    def _columns(self) -> int:
        """The terminal's width: $COLUMNS if set (as shutil reads it), else the width of the
        terminal the stream writes to, else shutil's answer (80 when it knows none)."""
        if not os.environ.get("COLUMNS", "").strip().isdigit():
            try:
                return os.get_terminal_size(self.stream.fileno()).columns or 80
            except (AttributeError, ValueError, OSError):
                pass
        return shutil.get_terminal_size().columns

    def _fitted(self, text: str, limit: int) -> str:
        """The live line in at most ``limit`` characters (a line as wide as the terminal wraps,
        and each redraw then scrolls): without the bar if need be, then cut."""
        if len(text) > limit and text.startswith("["):
            text = text.partition("] ")[2]
        return text[:limit]

    def _draw(self, now: float) -> None:
        self._drawn_at = self.done
        text = self.line(now)
        if self.live:
            limit = max(1, self._columns() - 1)
            text = self._fitted(text, limit)
            pad = " " * max(0, min(self._width, limit) - len(text))
            self.stream.write(f"\r{text}{pad}")
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn_at != self.done or self.live:
            self._draw(time.monotonic())
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
