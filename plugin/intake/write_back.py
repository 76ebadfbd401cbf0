"""Write captured article views back to the desk's contact timeline (optional).

Freshdesk keeps no reading history of its own; what the portal snippet (or an import)
captured is shown to agents natively too when the connector sets
`push_article_views = true`: after each sync, the views not written yet go to
`POST /api/v2/contact-activities` (one call per view, paced by the shared HTTP client),
at most `BATCH` per run so a backlog never eats the desk's rate limit.

Each view is written once: it is marked in the store right after the desk's answer. A
view the desk refuses (an unknown contact) is marked refused and not retried. A crash
between the desk's answer and the mark can write one view twice: the desk's endpoint is
not idempotent, and that is the price of never silently dropping one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlite_utils import Database

from connectors.errors import ConnectorError
from connectors.freshdesk import FreshdeskConnector
from connectors.records import CustomerRef, Touchpoint
from plugin.clock import now_epoch
from plugin.config import ConnectorConfig
from plugin.store.touchpoints import mark_pushed, merge_inbox, views_to_push

log = logging.getLogger("journeydesk.timeline")

BATCH = 200
"""Views written per run: a fraction of Freshdesk's 200-700 calls a minute."""
MAX_AGE_DAYS = 30
"""Older views are not written back (turning the option on must not replay years)."""


@dataclass
class TimelineReport:
    pushed: int = 0
    refused: int = 0
    error: str | None = None


def wants_timeline(conf: ConnectorConfig) -> bool:
    """Whether this connector writes captured views back to the desk's timelines."""
    return conf.type == "freshdesk" and bool(conf.get("push_article_views"))


def push_views(
    db: Database, connector: FreshdeskConnector, *, batch: int = BATCH
) -> TimelineReport:
    """Write up to `batch` captured views to the desk's contact timelines.

    A desk error other than a refused view (the desk unreachable, the key revoked) ends
    the run with `error` set; the views not written wait for the next run.
    """
    report = TimelineReport()
    merge_inbox(db)  # views are written back once merged: they then have their lasting id
    since = now_epoch() - MAX_AGE_DAYS * 86_400
    for row in views_to_push(db, connector.name, since=since, limit=batch):
        try:
            written = connector.push_article_views([_touchpoint(row)])
        except ConnectorError as exc:
            report.error = str(exc)
            log.warning("%s: writing article views to timelines stopped: %s", connector.name, exc)
            break
        mark_pushed(db, row["id"], outcome="pushed" if written else "refused")
        if written:
            report.pushed += 1
        else:
            report.refused += 1
    return report


def _touchpoint(row: dict) -> Touchpoint:
    return Touchpoint(
        id=row["event_id"],
        type="article_view",
        occurred_at=datetime.fromtimestamp(row["occurred_at"], UTC),
        customer=CustomerRef(source_id=row["contact_id"], email=row["email"]),
        article_id=row["article_id"],
        article_title=row["article_title"],
        article_url=row["article_url"],
        article_locale=row["article_locale"],
    )
