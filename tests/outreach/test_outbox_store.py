"""The outbox and the opt-outs in the store, on both engines: what each function promises,
and that a message is claimed and sent once against other connections (processes, hosts)."""

from __future__ import annotations

import threading

import pytest

from plugin.store import open_store
from plugin.store.outbox import (
    claim_messages,
    claimed_keys,
    clear_alerts,
    customer_messages,
    discard_message,
    due_messages,
    get_message,
    list_messages,
    mark_abandoned,
    received_messages,
    recent_messages,
    record_failed,
    record_retry,
    record_sent,
    requeue_message,
    rule_activity,
    standing_alerts,
    start_sending,
    status_counts,
)
from plugin.store.suppressions import (
    is_suppressed,
    suppress,
    suppressed_emails,
    suppression_of,
    unsuppress,
)
from plugin.store.tickets import customer_facts
from tests.helpers.config import ANCHOR

pytestmark = pytest.mark.usefixtures("backend")
PERIOD = "2026-11-20"
NOW = int(ANCHOR.timestamp())


def message(customer_id: int, **changes) -> dict:
    return {
        "rule": "checkin",
        "customer_id": customer_id,
        "period": PERIOD,
        "rule_version": 1,
        "status": "pending",
        "channel": "email",
        "recipient": f"c{customer_id}@example.com",
        "locale": "en",
        "reasons": [f"reason {customer_id}", "50% through"],
        "subject": "How is it going?",
        "body_text": "Hello",
        "body_html": "<p>Hello</p>",
        "next_attempt_at": NOW,
        "error": None,
    } | changes


def test_a_message_is_claimed_once_per_rule_customer_and_period(store_location):
    now = NOW
    with open_store(store_location) as db:
        first = claim_messages(db, [message(1), message(2)], now=now)
        again = claim_messages(db, [message(2), message(3), message(1, period="next")], now=now)
        refused = claim_messages(db, [message(4, status="refused", error="sandbox")], now=now)

        assert len(first) == 2 and len(again) == 2 and len(refused) == 1
        assert len(set(first + again + refused)) == 5
        assert claimed_keys(db, "checkin", PERIOD) == {1, 2, 3}  # a refused row holds nothing
        assert claim_messages(db, [message(1, status="refused")], now=now) == []
        assert claim_messages(db, [message(4)], now=now + 5) == refused  # fixed: claimed over
        fixed = get_message(db, refused[0])
        assert (fixed["status"], fixed["attempts"], fixed["updated_at"]) == ("pending", 0, now + 5)
        assert fixed["reasons"] == ["reason 4", "50% through"]
        assert get_message(db, 10_000) is None


def test_a_message_is_sent_once_and_recorded_only_by_its_sender(store_location):
    now = NOW
    with open_store(store_location) as db:
        ids = claim_messages(
            db, [message(1), message(2, next_attempt_at=now + 60), message(3)], now=now
        )
        assert [m["id"] for m in due_messages(db, now=now)] == [ids[0], ids[2]]
        assert [m["id"] for m in due_messages(db, now=now, rules=["other"])] == []
        assert start_sending(db, ids[0], holder="a", now=now)
        assert not start_sending(db, ids[0], holder="b", now=now)  # not pending any more

        record_sent(db, ids[0], holder="b", outcome="250 OK", external_id="x", now=now)
        assert get_message(db, ids[0])["status"] == "sending"  # only its sender records it
        record_sent(db, ids[0], holder="a", outcome="250 OK", external_id="m-1", now=now + 1)
        sent = get_message(db, ids[0])
        assert (sent["status"], sent["sent_at"], sent["attempts"]) == ("sent", now + 1, 1)

        assert start_sending(db, ids[2], holder="a", now=now)
        record_retry(db, ids[2], error="421 busy", retry_at=now + 300, now=now)
        assert [m["id"] for m in due_messages(db, now=now + 299)] == [ids[1]]
        assert [m["id"] for m in due_messages(db, now=now + 300)] == [ids[1], ids[2]]
        assert start_sending(db, ids[2], holder="a", now=now + 300)
        record_failed(db, ids[2], error="550 no such user", now=now + 300)
        assert list_messages(db, status="failed")[0]["error"] == "550 no such user"
        assert requeue_message(db, ids[2], now=now + 400)
        assert not requeue_message(db, ids[2], now=now + 400)  # pending already
        assert start_sending(db, ids[2], holder="a", now=now + 400)
        record_failed(db, ids[2], error="550 again", now=now + 400)
        assert discard_message(db, ids[2], now=now + 500)

        assert status_counts(db) == {"sent": 1, "pending": 1, "discarded": 1}
        assert status_counts(db, rule="other") == {}
        activity = rule_activity(db)["checkin"]
        assert activity == {"counts": {"sent": 1, "pending": 1, "discarded": 1}, "last_at": now}
        assert [m["id"] for m in list_messages(db, rule="checkin", limit=2)] == ids[:0:-1]
        assert [m["id"] for m in customer_messages(db, 1)] == [ids[0]]
        (received,) = received_messages(db, 1, since=now)
        assert (received["status"], received["at"], received["subject"]) == (
            "sent",
            now + 1,
            "How is it going?",
        )
        assert received_messages(db, 1, since=now + 2) == []
        # The sidebar reads them with the customer's facts, in its one statement.
        for since in (now, now + 2):
            facts = customer_facts(db, 1, end=now, effort_seconds=86_400, messages_since=since)
            assert facts.messages == received_messages(db, 1, since=since)


