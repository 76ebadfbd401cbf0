"""Each connector, synced into a real SQLite store through `plugin.intake.sync.run_sync`, against
its fake desk on 127.0.0.1 while the desk misbehaves the documented ways: several pages
per list, a 429 with `Retry-After`, 500s, a call that times out, a malformed page (which
stops the run; the next run resumes from the stored cursor) and records with missing
fields. The store afterwards must hold exactly what a clean run against a well-behaved
desk stores: nothing lost, nothing duplicated, the bad records counted and reported.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from requests.auth import HTTPBasicAuth
from sqlite_utils import Database

from connectors.errors import BadPayloadError
from connectors.freshdesk import FreshdeskConnector
from connectors.http import HttpClient
from connectors.zendesk import ZendeskConnector
from plugin.intake.sync import SyncReport, run_sync
from plugin.store import open_db
from plugin.store.sync_state import get_cursor
from tests.fakes.freshdesk import API_KEY, DOMAIN, FakeFreshdesk
from tests.fakes.zendesk import EMAIL, SUBDOMAIN, TOKEN, FakeZendesk
from tests.helpers.desks import add_articles, add_customer, add_ticket, add_view

TIMEOUT = 0.4  # the client's per-call timeout; a fault waits longer than this
RETRY_AFTER = 7  # seconds a 429 asks for
START = 1_760_000_000


def client(base_url: str, auth: HTTPBasicAuth, sleeps: list[float], desk: str) -> HttpClient:
    """The shared client as a sync uses it, with a short timeout and recorded waits."""
    return HttpClient(
        base_url,
        auth,
        desk=desk,
        credentials_setting="credentials",
        timeout=TIMEOUT,
        sleep=sleeps.append,
        backoff_base=0.01,
    )


def sync(
    path: Path, make: Callable[[Database, list[float]], object], sleeps: list[float] | None = None
) -> SyncReport:
    """One `run_sync` into the store at `path`; the client's waits go to `sleeps`."""
    db = open_db(path)
    try:
        return run_sync(db, make(db, [] if sleeps is None else sleeps))
    finally:
        db.conn.close()


def snapshot(path: Path, source: str) -> dict[str, list]:
    """Every stored record by its natural key (row ids may legitimately differ)."""
    db = open_db(path, migrate=False)
    user = (
        "(SELECT value FROM customer_identities i WHERE i.customer_id = {}.customer_id "
        f"AND i.kind = 'user:{source}')"
    )
    queries = {
        "customers": "SELECT i.value, c.name, c.email, c.merged_into IS NULL FROM customers c "
        f"JOIN customer_identities i ON i.customer_id = c.id AND i.kind = 'user:{source}'",
        "customer_rows": "SELECT count(*) FROM customers",
        "tickets": f"SELECT id, {user.format('t')}, subject, status, created_at FROM tickets t",
        "touchpoints": f"SELECT event_id, {user.format('p')}, type, occurred_at, article_id "
        "FROM touchpoints p",
        "touchpoint_rows": "SELECT count(*) FROM touchpoints",
        "articles": "SELECT article_id, locale, title FROM articles",
        "cursors": "SELECT stream, scope, cursor FROM sync_cursors",
        "rejections": "SELECT stream, reason FROM rejections",
    }
    try:
        return {name: sorted(map(tuple, db.execute(sql))) for name, sql in queries.items()}
    finally:
        db.conn.close()


# -- Zendesk ------------------------------------------------------------------------------------


def zendesk_desk(server: HTTPServer) -> FakeZendesk:
    server.clear()
    fake = FakeZendesk(server)
    add_articles(fake)
    fake.article_page_size = 2
    for user in range(1, 8):
        add_customer(fake, user)
        add_view(fake, user, 500 + user % 3, at=START + user * 600)
        add_view(fake, user, 500 + (user + 1) % 3, at=START + user * 600 + 60)
    for number in range(1, 10):
        add_ticket(fake, 100 + number, 1 + number % 7, at=START + number * 3600)
    fake.add_user({"email": "no-id@example.com", "name": "No id"})  # missing id
    fake.add_ticket({"id": 199, "subject": "No requester", "created_at": "2025-10-09T10:00:00Z"})
    return fake


def zendesk(fake: FakeZendesk, db: Database, sleeps: list[float]) -> ZendeskConnector:
    http = client(fake.base_url, HTTPBasicAuth(f"{EMAIL}/token", TOKEN), sleeps, "Zendesk")
    return ZendeskConnector(
        "zendesk",
        SUBDOMAIN,
        EMAIL,
        TOKEN,
        base_url=fake.base_url,
        http=http,
        events_page_size=1,
        export_page_size=2,
        export_interval=0.0,
        user_cursor=partial(get_cursor, db, "zendesk", "touchpoints"),
    )


