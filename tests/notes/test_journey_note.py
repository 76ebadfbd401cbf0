"""The journey note on local servers speaking Zendesk's and Freshdesk's APIs: one private
note per new unsolved ticket, in the desk's own format, with the stage, the articles read
before the ticket and the SLA decision; never on tickets older than the connector's first
sync; never twice — not after a re-sync, a redelivered webhook, two posters at once, a
desk that took the note and then failed, or a poster killed between posting and marking.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.config import load_config
from plugin.notes.compose import note_marker
from plugin.notes.post import post_due
from plugin.store import open_store
from plugin.store.journey_notes import get_note, list_notes
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.desks import (
    add_articles,
    add_customer,
    add_ticket,
    add_view,
    freshdesk_config,
    load_zendesk_config,
)
from tests.web.test_webhooks import zendesk_post

pytestmark = pytest.mark.usefixtures("backend")

ROOT = Path(__file__).resolve().parents[2]
NOTE = "journey_note = true\n"
RULES = """
[[sla.rules]]
name = "refunds-first"
priority = "urgent"
add_tags = ["journey_refund"]
first_response_minutes = 60
resolution_minutes = 480
[sla.rules.when]
all = [ { fact = "ticket.subject", op = "contains", value = "refund" } ]
"""


@pytest.fixture(scope="module")
def servers():
    started = [HTTPServer(host="127.0.0.1", threaded=True) for _ in range(2)]
    for server in started:
        server.start()
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def zendesk(servers):
    servers[0].clear()
    fake = FakeZendesk(servers[0])
    add_articles(fake)
    add_customer(fake, 1)
    add_view(fake, 1, 500, at=clock.now_seconds() - 3600)
    add_ticket(fake, 100, 1, at=clock.now_seconds() - 86_400)  # before the desk was connected
    yield fake
    servers[0].check_handler_errors()


@pytest.fixture
def config(tmp_path, zendesk, monkeypatch):
    return load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, NOTE, more=RULES)


def new_ticket(fake: FakeZendesk, ticket_id: int, subject: str, **fields) -> None:
    add_ticket(fake, ticket_id, 1, at=clock.now_seconds() + 1)
    fields = {"subject": subject, "priority": "normal", **fields}
    fake.tickets.put(ticket_id, {**fake._ticket(str(ticket_id)), **fields})


def notes_on(fake: FakeZendesk) -> dict[int, list[dict]]:
    return {t: fake.private_comments(t) for t in fake.comments if fake.private_comments(t)}


def test_the_first_sync_queues_and_posts_no_note(config, zendesk):
    run_source_sync(config, "zendesk")
    assert post_due(config).posted == 0
    with open_store(config.database_path) as db:
        assert list_notes(db) == []
    assert zendesk.comments == {} and zendesk.calls("/comments", "GET") == []


def test_a_new_ticket_gets_one_private_comment_with_its_journey(config, zendesk):
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 101, "Refund please")
    new_ticket(zendesk, 102, "Already solved", status="solved")
    run_source_sync(config, "zendesk")

    report = post_due(config)

    assert report.posted == 1 and report.errors == []
    [(ticket_id, [comment])] = notes_on(zendesk).items()
    assert ticket_id == 101 and comment["public"] is False
    [(_, change)] = [(t, c) for m, t, c in zendesk.writes if m == "PUT"][-1:]
    assert set(change) == {"comment"} and set(change["comment"]) == {"html_body", "public"}
    html = comment["html_body"]
    assert "<strong>Stage:</strong>" in html
    assert "Export your data to CSV</a>" in html  # read an hour before the ticket
    assert "Priority raised to urgent" in html and "first reply within 1 h" in html
    assert note_marker("zendesk", "101") in html
    with open_store(config.database_path) as db:
        stored = get_note(db, "zendesk", "101")
        assert stored["status"] == "posted" and stored["attempts"] == 1
        assert "Priority raised to urgent" in stored["body"]
        assert get_note(db, "zendesk", "100") is None  # existed before the connector
        assert get_note(db, "zendesk", "102") is None  # solved when it arrived

    run_source_sync(config, "zendesk")  # the comment updated the ticket: it syncs again
    assert post_due(config).posted == 0
    assert len(zendesk.private_comments(101)) == 1


def test_the_note_needs_no_sla_rule_and_speaks_spanish(tmp_path, zendesk, monkeypatch):
    extra = NOTE + 'journey_note_language = "es"\n'
    config = load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, extra)
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 103, "Refund please")
    run_source_sync(config, "zendesk")

    assert post_due(config).posted == 1
    [comment] = zendesk.private_comments(103)
    assert "<strong>Etapa:</strong>" in comment["html_body"]
    assert "Leyó antes del ticket" in comment["html_body"]
    assert "SLA" not in comment["html_body"]
    with open_store(config.database_path) as db:
        assert db.execute("SELECT count(*) FROM sla_decisions").fetchone()[0] == 0


def test_no_note_without_the_key(tmp_path, zendesk, monkeypatch):
    config = load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, more=RULES)
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 104, "Refund please")
    run_source_sync(config, "zendesk")
    assert post_due(config).posted == 0
    assert zendesk.comments == {}
    with open_store(config.database_path) as db:
        assert list_notes(db) == []
        assert db.execute("SELECT count(*) FROM sla_decisions").fetchone()[0] == 1


def test_a_signed_webhook_posts_the_note_once_whatever_is_redelivered(config, zendesk):
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 105, "Where is my refund")
    client = create_app(config).test_client()

    first = zendesk_post(client, {"ticket_id": "105"})
    assert first.status_code == 200, first.get_json()
    assert len(zendesk.private_comments(105)) == 1  # posted with the webhook's fetch

    again = zendesk_post(client, {"ticket_id": "105"})  # the desk's retry: a new signature
    assert again.status_code == 200
    run_source_sync(config, "zendesk")
    assert post_due(config).posted == 0
    assert len(zendesk.private_comments(105)) == 1
    assert "Priority raised to urgent" in zendesk.private_comments(105)[0]["html_body"]


def test_two_posters_at_once_post_each_note_once(config, zendesk):
    run_source_sync(config, "zendesk")
    for ticket_id in range(110, 116):
        new_ticket(zendesk, ticket_id, f"Question {ticket_id}")
    run_source_sync(config, "zendesk")
    zendesk.delay = 0.05  # each call takes a while: the two runs overlap
    start = threading.Barrier(2)
    reports = []

    def run() -> None:
        start.wait()
        reports.append(post_due(config))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    zendesk.delay = 0

    assert sum(r.posted for r in reports) == 6
    assert sorted(notes_on(zendesk)) == list(range(110, 116))
    assert all(len(notes) == 1 for notes in notes_on(zendesk).values())


def test_a_note_the_desk_took_before_failing_is_found_not_posted_again(config, zendesk):
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 120, "Refund")
    run_source_sync(config, "zendesk")
    zendesk.fail_after_comment = 1  # the comment is added, the answer is a 500

    first = post_due(config)
    assert first.retrying == 1 and first.posted == 0
    assert len(zendesk.private_comments(120)) == 1
    assert post_due(config).posted == 0  # not due yet: backoff

    with clock.moved_to(clock.now() + timedelta(minutes=1)):
        second = post_due(config)
    assert second.found == 1 and second.posted == 0
    assert len(zendesk.private_comments(120)) == 1
    with open_store(config.database_path) as db:
        note = get_note(db, "zendesk", "120")
        assert note["status"] == "posted" and note["attempts"] == 2


def test_a_poster_killed_between_posting_and_marking_never_posts_twice(config, zendesk):
    run_source_sync(config, "zendesk")
    new_ticket(zendesk, 130, "Refund")
    run_source_sync(config, "zendesk")
    zendesk.hold_after_comment = 30  # the desk has the comment; its answer is late
    poster = subprocess.Popen(
        [sys.executable, "-c", POSTER, config.path],
        env={**os.environ, "PYTHONPATH": str(ROOT), clock.ENV_VAR: clock.now().isoformat()},
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not zendesk.private_comments(130) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not zendesk.private_comments(130):
            poster.kill()
            raise AssertionError(f"the poster never posted: {poster.communicate()[1]}")
        poster.send_signal(signal.SIGKILL)
        assert poster.wait(timeout=10) == -signal.SIGKILL
    finally:
        poster.kill()
        poster.wait(timeout=10)
        poster.stderr.close()
    zendesk.hold_after_comment = 0
    with open_store(config.database_path) as db:
        assert get_note(db, "zendesk", "130")["status"] == "sending"

    report = post_due(config)  # takes the dead poster's lease over

    assert report.released == 1 and report.found == 1 and report.posted == 0
    assert len(zendesk.private_comments(130)) == 1
    with open_store(config.database_path) as db:
        assert get_note(db, "zendesk", "130")["status"] == "posted"


POSTER = """
import sys
from plugin.config import load_config
from plugin.notes.post import post_due
post_due(load_config(sys.argv[1]))
"""


# -- Freshdesk -------------------------------------------------------------------------------


@pytest.fixture
def freshdesk(servers, tmp_path, monkeypatch):
    fake = FakeFreshdesk(servers[1])
    fake.add_contact(42, email="bea@example.com", name="Bea")
    fake.add_ticket(900, requester_id=42, subject="Old question")  # before the connector
    monkeypatch.setenv("JD_FD_KEY", API_KEY)
    path = freshdesk_config(tmp_path, fake.base_url, NOTE + 'languages = ["en"]\n' + RULES)
    yield fake, load_config(path)
    servers[1].check_handler_errors()


def test_freshdesk_gets_one_private_note_per_new_ticket(freshdesk):
    fake, config = freshdesk
    run_source_sync(config, "support")
    fake.now = clock.now() + timedelta(seconds=5)  # tickets created after the first sync
    fake.add_ticket(901, requester_id=42, subject="Refund for my order")
    fake.add_ticket(902, requester_id=42, subject="Done", status=4)  # resolved
    run_source_sync(config, "support")

    assert post_due(config).posted == 1

    assert fake.private_notes(900) == [] and fake.private_notes(902) == []
    [note] = fake.private_notes(901)
    posted = [p for p in fake.paths("POST") if p.endswith("/notes")]
    assert posted == ["/api/v2/tickets/901/notes"]
    assert note["body"].startswith("<p><strong>Stage:</strong>")
    assert "Priority raised to urgent" in note["body"]
    assert note_marker("support", "901") in note["body_text"]

    run_source_sync(config, "support")
    assert post_due(config).posted == 0
    assert len(fake.private_notes(901)) == 1


def test_freshdesk_note_taken_then_failed_is_found_on_the_ticket(freshdesk):
    fake, config = freshdesk
    run_source_sync(config, "support")
    fake.now = clock.now() + timedelta(seconds=5)
    fake.add_ticket(903, requester_id=42, subject="Refund")
    run_source_sync(config, "support")
    fake.fail_after_note = 1

    assert post_due(config).retrying == 1
    with clock.moved_to(clock.now() + timedelta(minutes=1)):
        assert post_due(config).found == 1
    assert len(fake.private_notes(903)) == 1
    assert "/api/v2/tickets/903/conversations" in fake.paths("GET")
