"""Ctrl-C and SIGTERM as one exception, and sections of code that a signal cannot cut in half.

:func:`install` makes SIGINT and SIGTERM raise :class:`Interrupted` in the main thread. Inside
:func:`deferred`, a signal is remembered instead and raised when the outermost deferred section
ends, so a database transaction is always either committed or rolled back, never left open, and
a job is never half-marked. Outside the main thread (where Python never runs signal handlers)
``deferred`` does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived. ``exit_code`` is the shell's convention, 128 + the signal."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.reported = False  # set once a one-line message about it has been printed
        super().__init__(self.name)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_depth = 0  # nesting of deferred sections in the main thread
_pending: int | None = None  # the first signal that arrived inside one
_raised: tuple[float, int] | None = None  # (when, signal) of the last Interrupted raised
_hooks: list[Callable[[], None]] = []  # run just before an Interrupted is raised


# Python cannot raise out of these (an at-fork hook, a finaliser): an exception there is
# printed as "Exception ignored" and the signal would be lost
_CALLBACKS = {"__del__", "_acquireLock", "_releaseLock", "_after_fork", "_at_fork_reinit"}


def _in_callback(frame: Any) -> bool:
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_name in _CALLBACKS:
            return True
        frame = frame.f_back
    return False


def _on_signal(signum: int, frame: Any) -> None:
    global _pending
    if _depth > 0:
        if _pending is None:
            _pending = signum
        return
    if _in_callback(frame):  # deliver it again a moment later, outside the callback
        threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
        return
    global _raised
    _raised = (time.monotonic(), signum)
    for hook in list(_hooks):
        with contextlib.suppress(Exception):  # a hook must never stop the interrupt
            hook()
    raise Interrupted(signum)


@contextmanager
def on_interrupt(hook: Callable[[], None]) -> Iterator[None]:
    """Run ``hook`` (quick, non-blocking) the moment an interrupt is raised inside the block,
    e.g. to cut a connection a library is blocked on."""
    _hooks.append(hook)
    try:
        yield
    finally:
        _hooks.remove(hook)


def raised_since(moment: float) -> int | None:
    """The signal of an Interrupted raised after ``moment`` (time.monotonic()), if any — for
    code that calls a library which catches KeyboardInterrupt and raises something else."""
    if _raised is not None and _raised[0] >= moment:
        return _raised[1]
    return None


_installed_at = 0.0  # when install() ran: the start of this command


def raised_in_this_command() -> int | None:
    """The signal of an Interrupted raised since the command started, if any."""
    return raised_since(_installed_at)


def install() -> None:
    """Route SIGINT and SIGTERM to :class:`Interrupted` (main thread only; idempotent)."""
    global _installed_at
    if threading.current_thread() is not threading.main_thread():
        return
    if not installed():
        _installed_at = time.monotonic()
    for signum in HANDLED:
        signal.signal(signum, _on_signal)


def ignore() -> None:
    """From now on SIGINT and SIGTERM do nothing (the process is about to exit)."""
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            signal.signal(signum, signal.SIG_IGN)


def installed() -> bool:
    return signal.getsignal(signal.SIGINT) is _on_signal


def exit_code(err: BaseException) -> int:
    """128 + the signal for an interrupt (130 for a plain KeyboardInterrupt)."""
    return err.exit_code if isinstance(err, Interrupted) else 128 + signal.SIGINT


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block (and any enclosing deferred block) has ended."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


def pending() -> int | None:
    """The signal held by an open deferred section, if any (for tests and diagnostics)."""
    return _pending
