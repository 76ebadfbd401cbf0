"""The one protocol every help desk connector implements (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from connectors.records import Batch, Customer, Note, Ticket

STREAMS = ("articles", "customers", "tickets", "touchpoints")
"""Sync order: articles and customers first so tickets and views find them."""


@runtime_checkable
class Connector(Protocol):
    """A help desk seen as streams of records.

    Each stream method yields `Batch`es in order; the cursor of a batch is what to
    pass as `since` to resume after it. `since=None` means a full sync.
    """

    name: str

    def customers(self, since: str | None) -> Iterator[Batch]: ...

    def tickets(self, since: str | None) -> Iterator[Batch]: ...

    def articles(self, since: str | None) -> Iterator[Batch]: ...

    def touchpoints(self, since: str | None) -> Iterator[Batch]: ...

    def customer_touchpoints(self, customer_source_id: str, since: str | None) -> Iterator[Batch]:
        """Reading history of one customer (per-user cursor in `Batch.scope`).

        Desks without per-customer history yield nothing.
        """
        ...

    def fetch_ticket(self, ticket_id: str) -> tuple[Ticket, Customer | None] | None:
        """One ticket and its requester, now (webhooks, on-demand freshness)."""
        ...

    def update_ticket(
        self, ticket_id: str, priority: str | None = None, add_tags: tuple[str, ...] = ()
    ) -> None: ...

    def post_note(self, ticket_id: str, note: Note) -> None:
        """Add `note` to the ticket as a private note (one call, never retried inside: the
        caller retries later, after `has_note`). Raises FeatureUnavailableError on a desk
        that takes no notes."""
        ...

    def has_note(self, ticket_id: str, marker: str) -> bool:
        """Whether a note carrying `marker` is on the ticket."""
        ...

    def send_outbound(
        self, customer: Customer, subject: str, body: str, *, key: str | None = None
    ) -> str:
        """Send a proactive message through the desk; returns the desk's reference.

        `key` names the message (the same on a retry): desks that support idempotent
        creation (Zendesk) create it once however often it is sent with that key."""
        ...

    def article_ref(self, url: str) -> str | None:
        """The article id a URL of this desk points at, or None."""
        ...
