"""Fresh when it matters: fetch a ticket's requester's history before answering.

The sync interval cannot be the only path: a customer who read an article two minutes
before writing must appear with it the first time an agent opens the ticket. So before
the journey of a ticket is built, `ensure_fresh` checks the store:

- the ticket is not synced yet → fetch it, its requester and the requester's history;
- the requester's history was last fetched before the ticket was created → fetch it;
- otherwise nothing is fetched (the usual case: no desk call on the agent's path).

A fetch runs in a worker thread and the caller waits at most `BUDGET_SECONDS`. If the
desk is slower, the answer is built from what the store has and marked stale; the fetch
goes on in the background (with short per-call timeouts) and the next look is fresh.
Webhooks (`plugin.web.webhooks`) use the same fetch, so a ticket-created trigger and an
agent opening that ticket at the same moment share one fetch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from connectors.errors import ConnectorError, FeatureUnavailableError
from connectors.records import Batch, Customer, CustomerRef, Ticket
from plugin.clock import iso, now_epoch
from plugin.config import Config
from plugin.errors import DeskSlow, DeskUnavailable, Gone, JourneydeskError, NotFound
from plugin.intake.connector_factory import keeps_history, make_connector
from plugin.intake.sync import SyncReport, store_desk_batch, sync_customer_history
from plugin.journey.model import JourneyModel
from plugin.journey.recompute import recompute_customers
from plugin.store import open_store
from plugin.store.customers import desk_user_of, find_customer
from plugin.store.sync_state import record_history_fetch
from plugin.store.tickets import TicketContext, get_ticket, known_ticket_ids

log = logging.getLogger("journeydesk.freshness")

BUDGET_SECONDS = 2.0
"""How long an agent's request waits for the desk before answering with what we have."""
FETCH_THREADS = 4
"""Concurrent desk fetches per process; more requests wait in the queue (and answer
stale within their budget rather than piling load onto a slow desk)."""


@dataclass(frozen=True)
class Freshness:
    """How current the history behind an answer is (the payload's `freshness`).

    `reason` is one of: `up_to_date` (fetched after the ticket was created), `fetched`
    (fetched just now), `desk_slow` (the desk did not answer within the budget),
    `desk_error` (it failed; see the logs), `no_desk_history` (the desk keeps no reading
    history: it arrives from the portal snippet or imports as it happens), `not_found`
    (the desk does not know the ticket), `deleted` (the store holds it as deleted by the
    desk: nothing is fetched), `unknown_source`.
    """

    stale: bool
    fetched_at: int | None
    reason: str

    @property
    def store_unchanged(self) -> bool:
        """No fetch wrote to the store: a ticket row read before the check is still current."""
        return self.reason in ("up_to_date", "no_desk_history", "unknown_source")

    def as_dict(self) -> dict[str, Any]:
        return {"stale": self.stale, "fetched_at": iso(self.fetched_at), "reason": self.reason}


DELETED = Freshness(False, None, "deleted")


@dataclass(frozen=True)
class Refresh:
    """What one fetch of a ticket did."""

    found: bool  # the desk knows the ticket
    fetched_at: int
    customer_id: int | None = None
    history: str = "none"  # fetched | unavailable (plan lacks the API) | none (desk keeps none)
    events: int = 0  # reading-history records stored


def ensure_fresh(
    config: Config,
    model: JourneyModel,
    source: str,
    ticket_id: str,
    stored: TicketContext | None,
    *,
    fetches: TicketFetches,
    budget: float = BUDGET_SECONDS,
) -> Freshness:
    """Make the store current enough to answer for this ticket, within `budget` seconds.

    `stored` is what the store holds of the ticket (`store.tickets.ticket_context`:
    the row with its requester's desk user id and last history fetch), None when it holds
    nothing. Never raises for a desk problem: a failed or slow fetch gives a stale answer.
    """
    conf = config.connector(source)
    if conf is None:
        return Freshness(False, None, "unknown_source")
    last = None
    if stored is not None:
        if not keeps_history(conf):
            return Freshness(False, None, "no_desk_history")
        if stored.desk_user is None:  # a requester the desk does not know by id: nothing to fetch
            return Freshness(False, None, "no_desk_history")
        last = stored.last_history_fetch
        if last is not None and last >= stored.ticket["created_at"]:
            return Freshness(False, last, "up_to_date")
    # A ticket already stored needs only its requester's history; an unknown one all of it.
    outcome = refresh(
        config, model, source, ticket_id, fetches=fetches, budget=budget, refetch=stored is None
    )
    return _freshness(outcome, last)


@dataclass(frozen=True)
class Outcome:
    """A fetch as seen by a caller with a budget: done (with `result` or `error`) or not."""

    done: bool
    result: Refresh | None = None
    error: Exception | None = None


def refresh(
    config: Config,
    model: JourneyModel,
    source: str,
    ticket_id: str,
    *,
    fetches: TicketFetches,
    budget: float,
    refetch: bool = True,
) -> Outcome:
    """Fetch the ticket (when `refetch` or unknown) and its requester's history now.

    Waits at most `budget` seconds; the fetch goes on in the background after that.
    """
    future = fetches.start(config, model, source, str(ticket_id), refetch)
    try:
        return Outcome(True, result=future.result(timeout=budget))
    except FutureTimeout:
        return Outcome(False)
    except ConnectorError as exc:
        log.warning("%s ticket %s: fetch failed: %s", source, ticket_id, exc)
        return Outcome(True, error=exc)
    except Exception as exc:  # a bug or a locked database must not fail the agent's page
        log.exception("%s ticket %s: fetch failed", source, ticket_id)
        return Outcome(True, error=exc)


