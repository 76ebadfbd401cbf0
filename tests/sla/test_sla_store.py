"""The SLA tables through their store functions, on both engines: one decision per ticket,
one push per ticket, and a pending push claimed by exactly one of several connections (the
processes of several hosts) however they race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from connectors.records import CustomerRef, Ticket
from plugin.store import open_store
from plugin.store.sla_decisions import (
    count_decisions,
    get_decision,
    recent_decisions,
    record_decision,
)
from plugin.store.sla_pushes import (
    due_pushes,
    list_pushes,
    push_counts,
    queue_push,
    record_push_failed,
    record_push_retry,
    record_pushed,
    release_abandoned,
    start_pushing,
)
from plugin.store.tickets import ticket_context, write_tickets

pytestmark = pytest.mark.usefixtures("backend")  # once per engine
NOW = 1_790_000_000


def decision(ticket_id: str, *, source: str = "zd", at: int = NOW, **fields) -> dict:
    return {
        "source": source,
        "ticket_id": ticket_id,
        "customer_id": None,
        "rule": "purchase-moment",
        "rule_version": 3,
        "priority_before": "normal",
        "priority_after": "urgent",
        "tags_added": ["journey_purchase"],
        "targets": {"first_response_minutes": 60, "resolution_minutes": None},
        "reasons": [{"fact": "stage", "op": "eq", "expected": "purchase", "actual": "purchase"}],
        "decided_at": at,
        **fields,
    }


def test_a_ticket_keeps_its_first_decision(store_location):
    with open_store(store_location) as db:
        with db.atomic():
            assert record_decision(db, decision("1"))
        with db.atomic():
            assert not record_decision(db, decision("1", rule="other", priority_after="low"))
        with db.atomic():
            assert record_decision(db, decision("1", source="fd", at=NOW + 5))
            assert record_decision(db, decision("2", at=NOW + 5, tags_added=[], reasons=[]))

        stored = get_decision(db, "zd", "1")
        assert {k: v for k, v in stored.items() if k in decision("1")} == decision("1")
        assert get_decision(db, "zd", "404") is None
        assert (count_decisions(db), count_decisions(db, "zd"), count_decisions(db, "fd")) == (
            3,
            2,
            1,
        )
        newest = [(d["source"], d["ticket_id"]) for d in recent_decisions(db, limit=2)]
        assert newest == [("fd", "1"), ("zd", "2")]
        assert recent_decisions(db)[-1]["tags_added"] == ["journey_purchase"]


def test_a_push_goes_pending_sending_sent_and_failures_keep_their_error(store_location):
    with open_store(store_location) as db:
        with db.atomic():  # as in a decision's transaction
            for ticket_id, at in (("1", NOW), ("2", NOW - 10), ("3", NOW + 60)):
                assert queue_push(db, "zd", ticket_id, priority="urgent", add_tags=["j"], now=at)
            assert not queue_push(db, "zd", "1", priority="low", add_tags=[], now=NOW)

        due = due_pushes(db, now=NOW)
        assert [p["ticket_id"] for p in due] == ["2", "1"]  # oldest first; "3" not yet
        assert due[0]["add_tags"] == ["j"] and due[0]["priority"] == "urgent"
        first, second = (p["id"] for p in due)  # tickets "2" and "1"

        assert start_pushing(db, first, holder="a", now=NOW)
        assert not start_pushing(db, first, holder="b", now=NOW)
        record_pushed(db, first, holder="b", now=NOW)  # not b's: nothing changes
        assert list_pushes(db, status="sending")[0]["id"] == first
        record_pushed(db, first, holder="a", now=NOW + 1)

        assert start_pushing(db, second, holder="a", now=NOW)
        record_push_retry(db, second, error="503 from the desk", retry_at=NOW + 30, now=NOW)
        assert [p["ticket_id"] for p in due_pushes(db, now=NOW + 29)] == []
        retried = due_pushes(db, now=NOW + 60)
        assert [(p["ticket_id"], p["error"], p["attempts"]) for p in retried] == [
            ("1", "503 from the desk", 1),
            ("3", None, 0),
        ]
        assert start_pushing(db, second, holder="a", now=NOW + 60)
        record_push_failed(db, second, error="404: the ticket is gone", now=NOW + 61)

        assert push_counts(db) == {"sent": 1, "failed": 1, "pending": 1}
        sent = list_pushes(db, status="sent")[0]
        assert (sent["ticket_id"], sent["sent_at"], sent["error"]) == ("2", NOW + 1, None)
        assert [p["ticket_id"] for p in list_pushes(db)] == ["3", "2", "1"]


def test_pushes_left_sending_by_another_holder_are_pending_again(store_location):
    with open_store(store_location) as db:
        with db.atomic():
            for ticket_id in ("1", "2", "3"):
                queue_push(db, "zd", ticket_id, priority=None, add_tags=["j"], now=NOW)
        ids = [p["id"] for p in due_pushes(db, now=NOW)]
        assert start_pushing(db, ids[0], holder="dead", now=NOW)
        assert start_pushing(db, ids[1], holder="me", now=NOW)

        assert release_abandoned(db, holder="me", now=NOW + 100) == 1
        pending = {p["id"]: p for p in list_pushes(db, status="pending")}
        assert set(pending) == {ids[0], ids[2]}
        assert pending[ids[0]]["sending_by"] is None
        assert pending[ids[0]]["next_attempt_at"] == NOW + 100
        assert [p["id"] for p in list_pushes(db, status="sending")] == [ids[1]]


def test_racing_connections_claim_each_push_exactly_once(store_location):
    """Six connections (hosts) claim the same 60 due pushes at once: every push is claimed,
    none twice."""
    with open_store(store_location) as db, db.atomic():
        for n in range(60):
            queue_push(db, "zd", str(n), priority="high", add_tags=[], now=NOW)
    start = threading.Barrier(6)
    claimed: dict[str, list[int]] = {}

    def claim_all(holder: str) -> None:
        with open_store(store_location, migrate=False) as db:
            due = [p["id"] for p in due_pushes(db, now=NOW, limit=100)]
            start.wait()
            claimed[holder] = [i for i in due if start_pushing(db, i, holder=holder, now=NOW)]

    threads = [threading.Thread(target=claim_all, args=(f"host{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [push_id for ids in claimed.values() for push_id in ids]
    assert len(claimed) == 6 and len(every) == len(set(every)) == 60
    with open_store(store_location) as db:
        by = {p["id"]: p["sending_by"] for p in list_pushes(db, status="sending")}
        assert all(by[push_id] == holder for holder, ids in claimed.items() for push_id in ids)
        assert push_counts(db) == {"sending": 60}


def test_the_sidebar_reads_the_decision_with_its_ticket(store_location):
    """`ticket_context` (the sidebar's one statement) carries the ticket's decision as
    `get_decision` gives it, JSON columns decoded; a ticket without one has None."""
    requester = CustomerRef(source_id="u1", email="u1@example.com")
    at = datetime.fromtimestamp(NOW, UTC)
    with open_store(store_location) as db:
        with db.atomic():
            write_tickets(db, "zd", [Ticket(str(n), requester, "Help", at) for n in (1, 2)])
            record_decision(db, decision("1"))
        decided, undecided = (
            ticket_context(db, "zd", ticket_id, effort_seconds=86_400, messages_since=0)
            for ticket_id in ("1", "2")
        )
        assert decided.decision == get_decision(db, "zd", "1")
        assert decided.decision["targets"] == decision("1")["targets"]
        assert undecided.decision is None
