"""A small generated help-desk history, written through the store's own writers, and kept
as plain Python records so that tests compute every report figure independently.

Times are epoch seconds around `ANCHOR`; the report range is the 30 days before it, and
some records fall outside it on purpose.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.records import Customer, CustomerRef, Ticket, Touchpoint
from plugin.clock import from_epoch
from plugin.reports.report import Filters
from plugin.store.customers import find_customer, upsert_customers
from plugin.store.journeys import JourneyRow, save_journeys
from plugin.store.outbox import claim_messages, record_sent, start_sending
from plugin.store.suppressions import suppress
from plugin.store.tickets import upsert_tickets
from plugin.store.touchpoints import insert_touchpoints
from tests.helpers.config import ANCHOR

DESK = "acme"
DAY = 86400
END = int(ANCHOR.timestamp())
START = END - 30 * DAY
STAGES = ("awareness", "consideration", "purchase", "service", "retention", "advocacy")
CHANNELS = ("email", "chat", "web")
ARTICLES = {f"a{n}": f"Article number {n}" for n in range(1, 6)}


@dataclass
class History:
    customers: dict[int, str] = field(default_factory=dict)
    """customer id → email"""
    moves: list[tuple[int, str | None, str, int]] = field(default_factory=list)
    """(customer id, from stage, to stage, at), in the order written"""
    views: list[tuple[int, int, str]] = field(default_factory=list)
    """(customer id, at, article id)"""
    searches: list[tuple[int, int]] = field(default_factory=list)
    """(customer id, at): searches naming no article"""
    clicks: list[tuple[int, int]] = field(default_factory=list)
    tickets: list[dict] = field(default_factory=list)
    """id, customer, created, solved, channel, csat, deleted"""
    messages: list[dict] = field(default_factory=list)
    """rule, customer, status (sent | held_out), at, email"""
    opt_outs: dict[str, int] = field(default_factory=dict)

    def stage_at(self, customer: int, at: int) -> str:
        """The last move at or before `at`, else the current stage (plain Python)."""
        own = [m for m in self.moves if m[0] == customer]
        before = [m for m in own if m[3] <= at]
        return (before or own)[-1][2]


def _dt(epoch: int) -> datetime:
    found = from_epoch(epoch)
    assert found is not None
    return found


def generate(db, *, seed: int = 15, customers: int = 30) -> History:
    rng = random.Random(seed)
    history = History()
    refs = {}
    upsert_customers(
        db,
        DESK,
        [Customer(source_id=f"c{n}", email=f"c{n}@example.com") for n in range(customers)],
    )
    for n in range(customers):
        ref = CustomerRef(source_id=f"c{n}")
        cid = find_customer(db, ref, DESK)
        assert cid is not None
        refs[cid] = ref
        history.customers[cid] = f"c{n}@example.com"
    _stages(db, history, rng)
    _touchpoints(db, history, rng, refs)
    _tickets(db, history, rng, refs)
    _outreach(db, history, rng)
    db.conn.commit()
    return history


def _stages(db, history: History, rng: random.Random) -> None:
    writes = []
    for cid in history.customers:
        first = rng.choice(STAGES)
        writes.append((START - rng.randint(5, 40) * DAY, cid, first))
        at = START - rng.randint(0, 4) * DAY
        for _ in range(rng.randint(0, 3)):
            at += rng.randint(1, 9) * DAY + rng.randint(0, DAY)
            if at >= END:
                break
            writes.append((at, cid, rng.choice(STAGES)))
    current: dict[int, str] = {}
    for at, cid, stage in sorted(writes):
        if current.get(cid) == stage:
            continue
        save_journeys(db, [JourneyRow(cid, stage, [], [])], now=at)
        history.moves.append((cid, current.get(cid), stage, at))
        current[cid] = stage


def _touchpoints(db, history: History, rng: random.Random, refs) -> None:
    records = []
    for cid, ref in refs.items():
        for k in range(rng.randint(2, 14)):
            at = rng.randint(START - 3 * DAY, END + DAY)
            roll = rng.random()
            if roll < 0.6:
                article = rng.choice(list(ARTICLES))
                records.append(
                    Touchpoint(
                        id=f"v{cid}-{k}",
                        type="article_view",
                        occurred_at=_dt(at),
                        customer=ref,
                        article_id=article,
                        article_title=ARTICLES[article],
                    )
                )
                history.views.append((cid, at, article))
            elif roll < 0.85:
                records.append(Touchpoint(f"s{cid}-{k}", "search", _dt(at), ref))
                history.searches.append((cid, at))
            else:  # a click on a search result: part of a search, not another one
                records.append(Touchpoint(f"c{cid}-{k}", "search", _dt(at), ref, article_id="a1"))
                history.clicks.append((cid, at))
    insert_touchpoints(db, DESK, records, article_source=DESK)


def _tickets(db, history: History, rng: random.Random, refs) -> None:
    records = []
    number = 0
    for cid, ref in refs.items():
        for _ in range(rng.randint(0, 4)):
            number += 1
            created = rng.randint(START - 10 * DAY, END - 1)
            solved = created + rng.randint(1, 6 * DAY) if rng.random() < 0.8 else None
            if solved is not None and solved >= END:
                solved = None
            ticket = {
                "id": str(number),
                "customer": cid,
                "created": created,
                "solved": solved,
                "channel": rng.choice(CHANNELS),
                "csat": rng.choice(["good", "good", "bad", None]) if solved else None,
                "deleted": rng.random() < 0.05,
            }
            history.tickets.append(ticket)
            records.append(
                Ticket(
                    id=ticket["id"],
                    requester=ref,
                    subject="Help",
                    created_at=_dt(created),
                    status="solved" if solved else "open",
                    channel=ticket["channel"],
                    solved_at=_dt(solved) if solved else None,
                    csat_score=ticket["csat"],
                    deleted=ticket["deleted"],
                )
            )
    upsert_tickets(db, DESK, records)


def _outreach(db, history: History, rng: random.Random) -> None:
    """Rule `welcome`: 60 sent and 60 held out (enough to compare); rule `nudge`: a few."""
    customers = list(history.customers)
    for rule, count in (("welcome", 60), ("nudge", 4)):
        for n in range(count * 2):
            cid = rng.choice(customers)
            status = "sent" if n % 2 == 0 else "held_out"
            at = rng.randint(START - 2 * DAY, END - 1)
            email = history.customers[cid]
            message = {
                "rule": rule,
                "customer_id": cid,
                "period": f"p{n}",
                "rule_version": 1,
                "status": "pending" if status == "sent" else "held_out",
                "channel": "email",
                "recipient": email,
                "reasons": [],
                "next_attempt_at": at,
            }
            (message_id,) = claim_messages(db, [message], now=at)
            if status == "sent":
                start_sending(db, message_id, holder="test", now=at)
                record_sent(db, message_id, holder="test", outcome="ok", external_id=None, now=at)
            history.messages.append(
                {"rule": rule, "customer": cid, "status": status, "at": at, "email": email}
            )
    for email in rng.sample(sorted(set(history.customers.values())), 5):
        at = rng.randint(START, END - 1)
        suppress(db, email, reason="link", now=at)
        history.opt_outs[email] = at


def filters_of_range(desks: tuple[str, ...] = ()) -> Filters:
    return Filters(
        start=datetime.fromtimestamp(START, UTC),
        end=datetime.fromtimestamp(END, UTC),
        sources=desks,
    )
