"""The worker side of the pool: a forked process that runs the items it is sent, one reply each.

A worker reads chunks of ``(key, item)`` from its pipe and answers every finished item with one
message ``(key, ok, result_or_error_text)``, in the order it was sent them, so the parent always
knows which item a worker was running when it died. ``None`` tells it to stop. It never lets an
exception escape (so ``multiprocessing`` prints no traceback), and it ends by itself within
about a second when its parent has gone.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)
POLL_SECONDS = 1.0  # how often an idle worker checks that its parent is still there


def main(
    conn: Connection, others: Iterable[Connection], parent_pid: int, run: Callable[[Any], Any]
) -> None:
    """Entry point of a forked worker: serve ``conn`` until told to stop or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)  # blocked by the parent for the fork
    for other in others:
        other.close()  # the parent's ends: held here, a dead parent's pipes would stay open
    from bilancio.sweep import job

    job.forget_inherited_stores()  # never use a database connection opened by the parent
    try:
        _serve(conn, parent_pid, run)
    except (EOFError, OSError):
        pass  # the parent is gone: there is nobody left to report to
    except BaseException as err:  # a bug here: one line, and the parent sees the exit code
        sys.stderr.write(f"bilancio: worker process {os.getpid()} stopped: {err!r}\n")
        sys.exit(1)


def _serve(conn: Connection, parent_pid: int, run: Callable[[Any], Any]) -> None:
    todo: deque[tuple[int, Any]] = deque()
    while os.getppid() == parent_pid:
        if not _receive(conn, todo, 0 if todo else POLL_SECONDS):
            return
        if todo:
            key, item = todo.popleft()
            reply = _reply(key, run, item)
            # read what the parent is sending before answering, so neither side can block
            # the other with a full pipe
            if not _receive(conn, todo, 0):
                return
            conn.send_bytes(reply)


def _receive(conn: Connection, todo: deque[tuple[int, Any]], timeout: float) -> bool:
    """Move every chunk waiting in the pipe (waiting up to ``timeout`` for the first) to
    ``todo``; False once told to stop."""
    while conn.poll(timeout):
        chunk = conn.recv()
        if chunk is None:
            return False
        todo.extend(chunk)
        timeout = 0
    return True


def _reply(key: int, run: Callable[[Any], Any], item: Any) -> Any:
    try:
        message = (key, True, run(item))
    except BaseException as err:  # an item's failure is its outcome, never the worker's end
        message = (key, False, f"{type(err).__name__}: {err}")
    try:
        return ForkingPickler.dumps(message)
    except Exception as err:
        text = f"its result could not be sent back to the main process: {err!r}"
        return ForkingPickler.dumps((key, False, text))
