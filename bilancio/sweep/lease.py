"""Who is running a job: a lease on its row, renewed by a heartbeat while the sweep runs.

A second process that wants to resume a job whose lease is live is refused before anything is
written. A lease ends when its sweep ends (completed, failed or interrupted), when it has not
been renewed for :data:`LEASE_SECONDS`, or at once when its holder was a process on this machine
that no longer exists (``kill -9``, a crash). The heartbeat also writes the job's run counts, so
``bilancio jobs ls`` shows a running job's progress.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

BEAT_SECONDS = 10.0  # how often the heartbeat renews the lease (job.heartbeat_seconds)
BEATS_PER_LEASE = 6  # a lease not renewed for this many beats has ended
LEASE_SECONDS = BEAT_SECONDS * BEATS_PER_LEASE


def lease_seconds(beat: float) -> float:
    return beat * BEATS_PER_LEASE


# held by the heartbeat while it talks to the database, and by os.fork: a forked worker never
# inherits a connection in the middle of a request
FORK_GUARD = threading.Lock()


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: str  # the process's start time on this boot ('' where the system does not say)
    token: str

    def text(self) -> str:
        return f"{self.host}/{self.pid}/{self.started}/{self.token}"

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        parts = (text or "").split("/")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2], parts[3])

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _started(pid: int) -> str:
    """Boot id and start tick of a process (Linux); '' elsewhere or if it does not exist."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return f"{boot[:8]}-{stat.rsplit(')', 1)[1].split()[19]}"


@cache
def me() -> Owner:
    return Owner(socket.gethostname(), os.getpid(), _started(os.getpid()), secrets.token_hex(4))


def holder_is_gone(owner: Owner) -> bool:
    """True only when the holder certainly no longer runs: a process of this host that has
    exited (or whose pid now belongs to another process)."""
    if owner.host != socket.gethostname():
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, run by another user
    return bool(owner.started) and _started(owner.pid) != owner.started


def expires_at(seconds: float = LEASE_SECONDS) -> str:
    stamp = datetime.now(UTC) + timedelta(seconds=seconds)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def live_holder(lease: dict[str, Any] | None) -> str | None:
    """A description of who holds a live lease on a job row, or None if it can be taken."""
    if not lease or lease.get("status") != "running" or not lease.get("lease_owner"):
        return None
    owner = Owner.parse(lease["lease_owner"])
    if owner is None or owner == me():
        return None
    until = _parse_time(lease.get("lease_expires_at"))
    if until is None or until <= datetime.now(UTC) or holder_is_gone(owner):
        return None
    left = (until - datetime.now(UTC)).total_seconds()
    return f"{owner.describe()}, lease for another {left:.0f} s unless renewed"


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Heartbeat:
    """Renews the lease every :data:`BEAT_SECONDS` from a thread with its own connection."""

    def __init__(
        self, settings: dict[str, Any], job_id: str, owner: str, beat: float = BEAT_SECONDS
    ):
        self.settings, self.job_id, self.owner, self.beat = settings, job_id, owner, beat
        self.lost = False  # the lease was found held by someone else
        self.failures = 0  # beats that could not reach the database
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bilancio-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=max(self.beat, 5.0))

    def _run(self) -> None:
        from bilancio.storage import StoreError, open_store

        store = None
        while not self._stop.wait(self.beat):
            with FORK_GUARD:
                try:
                    store = store or open_store(self.settings)
                    until = expires_at(lease_seconds(self.beat))
                    if not store.renew_lease(self.job_id, self.owner, until):
                        self.lost = True
                        print(
                            f"bilancio: warning: job {self.job_id}'s lease was taken over by "
                            "another process",
                            file=sys.stderr,
                        )
                        return
                except StoreError:
                    self.failures += 1  # the sweep itself reports a failing database
        if store is not None:
            with FORK_GUARD:
                store.close()


def _guard_fork() -> None:
    os.register_at_fork(
        before=FORK_GUARD.acquire,
        after_in_parent=FORK_GUARD.release,
        after_in_child=FORK_GUARD.release,
    )


_guard_fork()
