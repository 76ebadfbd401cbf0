"""Run a connector's streams into the store, resumably.

For each batch: derive the touchpoints a ticket implies (opened, solved, CSAT) and hand
the batch to `store.save_batch`, which writes records and cursor in one transaction.
No SQL here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlite_utils import Database

from connectors.errors import ConnectorError, FeatureUnavailableError
from connectors.protocol import STREAMS, Connector
from connectors.records import Batch, Ticket, Touchpoint
from plugin.store import sync_state
from plugin.store.tickets import mark_deleted

log = logging.getLogger("journeydesk.sync")

Progress = Callable[[str, int], None]
"""Called as progress(stream, records_in_batch) after each stored batch."""


@dataclass
class SyncReport:
    source: str
    written: dict[str, int] = field(default_factory=dict)  # records stored per stream
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


def run_sync(
    db: Database,
    connector: Connector,
    *,
    full: bool = False,
    streams: tuple[str, ...] = STREAMS,
    progress: Progress | None = None,
) -> SyncReport:
    """Pull every stream from its stored cursor (or from scratch when `full`).

    Raises ConnectorError subclasses for failures an admin must fix; a stream the
    desk's plan lacks is skipped with a notice instead.
    """
    source = connector.name
    if full:
        sync_state.clear_cursors(db, source)
    report = SyncReport(source)
    run_id = sync_state.start_run(db, source)
    status, message = "interrupted", "interrupted"
    try:
        for stream in streams:
            _sync_stream(db, connector, stream, report, progress)
        status, message = "ok", "; ".join(report.notices)
    except ConnectorError as exc:
        status, message = "failed", str(exc)
        raise
    finally:
        sync_state.finish_run(
            db,
            run_id,
            status=status,
            accepted=report.total_written,
            rejected=len(report.rejected),
            message=message,
        )
    return report


def _sync_stream(db, connector, stream: str, report: SyncReport, progress) -> None:
    since = sync_state.get_cursor(db, connector.name, stream)
    try:
        for batch in getattr(connector, stream)(since):
            store_batch(db, connector.name, batch, report)
            if progress:
                progress(stream, len(batch.records))
    except FeatureUnavailableError as exc:
        log.info("%s: %s", connector.name, exc)  # the evidence stays in the log
        report.notices.append(plain_notice(str(exc)))


def plain_notice(text: str) -> str:
    """A sync notice for people: its sentence without the evidence in parentheses.

    Connectors end a notice with the HTTP error that led to it, e.g. "...must then
    come from the portal snippet. (Zendesk rejected ... HTTP 403 ...)"; that detail is
    logged, while the CLI summary, the run's message (admin dashboard) and /healthz say
    the sentence alone.
    """
    head, dot, tail = text.partition(". (")
    return head + "." if dot and tail.endswith(")") else text


def sync_customer_history(db: Database, connector: Connector, customer_source_id: str) -> int:
    """Fetch one customer's reading history now (webhooks, on-demand freshness)."""
    report = SyncReport(connector.name)
    since = sync_state.get_cursor(db, connector.name, "touchpoints", scope=customer_source_id)
    for batch in connector.customer_touchpoints(customer_source_id, since):
        store_batch(db, connector.name, batch, report)
    return report.total_written


def store_batch(db: Database, source: str, batch: Batch, report: SyncReport) -> None:
    # A deletion may come without its requester (a Zendesk export row of a deleted
    # ticket): it has no customer to file it under, only a stored ticket to flag.
    gone = [r.id for r in batch.records if _deleted_without_requester(r)]
    records = [r for r in batch.records if not _deleted_without_requester(r)]
    for record in list(records):
        if isinstance(record, Ticket):
            records.extend(ticket_touchpoints(record))
    with db.atomic():  # the flags, the records and the cursor: one transaction
        if gone:
            mark_deleted(db, source, gone)
        result = sync_state.save_batch(
            db, source, Batch(batch.stream, records, batch.cursor, batch.scope, batch.rejected)
        )
    # Report what the desk sent, not the derived rows (ticket touchpoints) written with it.
    report.written[batch.stream] = report.written.get(batch.stream, 0) + len(batch.records)
    report.duplicates += result.duplicates
    report.rejected.extend(batch.rejected)


def _deleted_without_requester(record: object) -> bool:
    return isinstance(record, Ticket) and record.deleted and record.requester.is_empty()


def ticket_touchpoints(ticket: Ticket) -> list[Touchpoint]:
    """The timeline entries a ticket implies: opened, solved, and its CSAT rating."""
    if ticket.deleted:
        return []
    base = {"customer": ticket.requester, "channel": ticket.channel, "ticket_id": ticket.id}
    points = [
        Touchpoint(
            id=f"ticket:{ticket.id}:opened",
            type="ticket_opened",
            occurred_at=ticket.created_at,
            properties={"subject": ticket.subject},
            **base,
        )
    ]
    if ticket.solved_at:
        points.append(
            Touchpoint(
                id=f"ticket:{ticket.id}:solved",
                type="ticket_solved",
                occurred_at=ticket.solved_at,
                **base,
            )
        )
    if ticket.csat_score:
        points.append(
            Touchpoint(
                id=f"ticket:{ticket.id}:csat",
                type="csat",
                occurred_at=ticket.solved_at or ticket.updated_at or ticket.created_at,
                properties={"score": ticket.csat_score},
                **base,
            )
        )
    return points
