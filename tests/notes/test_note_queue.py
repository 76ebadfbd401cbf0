"""The journey note queue in the store, on both engines: a note per ticket, queued once,
posted once, retried, failed, or released when its poster died mid-call."""

from __future__ import annotations

import pytest

from plugin.store import open_store
from plugin.store.journey_notes import (
    due_notes,
    get_note,
    list_notes,
    queue_notes,
    record_note_failed,
    record_note_retry,
    record_posted,
    release_abandoned,
    start_posting,
)
from tests.helpers.config import ANCHOR

pytestmark = pytest.mark.usefixtures("backend")
NOW = int(ANCHOR.timestamp())


def test_a_note_is_queued_once_per_ticket_and_posted_once(store_location):
    with open_store(store_location) as db, db.atomic():
        assert queue_notes(db, "zd", ["1", "2"], now=NOW) == 2
        assert queue_notes(db, "zd", ["2", "3"], now=NOW + 1) == 1  # a redelivered webhook
        assert queue_notes(db, "fd", ["1"], now=NOW + 1) == 1
    with open_store(store_location) as db:
        due = due_notes(db, now=NOW)
        assert [(n["source"], n["ticket_id"]) for n in due] == [("zd", "1"), ("zd", "2")]
        first = due[0]["id"]
        assert start_posting(db, first, holder="a", now=NOW)
        assert not start_posting(db, first, holder="b", now=NOW)

        record_posted(db, first, holder="b", body="not mine", now=NOW)
        assert get_note(db, "zd", "1")["status"] == "sending"
        record_posted(db, first, holder="a", body="Journey: ...", now=NOW + 2)
        posted = get_note(db, "zd", "1")
        assert (posted["status"], posted["body"], posted["posted_at"]) == (
            "posted",
            "Journey: ...",
            NOW + 2,
        )
        assert (posted["attempts"], posted["sending_by"]) == (1, None)
        assert get_note(db, "zd", "404") is None


def test_a_note_is_retried_failed_or_released_after_its_poster_died(store_location):
    with open_store(store_location) as db:
        with db.atomic():
            queue_notes(db, "zd", ["1", "2", "3"], now=NOW)
        ids = {note["ticket_id"]: note["id"] for note in due_notes(db, now=NOW)}
        for ticket in ("1", "2", "3"):
            assert start_posting(db, ids[ticket], holder="dead" if ticket == "3" else "a", now=NOW)

        record_note_retry(db, ids["1"], error="503", retry_at=NOW + 30, now=NOW)
        record_note_failed(db, ids["2"], error="the ticket is gone", now=NOW)
        assert due_notes(db, now=NOW + 29) == []
        assert [n["ticket_id"] for n in due_notes(db, now=NOW + 30)] == ["1"]
        assert release_abandoned(db, holder="a", now=NOW + 40) == 1
        released = get_note(db, "zd", "3")
        assert (released["status"], released["sending_by"], released["attempts"]) == (
            "pending",
            None,
            1,
        )
        assert [n["ticket_id"] for n in list_notes(db, status="pending")] == ["3", "1"]
        assert [n["ticket_id"] for n in list_notes(db, limit=1)] == ["3"]
        assert get_note(db, "zd", "2")["error"] == "the ticket is gone"
