"""How a worker process ended, in words for a message and for a failed job's error."""

from __future__ import annotations

import signal
from dataclasses import dataclass

KILL_HINTS = {
    signal.SIGKILL: "killed from outside or by the out-of-memory killer",
    signal.SIGSEGV: "a crash in compiled code",
    signal.SIGTERM: "terminated from outside",
}


@dataclass(frozen=True)
class Death:
    """How a worker process ended: ``exitcode`` as ``multiprocessing`` reports it."""

    pid: int
    exitcode: int

    def says(self, hint: bool = False) -> str:
        """E.g. "died (signal 9, SIGKILL)" or "exited with code 3"."""
        if self.exitcode >= 0:
            return f"exited with code {self.exitcode}"
        number = -self.exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            return f"died (signal {number})"
        extra = f": {KILL_HINTS[number]}" if hint and number in KILL_HINTS else ""
        return f"died (signal {number}, {name}{extra})"


def died_twice(deaths: list[Death], noun: str) -> str:
    """The error of an item whose worker died while running it, and again in a fresh worker."""
    first, last = deaths[0].says(hint=True), deaths[-1].says(hint=True)
    again = f"{last.split(' ')[0]} again" if first == last else f"that worker {last}"
    return (
        f"worker process {first} while running this {noun}; it was run again in a fresh "
        f"worker and {again}"
    )
