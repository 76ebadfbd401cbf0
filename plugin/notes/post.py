"""Posting journey notes to the desks (`post_due`): under the `journey-notes` lease (one
posting process at a time: the worker, a webhook's fetch), each due note is marked
`sending` (committed), written from what the store knows now (the sidebar's payload and
the SLA decision: `compose.py`), posted once with the connector's `post_note`, then
marked `posted`, or pending again later with backoff.

Never twice: the queue holds one row per ticket, the lease one poster, and a note that
may have reached the desk without being marked (a timeout after the desk took it, a
process killed between the call and the mark) carries a marker the next attempt looks
for first (`has_note`): found, the row is marked posted without posting again. Never
lost: a failing desk is retried hourly (`leased_queue.BACKOFF_SECONDS`) until it answers;
only a ticket the desk no longer knows, or a desk that takes no notes, ends `failed`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlite_utils import Database

from connectors.errors import ConnectorError, FeatureUnavailableError, NotFoundError
from connectors.records import Note
from plugin.background.leased_queue import drain, retry_at
from plugin.clock import now_epoch
from plugin.config import Config
from plugin.intake.connector_factory import ConnectorsByName
from plugin.journey.active_model import load_active_model
from plugin.notes.compose import compose_note, note_marker
from plugin.sidebar import SidebarSettings, build_ticket_journey
from plugin.store import open_store
from plugin.store.journey_notes import (
    due_notes,
    record_note_failed,
    record_note_retry,
    record_posted,
    release_abandoned,
    start_posting,
)
from plugin.store.sla_decisions import get_decision

log = logging.getLogger("journeydesk.notes")

LEASE_NAME = "journey-notes"
LEASE_TTL_SECONDS = 120


class TicketGone(Exception):
    """The store no longer holds the ticket (deleted at the desk since it arrived)."""


@dataclass
class NoteReport:
    posted: int = 0
    found: int = 0
    """Notes an earlier attempt had posted without marking: found on the ticket, not re-sent."""
    retrying: int = 0
    failed: int = 0
    released: int = 0
    """`sending` rows left by a process that died, pending again."""
    busy: bool = False
    errors: list[str] = field(default_factory=list)


def post_due(config: Config, *, batch: int = 100) -> NoteReport:
    """Post every due journey note, in the one process holding the notes lease."""
    report = NoteReport()
    with open_store(config.database_path) as db:
        connectors = ConnectorsByName(config, db)
        report.busy, report.released, lost = drain(
            db,
            LEASE_NAME,
            LEASE_TTL_SECONDS,
            release_abandoned=lambda holder: release_abandoned(db, holder=holder, now=now_epoch()),
            fetch_due=lambda: due_notes(db, now=now_epoch(), limit=batch),
            claim=lambda row, holder: start_posting(db, row["id"], holder=holder, now=now_epoch()),
            handle=lambda row, holder: _post_one(db, config, connectors, row, holder, report),
        )
        if lost:
            report.errors.append("lost the notes lease; stopped")
    return report


def post_quietly(config: Config) -> NoteReport | None:
    """`post_due` for callers that must not fail (the worker, a webhook's fetch)."""
    try:
        return post_due(config)
    except Exception as exc:
        log.error("posting journey notes failed: %s", exc)
        return None


def build_note(db: Database, config: Config, source: str, ticket_id: str) -> Note:
    """The ticket's note as the store tells it now, in the connector's note language."""
    conf = config.connector(source)
    lang = conf.get("journey_note_language") if conf else "en"
    settings = SidebarSettings.from_config(config.sidebar)
    model = load_active_model(db, config).model
    journey = build_ticket_journey(db, model, settings, source, ticket_id, lang=lang)
    if journey is None:
        raise TicketGone(f"ticket {ticket_id} is no longer in the store")
    return compose_note(
        journey,
        get_decision(db, source, ticket_id),
        marker=note_marker(source, ticket_id),
        lang=lang,
        lookback_days=settings.lookback_days,
    )


def _post_one(
    db: Database,
    config: Config,
    connectors: ConnectorsByName,
    row: dict,
    holder: str,
    report: NoteReport,
) -> None:
    source, ticket_id = row["source"], row["ticket_id"]
    attempt = row["attempts"] + 1
    where = f"{source} ticket {ticket_id}"
    try:
        connector = connectors[source]
        # An earlier attempt may have reached the desk: look before posting again.
        if row["attempts"] and connector.has_note(ticket_id, note_marker(source, ticket_id)):
            record_posted(db, row["id"], holder=holder, body=None, now=now_epoch())
            report.found += 1
            return
        note = build_note(db, config, source, ticket_id)
        connector.post_note(ticket_id, note)
    except (NotFoundError, FeatureUnavailableError, TicketGone) as exc:
        record_note_failed(db, row["id"], error=f"attempt {attempt}: {exc}", now=now_epoch())
        report.failed += 1
        report.errors.append(f"{where}: {exc}")
        return
    except (ConnectorError, OSError, ValueError) as exc:
        now = now_epoch()
        record_note_retry(
            db,
            row["id"],
            error=f"attempt {attempt}: {exc}",
            retry_at=retry_at(attempt, now),
            now=now,
        )
        report.retrying += 1
        report.errors.append(f"{where}: {exc}")
        log.warning("journey note on %s failed: %s", where, exc)
        return
    record_posted(db, row["id"], holder=holder, body=note.text, now=now_epoch())
    report.posted += 1
