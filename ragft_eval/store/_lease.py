"""Leases on runs: a process working on a run (a resume) holds the run's lease, so a second process
resuming the same run at once is refused instead of redoing and overwriting the same cases.

A lease is a row (run id, holder, expiry) that its holder renews every ``ttl_s / 3`` from a thread of its
own, on a connection of its own; a holder that died stops renewing, so its lease expires after at most
``ttl_s`` and the run can be resumed.  A holder on this host whose process is gone (a run killed with
SIGKILL) is known dead at once, and its lease is taken over without waiting.  Each backend supplies the
atomic take-or-renew and take-over statements (:class:`LeaseBackend`); the holding, renewing and
releasing are here, the same for all.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from ..errors import ConfigError, ResumeError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    """A held lease: the run, who holds it (``host:pid:nonce``) and for how long each renewal lasts."""

    run_id: str
    holder: str
    ttl_s: float


class LeaseBackend(Protocol):
    """One backend's lease statements, on a connection of their own (renewals run on another thread)."""

    def take(self, run_id: str, holder: str, ttl_s: float) -> tuple[str, float] | None:
        """Take the lease, or renew it when ``holder`` has it: None when held now, else who holds it and for
        how many seconds more."""
        ...

    def take_over(self, run_id: str, dead: str, holder: str, ttl_s: float) -> bool:
        """Take the lease from ``dead`` if it still holds it (False when someone else got there first)."""
        ...

    def release(self, run_id: str, holder: str) -> None: ...

    def close(self) -> None: ...


def new_holder() -> str:
    # host and pid say who to look for; the nonce tells two leases of one process apart
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _gone(holder: str) -> bool:
    """Whether ``holder`` was a process of this host that no longer exists (another host's: unknown)."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's
        return False
    return False


@contextmanager
def hold_lease(connect: Callable[[], LeaseBackend], run_id: str, ttl_s: float) -> Iterator[Lease]:
    """Hold ``run_id``'s lease for the ``with`` block (ResumeError when another live holder has it)."""
    if not ttl_s > 0:
        raise ConfigError(f"ttl_s: expected a lease time > 0 seconds, got {ttl_s}")
    holder = new_holder()
    backend = connect()
    try:
        other = backend.take(run_id, holder, ttl_s)
        if other is not None and not (_gone(other[0]) and backend.take_over(run_id, other[0], holder, ttl_s)):
            raise ResumeError(
                f"run {run_id!r} is being worked on by {other[0]} (lease for {max(other[1], 0):.0f} s more): "
                "wait for it to finish, or, if that process is gone, for its lease to expire"
            )
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(ttl_s / 3):
                try:
                    if (other := backend.take(run_id, holder, ttl_s)) is not None:
                        log.warning("lease on run %s lost to %s (not renewed in time)", run_id, other[0])
                        return
                except Exception as exc:  # a blip: the next beat retries while the lease still lasts
                    log.warning("lease on run %s not renewed: %s", run_id, exc)

        beat = threading.Thread(target=renew, name=f"lease-{run_id}", daemon=True)
        beat.start()
        try:
            yield Lease(run_id=run_id, holder=holder, ttl_s=ttl_s)
        finally:
            stop.set()
            beat.join()
            backend.release(run_id, holder)
    finally:
        backend.close()
