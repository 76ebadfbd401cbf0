"""A ticket arrives: what happens, once, to a ticket new to the store.

A ticket qualifies when it is unsolved and was created after the start of the desk's first
successful sync (`plugin.sla.apply.qualifies`): connecting a desk never touches its
history. For each one, in the transaction that stores it (a sync's page) or right after
its fetch (a webhook, an agent's first look: `plugin/intake/freshness.py`):

- SLA rules in force decide it (`plugin/sla/apply.py`: the decision and its push);
- with `journey_note = true` on the connector, a private journey note is queued
  (`store/journey_notes.py`, posted by `plugin/notes/post.py`).

Both rows are unique per ticket, so a re-sync, a redelivered webhook or two workers
storing the same ticket add nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlite_utils import Database

from connectors.records import Ticket
from plugin.clock import now_epoch
from plugin.config import Config
from plugin.sla.apply import Decider, decider_for, qualifies
from plugin.store.journey_notes import queue_notes
from plugin.store.sync_state import first_sync_at


@dataclass(frozen=True)
class Handled:
    """What handling a page of arriving tickets queued."""

    decided: int = 0
    pushes: int = 0
    """SLA updates queued for the desk."""
    notes: int = 0
    """Journey notes queued."""


@dataclass(frozen=True)
class Arrivals:
    """What a desk's new tickets get now: a decider (SLA rules in force) and/or notes."""

    source: str
    since: int
    decider: Decider | None
    notes: bool

    def __call__(self, db: Database, tickets: Iterable[Ticket]) -> Handled:
        """Handle the tickets that qualify; call inside the transaction that stored them
        (nested is fine)."""
        chosen = [t for t in tickets if qualifies(t, self.since)]
        if not chosen:
            return Handled()
        with db.atomic():
            applied = self.decider.decide(db, chosen) if self.decider else None
            notes = (
                queue_notes(db, self.source, [t.id for t in chosen], now=now_epoch())
                if self.notes
                else 0
            )
        return Handled(applied.decided if applied else 0, applied.queued if applied else 0, notes)


def arrivals_for(db: Database, config: Config, source: str) -> Arrivals | None:
    """What `source`'s new tickets get now; None before the desk's first successful sync
    has finished (the first sync handles nothing), or when there is nothing to do (no
    SLA rule in force and no journey note)."""
    conf = config.connector(source)
    since = first_sync_at(db, source)
    if conf is None or since is None:
        return None
    decider = decider_for(db, config, source, since=since)
    notes = bool(conf.get("journey_note"))
    if decider is None and not notes:
        return None
    return Arrivals(source, since, decider, notes)
