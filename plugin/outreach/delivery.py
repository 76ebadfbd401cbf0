"""Delivering outreach (`deliver_due`): under the `outreach-delivery` lease (one delivering
process at a time, whatever runs: the worker, a CLI run, a second worker), every due message
is marked `sending` (committed), sent, then marked `sent`, retried later with backoff, or
`failed`. A `sending` row found by the next lease holder was left by a run that died
mid-send: it becomes `uncertain` and is never re-sent without an admin.

Test hook: with JOURNEYDESK_OUTREACH_PAUSE=claimed (after the claim is committed, before
any send) or =sent (after the first send, before it is recorded) the process prints
`PAUSED <point>` and sleeps, so a test can kill it there. Never set it in production.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from plugin.background.leased_queue import LeaseLost, due_rows, new_holder, take_lease
from plugin.clock import now_epoch
from plugin.config import Config
from plugin.outreach.active_rules import ActiveRules, load_active_rules
from plugin.outreach.channels import (
    EmailChannel,
    HelpdeskChannel,
    SendError,
    WebhookChannel,
)
from plugin.outreach.rules import Rule
from plugin.store import open_store
from plugin.store.customers import contact_details
from plugin.store.leases import release_lease
from plugin.store.outbox import (
    due_messages,
    mark_abandoned,
    record_failed,
    record_retry,
    record_sent,
    start_sending,
)

log = logging.getLogger("journeydesk.outreach")

PAUSE_ENV = "JOURNEYDESK_OUTREACH_PAUSE"
LEASE_NAME = "outreach-delivery"
LEASE_TTL_SECONDS = 120
BACKOFF_SECONDS = (60, 300, 1800)
"""Waits before the 2nd, 3rd and 4th attempt of a transient failure; then `failed`."""
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    """`sending` rows left by a dead run, marked uncertain by this one."""
    busy: bool = False
    """Another process holds the delivery lease: it delivers (this run sent nothing)."""
    errors: list[str] = field(default_factory=list)


def deliver_due(
    config: Config,
    *,
    active: ActiveRules | None = None,
    batch: int = 100,
    wait_seconds: float = 0,
) -> DeliveryReport:
    """Send every due pending message, in the one process holding the delivery lease.

    When another process delivers, wait up to `wait_seconds` (real time) for it to finish,
    then deliver what is left (what this process claimed meanwhile, for one); else leave it
    to that process and the worker's next delivery.
    """
    report = DeliveryReport()
    holder = new_holder()
    with open_store(config.database_path) as db:
        deadline = time.monotonic() + wait_seconds
        while not take_lease(db, LEASE_NAME, holder, LEASE_TTL_SECONDS):
            if time.monotonic() >= deadline:
                report.busy = True
                return report
            time.sleep(0.2)
        try:
            if active is None:
                active = load_active_rules(db, config)
            report.uncertain = mark_abandoned(db, holder=holder, now=now_epoch())
            _deliver(db, config, active, holder, report, batch)
        finally:
            release_lease(db, LEASE_NAME, holder)
    return report


def _deliver(db, config, active: ActiveRules, holder: str, report: DeliveryReport, batch) -> None:
    rules = {rule.name: rule for rule in active.rules.rules}
    channels: dict[str, Any] = {}

    def fetch_due() -> list[dict[str, Any]]:
        return due_messages(db, now=now_epoch(), limit=batch)

    try:
        for message in due_rows(db, LEASE_NAME, holder, LEASE_TTL_SECONDS, fetch_due):
            if not start_sending(db, message["id"], holder=holder, now=now_epoch()):
                continue
            channel = channels.get(message["channel"])
            if channel is None:
                channel = channels[message["channel"]] = _channel(config, message, rules)
            _send_one(db, channel, message, holder, report)
    except LeaseLost:
        report.errors.append("lost the delivery lease; stopped")
    finally:
        for channel in channels.values():
            channel.close()


def _channel(config: Config, message: dict[str, Any], rules: dict[str, Rule]):
    if message["channel"] == "email":
        return EmailChannel(config)
    if message["channel"] == "webhook":
        return WebhookChannel(config, rules)
    return HelpdeskChannel(config)


def _send_one(db, channel, message: dict[str, Any], holder: str, report: DeliveryReport) -> None:
    attempts = message["attempts"] + 1
    message = {**message, "payload": _payload(db, message)}
    try:
        outcome, external_id = channel.send(message)
    except SendError as exc:
        now = now_epoch()
        error = f"attempt {attempts}: {exc}"
        report.errors.append(f"message {message['id']} ({message['rule']}): {exc}")
        if exc.transient and attempts < MAX_ATTEMPTS:
            retry_at = now + BACKOFF_SECONDS[attempts - 1]
            record_retry(db, message["id"], error=error, retry_at=retry_at, now=now)
            report.retrying += 1
        else:
            record_failed(db, message["id"], error=error, now=now)
            report.failed += 1
        return
    pause_for_tests("sent")
    record_sent(
        db, message["id"], holder=holder, outcome=outcome, external_id=external_id, now=now_epoch()
    )
    report.sent += 1


def _payload(db: Database, message: dict[str, Any]) -> dict[str, Any]:
    """What a webhook receives and what a desk's outbound message needs about the customer."""
    contact = contact_details(db, [message["customer_id"]]).get(message["customer_id"])
    name, email = (contact[0], contact[1]) if contact else (None, None)
    return {
        "message_id": message["id"],
        "rule": message["rule"],
        "rule_version": message["rule_version"],
        "customer": {"id": message["customer_id"], "name": name, "email": email},
        "subject": message["subject"],
        "text": message["body_text"],
        "reasons": message["reasons"],
        "period": message["period"],
    }


_paused: set[str] = set()


def pause_for_tests(point: str) -> None:
    """The crash tests' hook (JOURNEYDESK_OUTREACH_PAUSE): stop here once, to be killed."""
    if os.environ.get(PAUSE_ENV) == point and point not in _paused:
        _paused.add(point)
        print(f"PAUSED {point}", flush=True)
        sys.stdout.flush()
        time.sleep(600)