def refresh_ticket(
    config: Config, model: JourneyModel, source: str, ticket_id: str, *, refetch: bool = True
) -> Refresh:
    """The fetch itself (runs in a worker thread, with its own database handle)."""
    conf = config.connector(source)
    if conf is None:
        raise ValueError(f"no connector named {source!r}")
    with open_store(config.database_path, migrate=False) as db:
        started = now_epoch()
        connector = make_connector(config, conf, db=db, interactive=True)
        stored = None if refetch else get_ticket(db, source, ticket_id)
        new = False
        if stored is None:
            found = connector.fetch_ticket(ticket_id)
            if found is None:
                return Refresh(found=False, fetched_at=started)
            ticket, requester = found
            new = not known_ticket_ids(db, source, [ticket.id])
            _store_ticket(db, source, ticket, requester)
            user_id = ticket.requester.source_id
        else:
            ticket = None
            user_id = desk_user_of(db, stored["customer_id"], source)
        history, events = "none", 0
        if user_id and keeps_history(conf):
            try:
                events = sync_customer_history(db, connector, user_id)
                history = "fetched"
            except FeatureUnavailableError as exc:
                log.info("%s: %s", source, exc)
                history = "unavailable"
            record_history_fetch(db, source, user_id, started)
        customer_id = _customer_of(db, source, user_id, stored)
        if customer_id is not None:
            _recompute(db, model, customer_id)
        if ticket is not None and new:
            ticket_arrived(db, config, source, ticket)
        return Refresh(True, started, customer_id, history, events)


def ticket_arrived(db: Database, config: Config, source: str, ticket: Ticket) -> None:
    """A ticket the store did not hold was just fetched (a webhook, or an agent's first
    look): it is handled as arriving (plugin/intake/arrivals.py: SLA rules decide it, a
    journey note is queued), and what that queued is sent now (what fails stays queued
    for the worker's next pass)."""
    from plugin.intake.arrivals import arrivals_for
    from plugin.notes.post import post_quietly
    from plugin.sla.push import push_quietly

    arrivals = arrivals_for(db, config, source)
    arrived = arrivals(db, [ticket]) if arrivals is not None else None
    if arrived and arrived.pushes:
        push_quietly(config)
    if arrived and arrived.notes:
        post_quietly(config)


def missing_ticket(
    source: str, ticket_id: str, freshness: Freshness, *, last_sync: str | None = None
) -> JourneydeskError:
    """The error to raise for a journey request whose ticket is not in the store;
    `last_sync`: when the desk's last successful sync finished, as the reader reads it."""
    if freshness.reason == "desk_slow":
        return DeskSlow(
            f"{source} has not answered about ticket {ticket_id} yet; try again in a moment."
        )
    if freshness.reason == "desk_error":
        return DeskUnavailable(
            f"{source} could not be asked about ticket {ticket_id}; try again later."
        )
    params = {"source": source, "ticket": ticket_id}
    if freshness.reason == "deleted":
        return Gone(
            f"Ticket {ticket_id} was deleted in {source}.", code="ticket_deleted", params=params
        )
    if freshness.reason == "unknown_source":
        return NotFound(
            f"journeydesk has no help desk named {source}.",
            code="source_not_configured",
            params=params,
        )
    hint = "error_hint_ticket_not_synced" if last_sync else None
    return NotFound(
        f"No ticket {ticket_id} from {source}.",
        code="ticket_not_found",
        params={**params, "last_sync": last_sync or ""},
        hint=hint,
    )


class TicketFetches:
    """The desk fetches of one app (held on its state, passed to `ensure_fresh` and
    `refresh`): at most `threads` at once, and one per ticket at a time, so a webhook and
    an agent asking for the same ticket share it. Its threads start on the first fetch."""

    def __init__(self, threads: int = FETCH_THREADS) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="journeydesk-fetch")
        self._in_flight: dict[Hashable, Future] = {}
        self._lock = threading.RLock()  # re-entrant: a done-callback may run inside `start`

    def start(
        self, config: Config, model: JourneyModel, source: str, ticket_id: str, refetch: bool
    ) -> Future:
        """The running fetch of this ticket, or a new one."""
        key = (config.database_path, source, ticket_id)
        with self._lock:
            future = self._in_flight.get(key)
            if future is None:
                future = self._executor.submit(
                    refresh_ticket, config, model, source, ticket_id, refetch=refetch
                )
                self._in_flight[key] = future
                future.add_done_callback(lambda done: self._forget(key, done))
            return future

    def _forget(self, key: Hashable, future: Future) -> None:
        with self._lock:
            if self._in_flight.get(key) is future:
                del self._in_flight[key]


# -- internals -------------------------------------------------------------------------------


def _freshness(outcome: Outcome, last: int | None) -> Freshness:
    if not outcome.done:
        return Freshness(True, last, "desk_slow")
    if outcome.error is not None:
        return Freshness(True, last, "desk_error")
    if not outcome.result.found:
        return Freshness(False, last, "not_found")
    return Freshness(False, outcome.result.fetched_at, "fetched")


def _store_ticket(db: Database, source: str, ticket: Ticket, requester: Customer | None) -> None:
    """Write the ticket (and its requester first) without moving any stream cursor."""
    report = SyncReport(source)
    if requester is not None:
        store_desk_batch(db, source, Batch("customers", [requester], None), report)
    store_desk_batch(db, source, Batch("tickets", [ticket], None), report)


def _customer_of(db: Database, source: str, user_id: str | None, stored: dict | None) -> int | None:
    if user_id:
        return find_customer(db, CustomerRef(source_id=user_id), source)
    return stored["customer_id"] if stored else None


def _recompute(db: Database, model: JourneyModel, customer_id: int) -> None:
    """This customer's stage and signals now, so the answer shows them."""
    now = now_epoch()
    recompute_customers(db, model, [customer_id], now=now)