def test_zendesk_survives_a_misbehaving_desk_with_exactly_the_clean_result(
    server, tmp_path, store_named
):
    fake = zendesk_desk(server)
    clean = sync(store_named("clean"), partial(zendesk, fake))
    expected = snapshot(store_named("clean"), "zendesk")
    assert clean.written["customers"] == 7 and clean.written["tickets"] == 9
    assert len(expected["rejections"]) == 2  # the user without id, the ticket without requester

    fake.fail("/api/v2/incremental/users", 429, retry_after=RETRY_AFTER)
    fake.fail("/api/v2/incremental/tickets", 500, times=2)
    fake.fail("/api/v2/help_center/incremental/articles", 503)
    fake.fail("/api/v2/users/2/events", 200, delay=TIMEOUT * 3)  # times out, then retried
    fake.fail("/api/v2/users/5/events", 200, body="<html>Gateway hiccup</html>")  # malformed
    path, sleeps = store_named("hazards"), []

    with pytest.raises(BadPayloadError):
        sync(path, partial(zendesk, fake), sleeps)
    sync(path, partial(zendesk, fake), sleeps)  # the next run resumes from the cursors

    assert snapshot(path, "zendesk") == expected
    assert RETRY_AFTER in sleeps  # the 429's Retry-After, not our own backoff
    assert any("no requester_id" in reason for _, reason in expected["rejections"])
    assert any("no id" in reason for _, reason in expected["rejections"])
    server.check_handler_errors()


# -- Freshdesk ----------------------------------------------------------------------------------


def freshdesk_desk(server: HTTPServer) -> FakeFreshdesk:
    fake = FakeFreshdesk(server)
    fake.add_contact(-99, name="Bad id")  # an id that is no Freshdesk id: rejected
    for contact in range(1, 8):
        fake.add_contact(contact)
    for number in range(1, 10):
        fake.add_ticket(requester_id=1 + number % 7)
    stamp = fake.tick()  # no requester: rejected with its reason, its page kept
    fake.put_raw_ticket(
        {"id": 999, "subject": "Lost", "status": 2, "created_at": stamp, "updated_at": stamp}
    )
    category = fake.add_category({"en": "Start"})
    folder = fake.add_folder(category, {"en": "Basics"})
    for number in range(5):
        fake.add_article(folder, {"en": f"Article {number}"})
    return fake


def freshdesk(fake: FakeFreshdesk, db: Database, sleeps: list[float]) -> FreshdeskConnector:
    http = client(fake.base_url, HTTPBasicAuth(API_KEY, "X"), sleeps, "Freshdesk")
    return FreshdeskConnector("freshdesk", DOMAIN, API_KEY, http=http, per_page=2, languages=["en"])


def test_freshdesk_survives_a_misbehaving_desk_with_exactly_the_clean_result(
    server, tmp_path, store_named
):
    fake = freshdesk_desk(server)
    clean = sync(store_named("clean"), partial(freshdesk, fake))
    expected = snapshot(store_named("clean"), "freshdesk")
    assert clean.written["customers"] == 7 and clean.written["tickets"] == 9
    assert len(expected["rejections"]) == 2  # the contact with a bad id, the ticket 999

    fake.fail(429, path="/api/v2/contacts", headers={"Retry-After": str(RETRY_AFTER)})
    fake.fail(500, path="/api/v2/solutions/folders", times=2)
    fake.fail(None, path="/api/v2/tickets", delay=TIMEOUT * 3)  # times out, then retried
    tickets_seen = 0

    def malformed_third_ticket_page(desk: FakeFreshdesk, request) -> None:
        nonlocal tickets_seen
        if request.path == "/api/v2/tickets":
            tickets_seen += 1
            if tickets_seen == 3:  # the next ticket page is not JSON
                desk.fail(200, path="/api/v2/tickets", body="<html>Maintenance</html>")

    fake.after_request = malformed_third_ticket_page
    path, sleeps = store_named("hazards"), []

    with pytest.raises(BadPayloadError):
        sync(path, partial(freshdesk, fake), sleeps)
    fake.after_request = None
    sync(path, partial(freshdesk, fake), sleeps)  # the next run resumes from the cursors

    assert snapshot(path, "freshdesk") == expected
    assert RETRY_AFTER in sleeps
    assert any("ticket 999" in reason for _, reason in expected["rejections"])
    assert any("-99" in reason for _, reason in expected["rejections"])
    server.check_handler_errors()


def test_a_zendesk_deletion_without_its_requester_flags_the_stored_ticket(
    server, tmp_path, store_location
):
    fake = zendesk_desk(server)
    path = store_location
    sync(path, partial(zendesk, fake))
    # The export row of a deleted ticket may carry little more than its id and status.
    fake.add_ticket(
        {"id": 101, "status": "deleted", "requester_id": None, "created_at": "2025-10-09T10:00:00Z"}
    )
    fake.add_ticket(  # deleted before journeydesk ever saw it: nothing to flag
        {"id": 150, "status": "deleted", "requester_id": None, "created_at": "2025-10-09T10:00:00Z"}
    )

    report = sync(path, partial(zendesk, fake))

    assert report.rejected == []
    db = open_db(path, migrate=False)
    try:
        assert db.execute("SELECT deleted FROM tickets WHERE id = '101'").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM tickets WHERE id = '150'").fetchone() == (0,)
    finally:
        db.conn.close()
