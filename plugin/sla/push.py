"""Pushing SLA decisions to the desks (`push_due`): under the `sla-push` lease (one pushing
process at a time: the worker, a webhook's fetch, a CLI run), each due update is marked
`sending` (committed), sent with the connector's `update_ticket`, then marked `sent`, or
pending again later with backoff. Nothing is dropped: a desk that keeps failing is retried
every `BACKOFF_SECONDS[-1]` until it answers; only a ticket the desk no longer knows ends
`failed`. A `sending` row left by a process that died mid-call is pending again for the
next holder: the update is idempotent (a priority set, tags added to those on the ticket;
connectors read the ticket first and send nothing when it already has them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import ConnectorError, NotFoundError
from plugin.background.leased_queue import LeaseLost, due_rows, new_holder, take_lease
from plugin.clock import now_epoch
from plugin.config import Config
from plugin.intake.connector_factory import make_connector
from plugin.store import open_store
from plugin.store.leases import release_lease
from plugin.store.sla_pushes import (
    due_pushes,
    record_push_failed,
    record_push_retry,
    record_pushed,
    release_abandoned,
    start_pushing,
)

log = logging.getLogger("journeydesk.sla")

LEASE_NAME = "sla-push"
LEASE_TTL_SECONDS = 120
BACKOFF_SECONDS = (30, 120, 600, 1800, 3600)
"""Waits after the 1st, 2nd, ... failed attempt; the last one repeats."""


@dataclass
class PushReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    """`sending` rows left by a process that died, pending again."""
    busy: bool = False
    errors: list[str] = field(default_factory=list)


def push_due(config: Config, *, batch: int = 100) -> PushReport:
    """Send every due pending update, in the one process holding the push lease."""
    report = PushReport()
    holder = new_holder()
    with open_store(config.database_path) as db:
        if not take_lease(db, LEASE_NAME, holder, LEASE_TTL_SECONDS):
            report.busy = True
            return report
        try:
            report.released = release_abandoned(db, holder=holder, now=now_epoch())
            _push(db, config, holder, report, batch)
        finally:
            release_lease(db, LEASE_NAME, holder)
    return report


def _push(db, config: Config, holder: str, report: PushReport, batch: int) -> None:
    connectors: dict[str, Any] = {}

    def fetch_due() -> list[dict[str, Any]]:
        return due_pushes(db, now=now_epoch(), limit=batch)

    try:
        for push in due_rows(db, LEASE_NAME, holder, LEASE_TTL_SECONDS, fetch_due):
            if not start_pushing(db, push["id"], holder=holder, now=now_epoch()):
                continue
            _push_one(db, config, connectors, push, holder, report)
    except LeaseLost:
        report.errors.append("lost the push lease; stopped")


def _push_one(db, config: Config, connectors: dict, push: dict, holder: str, report) -> None:
    attempts = push["attempts"] + 1
    try:
        connector = connectors.get(push["source"])
        if connector is None:
            conf = config.connector(push["source"])
            if conf is None:
                raise ConnectorError(f"no connector named {push['source']!r} in the config")
            connector = connectors[push["source"]] = make_connector(config, conf, db=db)
        connector.update_ticket(
            push["ticket_id"], priority=push["priority"], add_tags=tuple(push["add_tags"])
        )
    except NotFoundError as exc:
        record_push_failed(db, push["id"], error=f"attempt {attempts}: {exc}", now=now_epoch())
        report.failed += 1
        report.errors.append(f"{push['source']} ticket {push['ticket_id']}: {exc}")
        return
    except (ConnectorError, OSError, ValueError) as exc:
        now = now_epoch()
        wait = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
        record_push_retry(
            db, push["id"], error=f"attempt {attempts}: {exc}", retry_at=now + wait, now=now
        )
        report.retrying += 1
        report.errors.append(f"{push['source']} ticket {push['ticket_id']}: {exc}")
        log.warning("SLA push to %s ticket %s failed: %s", push["source"], push["ticket_id"], exc)
        return
    record_pushed(db, push["id"], holder=holder, now=now_epoch())
    report.sent += 1


def push_quietly(config: Config) -> PushReport | None:
    """`push_due` for callers that must not fail (the worker, a webhook's fetch)."""
    try:
        return push_due(config)
    except Exception as exc:
        log.error("SLA push failed: %s", exc)
        return None
