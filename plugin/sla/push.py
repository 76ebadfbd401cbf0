"""Pushing SLA decisions to the desks (`push_due`): under the `sla-push` lease (one pushing
process at a time: the worker, a webhook's fetch, a CLI run), each due update is marked
`sending` (committed), sent with the connector's `update_ticket`, then marked `sent`, or
pending again later with backoff. Nothing is dropped: a desk that keeps failing is retried
hourly (`leased_queue.BACKOFF_SECONDS`) until it answers; only a ticket the desk no longer
knows ends `failed`. A `sending` row left by a process that died mid-call is pending again for the
next holder: the update is idempotent (a priority set, tags added to those on the ticket;
connectors read the ticket first and send nothing when it already has them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from connectors.errors import ConnectorError, NotFoundError
from plugin.background.leased_queue import drain, retry_at
from plugin.clock import now_epoch
from plugin.config import Config
from plugin.intake.connector_factory import ConnectorsByName
from plugin.store import open_store
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
    with open_store(config.database_path) as db:
        connectors = ConnectorsByName(config, db)
        report.busy, report.released, lost = drain(
            db,
            LEASE_NAME,
            LEASE_TTL_SECONDS,
            release_abandoned=lambda holder: release_abandoned(db, holder=holder, now=now_epoch()),
            fetch_due=lambda: due_pushes(db, now=now_epoch(), limit=batch),
            claim=lambda push, holder: start_pushing(
                db, push["id"], holder=holder, now=now_epoch()
            ),
            handle=lambda push, holder: _push_one(db, connectors, push, holder, report),
        )
        if lost:
            report.errors.append("lost the push lease; stopped")
    return report


def _push_one(
    db, connectors: ConnectorsByName, push: dict, holder: str, report: PushReport
) -> None:
    attempts = push["attempts"] + 1
    try:
        connectors[push["source"]].update_ticket(
            push["ticket_id"], priority=push["priority"], add_tags=tuple(push["add_tags"])
        )
    except NotFoundError as exc:
        record_push_failed(db, push["id"], error=f"attempt {attempts}: {exc}", now=now_epoch())
        report.failed += 1
        report.errors.append(f"{push['source']} ticket {push['ticket_id']}: {exc}")
        return
    except (ConnectorError, OSError, ValueError) as exc:
        now = now_epoch()
        record_push_retry(
            db,
            push["id"],
            error=f"attempt {attempts}: {exc}",
            retry_at=retry_at(attempts, now),
            now=now,
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
