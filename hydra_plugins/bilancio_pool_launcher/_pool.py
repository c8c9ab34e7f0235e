"""The parent side of the pool launcher: forked workers that may die without hanging the sweep.

Each worker has its own pipe. The parent sends it chunks of items (at most two chunks ahead, so
it never idles) and it answers each finished item in order, so the first unanswered item of a
worker is the one it was running. The parent waits on the pipes and on the processes' sentinels
at once, so a death (``kill -9``, the out-of-memory killer, a crash) is seen at once: the dead
worker's unstarted items go back to the front of the queue, the item it was running is run once
more in a fresh worker, and if that worker dies too the item becomes a failed result.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

from bilancio import interrupts

from . import _worker
from ._death import Death, died_twice

WAIT_SECONDS = 1.0  # longest wait for a reply or a death before looking again
STOP_GRACE = 0.5  # seconds a worker gets to stop by itself before it is terminated


class PoolJobError(RuntimeError):
    """A job the pool could not bring to an outcome (its worker died twice, say)."""


@dataclass(frozen=True)
class Kind:
    """How the pool treats one kind of item."""

    run: Callable[[Any], Any]  # in a worker: the item's result
    failed: Callable[[Any, str], Any]  # in the parent: the result of an item that could not run
    label: Callable[[Any], str]  # the item in a message, e.g. "pair #17"
    noun: str  # what an item is, e.g. "pair"


@dataclass
class _Task:
    key: int  # the item's position in the input
    item: Any
    deaths: list[Death] = field(default_factory=list)  # of the workers that were running it


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    held: deque[_Task] = field(default_factory=deque)  # sent, not yet answered, in order
    eof: bool = False  # the pipe is closed at the other end


class WorkerPool:
    """``n`` forked workers running items ``chunksize`` at a time."""

    def __init__(self, kind: Kind, n: int, chunksize: int):
        self.kind, self.n, self.chunksize = kind, n, chunksize
        self._ctx = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []
        # dead workers, kept until they can be freed with signals held: freeing a process or a
        # pipe runs Python finalizers, and a signal handled inside one is lost
        self._dead: list[_Worker] = []
        self._queue: deque[_Task] = deque()  # items handed back by dead workers, run first
        self._ready: deque[tuple[int, Any]] = deque()  # results not yet handed out
        self._items: Iterator[Any] = iter(())
        self._next_key, self._exhausted = 0, False

    def run(self, items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """``(position in items, result)`` for every item, as items finish. Items are pulled
        lazily (a few chunks per worker in flight); every item gets exactly one result, even
        when workers die. The workers are gone when the iteration ends, however it ends."""
        self._items, self._next_key, self._exhausted = iter(items), 0, False
        try:
            for _ in range(self.n):
                self._spawn()
            while True:
                self._feed()
                while self._ready:
                    yield self._ready.popleft()
                if not self._busy():
                    return
                self._step()
        finally:
            self._shutdown()

    # -- sending work ---------------------------------------------------------------------------

    def _feed(self) -> None:
        for worker in self._workers:
            # its replies are read first, and it reads what is waiting before it replies again,
            # so a send can block (a chunk larger than the pipe's buffer) only until the worker
            # ends its current item: neither side ever waits for the other with a full pipe
            self._read(worker)
            while len(worker.held) <= self.chunksize:  # at most two chunks ahead
                tasks = self._take(self.chunksize)
                if not tasks:
                    return
                self._send(worker, tasks)

    def _take(self, size: int) -> list[_Task]:
        tasks: list[_Task] = []
        while self._queue and len(tasks) < size:
            tasks.append(self._queue.popleft())
        while not self._exhausted and len(tasks) < size:
            try:
                item = next(self._items)
            except StopIteration:
                self._exhausted = True
                break
            tasks.append(_Task(self._next_key, item))
            self._next_key += 1
        return tasks

    def _send(self, worker: _Worker, tasks: list[_Task]) -> None:
        worker.held.extend(tasks)
        # if it has died, its sentinel says so, and its held items are dealt with then
        with contextlib.suppress(OSError):
            worker.conn.send([(t.key, t.item) for t in tasks])

    def _busy(self) -> bool:
        return bool(self._queue) or not self._exhausted or any(w.held for w in self._workers)

    # -- receiving results and deaths ----------------------------------------------------------

    def _step(self) -> None:
        """Wait (at most a second) for replies and deaths, and deal with them."""
        with _signals_held():
            self._dead.clear()  # nothing else refers to them any more
        pipes = {w.conn: w for w in self._workers if not w.eof}
        sentinels = {w.process.sentinel: w for w in self._workers}
        ready = set(wait([*pipes, *sentinels], timeout=WAIT_SECONDS))
        for conn in ready & pipes.keys():
            self._read(pipes[conn])
        for sentinel in ready & sentinels.keys():
            self._bury(sentinels[sentinel])

    def _read(self, worker: _Worker) -> None:
        """The results of every reply waiting in the worker's pipe."""
        while not worker.eof and worker.conn.poll(0):
            try:
                data = worker.conn.recv_bytes()
            except (EOFError, OSError):  # closed, possibly in the middle of a reply
                worker.eof = True
                return
            task = worker.held.popleft()
            self._ready.append((task.key, self._result(task, data)))

    def _result(self, task: _Task, data: bytes) -> Any:
        try:
            key, ok, value = ForkingPickler.loads(data)
        except Exception as err:
            return self.kind.failed(task.item, f"its result could not be read: {err!r}")
        if key != task.key:  # replies come in the order items were sent; anything else is a bug
            raise RuntimeError(f"worker answered item {key} while item {task.key} was due")
        return value if ok else self.kind.failed(task.item, value)

    def _bury(self, worker: _Worker) -> None:
        """A worker has ended: keep what it finished, start another, deal with what it held."""
        self._read(worker)
        with _signals_held():
            worker.process.join()
            death = Death(worker.process.pid or 0, worker.process.exitcode or 0)
            self._workers.remove(worker)
            worker.conn.close()
            worker.process.close()
            self._dead.append(worker)  # freed at the next step, with signals held too
        fresh = self._spawn()
        if not worker.held:
            _say(f"worker process {death.pid} {death.says()} while idle; started another")
            return
        task = worker.held.popleft()
        self._queue.extendleft(reversed(worker.held))  # never started: no attempt counted
        task.deaths.append(death)
        label = self.kind.label(task.item)
        if len(task.deaths) == 1:
            _say(
                f"worker process {death.pid} {death.says()} while running {label}; "
                "running it again in a fresh worker"
            )
            self._send(fresh, [task])
            return
        _say(
            f"worker process {death.pid} {death.says()} while running {label} again; "
            "it counts as failed"
        )
        failed = self.kind.failed(task.item, died_twice(task.deaths, self.kind.noun))
        self._ready.append((task.key, failed))

    # -- starting and stopping workers ---------------------------------------------------------

    def _spawn(self) -> _Worker:
        mine, theirs = self._ctx.Pipe()
        others = [w.conn for w in self._workers] + [mine]
        process = self._ctx.Process(
            target=_worker.main, args=(theirs, others, os.getpid(), self.kind.run), daemon=True
        )
        # a Ctrl-C during the fork can neither orphan the child nor reach it before it
        # ignores SIGINT: the child inherits the mask and lifts it once its handlers are set
        with _signals_held():
            try:
                process.start()
                worker = _Worker(process, mine)
                self._workers.append(worker)
            except BaseException:
                mine.close()
                raise
            finally:
                theirs.close()  # only the worker holds its end, so its death closes the pipe
                del theirs, others
        return worker

    def _shutdown(self) -> None:
        """Ask every worker to stop, then terminate and finally kill those that have not."""
        with _signals_held():  # a second Ctrl-C must not leave orphans behind
            _stop(self._workers)
            self._workers.clear()
            self._dead.clear()


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block has ended: held by ``interrupts.deferred`` and
    blocked in the OS meanwhile, so that neither a child forked here nor a Python finalizer run
    here (closing a pipe or a process, where an exception is printed and dropped) gets them."""
    with interrupts.deferred():
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _worker.HANDLED)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _stop(workers: list[_Worker]) -> None:
    for worker in workers:
        _ask_to_stop(worker.conn)
    processes = [w.process for w in workers]
    _join(processes, STOP_GRACE)
    for process in processes:
        if process.is_alive():
            process.terminate()
    _join(processes, 1.0)
    for process in processes:
        if process.is_alive():
            process.kill()
        process.join()
    for worker in workers:
        worker.conn.close()
        worker.process.close()


def _ask_to_stop(conn: Connection) -> None:
    try:
        os.set_blocking(conn.fileno(), False)  # a full pipe must not stall the shutdown
        conn.send(None)
    except OSError:
        pass  # gone already, or too busy to read it: it is terminated instead


def _join(processes: list[BaseProcess], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))


def _say(message: str) -> None:
    # start on a new line when a progress bar is being redrawn in place on the terminal
    lead = "\n" if sys.stderr.isatty() else ""
    print(f"{lead}bilancio: {message}", file=sys.stderr, flush=True)
