"""Sync runs that never finish: telling a run whose process died from one still going.

A run is a `sync_runs` row, `running` until its process marks how it ended. A process
killed with SIGKILL (an OOM kill, a flaky host, a deploy) never does, so each row names
its process as a lease holder is named (`host:pid:token:scope`, leased_queue.holder_name:
one idea of who holds what) and carries a heartbeat, and a row is judged by them:

- this very process: alive while the run is in its registry of active runs;
- the same pid where this process runs (same host, boot and pid namespace) with another
  token: an earlier process that had this pid (a restarted container's worker is often
  PID 1 again): dead;
- another pid where this process runs: alive while that pid exists and the heartbeat is
  recent;
- anywhere else (another host sharing the PostgreSQL database, another container or pid
  namespace, a clone with the same host name, an owner without the scope: an older
  release): alive while the heartbeat is recent (`STALE_SECONDS`): its pid means nothing
  here.

The next run marks the dead ones `interrupted` before it starts; `/healthz` and the
dashboard show them so meanwhile (`last_runs`).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from typing import Any

from sqlite_utils import Database

from plugin.background.leased_queue import holder_name, local_pid, pid_exists
from plugin.store import sync_state

HEARTBEAT_SECONDS = 30
"""Real seconds between two heartbeats of a run (written after a stored batch)."""
STALE_SECONDS = 3600
"""A run silent for this long is dead even if a process with its pid exists (a reused
pid, another host). Generous: a batch may wait minutes on a desk's Retry-After."""
INTERRUPTED = (
    "The sync stopped before it finished (its process was killed or crashed); "
    "the next run goes on from the last batch it stored."
)

_active: set[int] = set()  # ids of the runs going on in this process
_lock = threading.Lock()
_token: dict[int, str] = {}  # pid -> this process's token (a forked child gets its own)


def process_owner() -> str:
    """This process, as a run's `owner`: a lease holder's name (host, pid, scope) whose
    token no later process shares."""
    pid = os.getpid()
    with _lock:
        token = _token.setdefault(pid, secrets.token_hex(4))
    return holder_name(token)


def start(db: Database, source: str) -> int:
    """Close the runs whose process died, then open this one."""
    settle_dead_runs(db)
    run_id = sync_state.start_run(db, source, owner=process_owner(), alive_at=int(time.time()))
    with _lock:
        _active.add(run_id)
    return run_id


def ended(run_id: int) -> None:
    """The run finished (its row says how): it no longer belongs to this process."""
    with _lock:
        _active.discard(run_id)


class Heartbeat:
    """Marks a run alive at most every HEARTBEAT_SECONDS (real time)."""

    def __init__(self, db: Database, run_id: int) -> None:
        self._db, self._run_id, self._last = db, run_id, time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self._last >= HEARTBEAT_SECONDS:
            self._last = time.monotonic()
            sync_state.beat(self._db, self._run_id, int(time.time()))


def settle_dead_runs(db: Database) -> None:
    """Mark `interrupted` every `running` run whose process is gone."""
    now = time.time()
    dead = [run["id"] for run in sync_state.running_runs(db) if not is_alive(run, now)]
    if dead:
        sync_state.interrupt_runs(db, dead, INTERRUPTED)


def last_runs(db: Database) -> list[dict[str, Any]]:
    """The latest run of each source; a `running` one whose process is gone is shown as
    `interrupted` (read only: the next run writes it)."""
    now = time.time()
    runs = sync_state.last_runs(db)
    for run in runs:
        if run["status"] == "running" and not is_alive(run, now):
            run.update(status="interrupted", message=INTERRUPTED)
    return runs


def is_alive(run: dict[str, Any], now: float) -> bool:
    """Whether the process that runs `run` (owner, heartbeat_at, id) is still at it."""
    beat = run["heartbeat_at"]
    if beat is None or now - beat > STALE_SECONDS:
        return False
    owner = run["owner"] or ""
    if owner == process_owner():
        with _lock:
            return run["id"] in _active
    pid = local_pid(owner)
    if pid is None:
        return True  # its pid means nothing here: its heartbeat is all we can see
    if pid == os.getpid():
        return False  # an earlier process that had this pid (its token differs)
    return pid_exists(pid)
