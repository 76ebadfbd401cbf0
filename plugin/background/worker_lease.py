"""One active worker: whoever holds the `worker` lease runs the scheduled jobs.

Run two `journeydesk worker` processes on one database (a restart overlapping the old
process, a second host for failover) and both schedulers fire; without a lease both
would sync the same desk and spend its rate budget twice. Each scheduled job asks
`lease_for(config).held()` first: the holder runs it and keeps the lease alive with a
heartbeat; the other stands by and takes over once the holder stops renewing (it died,
or was stopped) and the lease expires.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading

from plugin.background.leased_queue import take_lease
from plugin.config import Config
from plugin.store import DATABASE_ERRORS, StoreError, describe_database_error, open_store
from plugin.store.leases import release_lease

log = logging.getLogger("journeydesk.worker")

LEASE_NAME = "worker"
TTL_SECONDS = 90
"""How long a silent holder keeps the lease: the standby takes over at most this late."""


class WorkerLease:
    """This process's claim on a lease in the store at `database_path`."""

    def __init__(
        self,
        database_path: str,
        *,
        name: str = LEASE_NAME,
        holder: str | None = None,
        ttl: int = TTL_SECONDS,
    ) -> None:
        self.database_path = database_path
        self.name = name
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.ttl = ttl
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._standing_by = False

    def held(self) -> bool:
        """Take or renew the lease; True when this process may run scheduled jobs now."""
        with self._lock:
            renewed = self._renew()
            if renewed is None:  # the database is away: said once by _renew, nothing runs
                return False
            if not renewed:
                if not self._standing_by:
                    log.info("another worker runs the scheduled jobs; this one stands by")
                    self._standing_by = True
                return False
            self._standing_by = False
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._stop.clear()
                self._heartbeat = threading.Thread(
                    target=self._beat, name=f"lease-{self.name}", daemon=True
                )
                self._heartbeat.start()
                log.info("this worker (%s) now runs the scheduled jobs", self.holder)
            return True

    def release(self) -> None:
        """Stop renewing and free the lease for a standby worker now."""
        self._stop.set()
        with self._lock:
            if self._heartbeat is None:
                return  # never held: nothing to free
            try:
                with open_store(self.database_path, migrate=False) as db:
                    release_lease(db, self.name, self.holder)
            except StoreError:
                return
            except DATABASE_ERRORS as exc:  # it expires on its own
                log.warning("could not release the %s lease: %s", self.name, exc)

    def _renew(self) -> bool | None:
        """True: this process holds the lease; False: another does; None: the database
        could not be asked (away, locked, read-only): a job skipped, one line logged, and
        the next run asks again."""
        try:
            # Migrating here too: a worker's first job may find a database nobody opened yet.
            with open_store(self.database_path) as db:
                return take_lease(db, self.name, self.holder, self.ttl)
        except (StoreError, *DATABASE_ERRORS) as exc:  # a locked or broken database: run nothing
            log.warning(
                "scheduled job skipped, the %s lease cannot be checked: %s",
                self.name,
                describe_database_error(exc),
            )
            return None

    def _beat(self) -> None:
        """Renew well before expiry (three tries per TTL) until stopped or lost."""
        while not self._stop.wait(self.ttl / 3):
            with self._lock:
                if self._stop.is_set():
                    return
                if not self._renew():
                    log.warning("this worker (%s) lost the %s lease", self.holder, self.name)
                    return


_leases: dict[str, WorkerLease] = {}
"""Per process, by nature: a lease's holder is this process (host, pid), its heartbeat a
thread of it, and it is released when the process exits. Kept here and nowhere else."""
_registry_lock = threading.Lock()


def lease_for(config: Config) -> WorkerLease:
    """This process's worker lease for the configured database (one per database)."""
    with _registry_lock:
        lease = _leases.get(config.database_path)
        if lease is None:
            lease = _leases[config.database_path] = WorkerLease(config.database_path)
            atexit.register(lease.release)
        return lease
