"""Draining a queue in the store under a lease: the outreach outbox and the SLA push queue.

One process at a time holds the queue's lease and works through its due rows; the lease is
renewed as the pass goes, and a process that loses it stops at once (another has taken
over). Each row is tried once per pass, so one that stays due (retried later) cannot spin.
Holders are named `host:pid:token:scope`, where `scope` names the machine's boot and the
pid namespace the process lives in (`pid_scope`): a lease left by a process that died where
this one runs can be told from one held by a live process, and a holder anywhere else
(another host sharing a PostgreSQL database, another container, a clone with the same host
name) is never taken for dead by its pid: its lease expires on its own.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlite_utils import Database

from plugin.store.leases import acquire_lease, lease_holder, release_lease

log = logging.getLogger("journeydesk.leases")


def take_lease(db: Database, name: str, holder: str, ttl_seconds: int) -> bool:
    """Take or renew `name`; a lease left by a process that died where this one runs (same
    host, boot and pid namespace: `local_holder_gone`) is taken over at once (a crashed
    worker restarted by systemd would otherwise wait out the TTL)."""
    if acquire_lease(db, name, holder, ttl_seconds):
        return True
    current = lease_holder(db, name)
    if current and local_holder_gone(current["holder"]):
        log.warning("%s: %s died holding the lease; taking over", name, current["holder"])
        release_lease(db, name, current["holder"])
        return acquire_lease(db, name, holder, ttl_seconds)
    return False


class LeaseLost(Exception):
    """Another process holds the queue's lease now: this pass must stop."""


def new_holder() -> str:
    """A holder name for one lease: this host, this process, a token of its own, and where
    its pid means something (`pid_scope`)."""
    return holder_name(os.urandom(3).hex())


def holder_name(token: str) -> str:
    """`host:pid:token:scope` for this process: the one way a lease holder or a sync run
    (plugin/intake/sync_runs.py) names the process behind it."""
    return f"{socket.gethostname()}:{os.getpid()}:{token}:{pid_scope()}"


def local_pid(holder: str) -> int | None:
    """The pid `holder` names when it can be looked up here, else None.

    Only a holder of this host name, this boot and this pid namespace can be judged by its
    pid; any other (another host, another container, a clone with the same host name, a
    name without the scope: an older release) is never taken for dead by it."""
    host, pid, _token, scope = (holder.split(":") + ["", "", "", ""])[:4]
    if host != socket.gethostname() or not scope or scope != pid_scope() or not pid.isdigit():
        return None
    return int(pid)


def local_holder_gone(holder: str) -> bool:
    """Whether `holder` names a process that no longer exists in this very pid namespace
    (`local_pid`): a holder anywhere else is never taken for dead; its lease expires on
    its own."""
    pid = local_pid(holder)
    return pid is not None and not pid_exists(pid)


@functools.cache
def pid_scope() -> str:
    """Where this process's pid is meaningful: a digest of the kernel's boot id and the pid
    namespace, the same for every process that can see this one's pid, different on every
    other machine (boot ids are random) and container (its own namespace). Empty where
    Linux's /proc does not tell: then no holder is ever taken for dead by its pid."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(f"{boot_id} {namespace}".encode()).hexdigest()[:12]


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


def due_rows(
    db: Database,
    lease: str,
    holder: str,
    ttl_seconds: int,
    fetch_due: Callable[[], list[dict[str, Any]]],
) -> Iterator[dict[str, Any]]:
    """Every row `fetch_due` returns, each once, until none is left; raises LeaseLost when
    the lease cannot be renewed (renewed every third of its time to live)."""
    tried: set[int] = set()
    renewed = time.monotonic()
    while True:
        due = [row for row in fetch_due() if row["id"] not in tried]
        if not due:
            return
        for row in due:
            tried.add(row["id"])
            if time.monotonic() - renewed > ttl_seconds / 3:
                if not acquire_lease(db, lease, holder, ttl_seconds):
                    raise LeaseLost(lease)
                renewed = time.monotonic()
            yield row


BACKOFF_SECONDS = (30, 120, 600, 1800, 3600)
"""Waits after the 1st, 2nd, ... failed attempt of a desk write (SLA pushes, journey
notes); the last one repeats: a desk that keeps failing is retried hourly, never dropped."""


def retry_at(attempt: int, now: int) -> int:
    """When a row whose `attempt`-th try just failed is due again."""
    return now + BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]


def drain(
    db: Database,
    lease: str,
    ttl_seconds: int,
    *,
    release_abandoned: Callable[[str], int],
    fetch_due: Callable[[], list[dict[str, Any]]],
    claim: Callable[[dict[str, Any], str], bool],
    handle: Callable[[dict[str, Any], str], None],
) -> tuple[bool, int, bool]:
    """One pass over a queue under its lease: rows left `sending` by a dead holder are
    pending again (`release_abandoned(holder)`), then each due row is claimed and handled.

    Returns (busy: another process holds the lease, released rows, lost: the lease was
    taken over mid-pass and the pass stopped)."""
    holder = new_holder()
    if not take_lease(db, lease, holder, ttl_seconds):
        return True, 0, False
    try:
        released = release_abandoned(holder)
        try:
            for row in due_rows(db, lease, holder, ttl_seconds, fetch_due):
                if claim(row, holder):
                    handle(row, holder)
        except LeaseLost:
            return False, released, True
        return False, released, False
    finally:
        release_lease(db, lease, holder)