def test_a_send_left_by_a_dead_run_becomes_uncertain(store_location):
    now = NOW
    with open_store(store_location) as db:
        ids = claim_messages(db, [message(1), message(2)], now=now)
        assert start_sending(db, ids[0], holder="dead", now=now)
        assert start_sending(db, ids[1], holder="alive", now=now)

        assert mark_abandoned(db, holder="alive", now=now + 10) == 1
        uncertain = get_message(db, ids[0])
        assert uncertain["status"] == "uncertain"
        assert uncertain["error"] == "the run sending it stopped before recording the outcome"
        assert get_message(db, ids[1])["status"] == "sending"
        record_sent(db, ids[0], holder="dead", outcome="250", external_id=None, now=now + 11)
        assert get_message(db, ids[0])["status"] == "sent"  # its run said so after all


def test_an_alert_stands_until_cleared(store_location):
    now = NOW
    webhook = {"rule": "churn", "channel": "webhook", "status": "sent"}
    with open_store(store_location) as db:
        claim_messages(db, [message(1, **webhook), message(2, **webhook)], now=now)
        claim_messages(db, [message(3, **webhook | {"status": "held_out"})], now=now)
        assert standing_alerts(db, "churn") == {
            cid: [f"reason {cid}", "50% through"] for cid in (1, 2, 3)
        }
        assert clear_alerts(db, "churn", [1, 3, 99], now=now) == 2
        assert clear_alerts(db, "churn", [1], now=now) == 0
        assert list(standing_alerts(db, "churn")) == [2]
        claim_messages(db, [message(1, **webhook, period="next")], now=now)
        assert sorted(standing_alerts(db, "churn")) == [1, 2]


def test_recent_messages_are_what_cooldowns_and_the_cap_count(store_location):
    now = NOW
    with open_store(store_location) as db:
        claim_messages(
            db,
            [
                message(1, next_attempt_at=now - 100),
                message(2, next_attempt_at=now + 100),
                message(3, status="held_out"),
                message(4, status="refused"),
            ],
            now=now,
        )
        recent = recent_messages(db, since=now - 50)
    assert sorted((m["customer_id"], m["status"], m["at"]) for m in recent) == [
        (2, "pending", now + 100),
        (3, "held_out", now),
    ]


def test_each_due_message_is_sent_by_exactly_one_of_several_connections(store_location):
    """Four senders, each on its own connection (as processes on several hosts), race
    for the same due messages: each message is started by exactly one of them."""
    now = NOW
    with open_store(store_location) as db:
        ids = claim_messages(db, [message(cid) for cid in range(1, 61)], now=now)
    started: dict[str, list[int]] = {}
    failures: list[BaseException] = []
    gate = threading.Barrier(4)

    def sender(name: str) -> None:
        try:
            with open_store(store_location, migrate=False) as db:
                gate.wait()
                started[name] = [
                    row["id"]
                    for row in due_messages(db, now=now, limit=100)
                    if start_sending(db, row["id"], holder=name, now=now)
                ]
        except BaseException as exc:  # noqa: BLE001 — reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=sender, args=(f"s{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    everyone = [mid for ids_started in started.values() for mid in ids_started]
    assert sorted(everyone) == sorted(ids)
    with open_store(store_location) as db:
        assert status_counts(db) == {"sending": 60}
        owners = {m["id"]: m["sending_by"] for m in list_messages(db)}
    assert all(owners[mid] == name for name, mids in started.items() for mid in mids)


def test_opt_outs_are_kept_by_lower_cased_address(store_location):
    now = NOW
    with open_store(store_location) as db:
        suppress(db, " Ann@Example.COM", reason="unsubscribe link", now=now)
        suppress(db, "ann@example.com", reason="again", now=now + 1)  # the first one stays
        suppress(db, "bo@example.com", reason="admin", now=now)

        assert is_suppressed(db, "ANN@example.com ") and not is_suppressed(db, None)
        assert suppression_of(db, "ann@example.com") == {
            "reason": "unsubscribe link",
            "created_at": now,
        }
        assert suppression_of(db, "") is None
        assert suppressed_emails(db) == {"ann@example.com", "bo@example.com"}
        assert unsuppress(db, "Ann@example.com") and not unsuppress(db, "ann@example.com")
        assert suppressed_emails(db) == {"bo@example.com"}
