"""Freshdesk `push_article_views`: article views the portal snippet captured are written
to the contacts' timelines (`POST /api/v2/contact-activities`) by the sync, once each.

journeydesk ingests through its real HTTP API (Flask test client) and syncs through
`journeydesk sync` against the fake Freshdesk on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from plugin import clock
from plugin.app import create_app
from plugin.config import load_config
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk
from tests.fakes.serving import serving
from tests.helpers.cli import journeydesk
from tests.helpers.config import SECRET
from tests.helpers.desks import freshdesk_config

INGEST_KEY = "timeline-ingest-key-0123"
ENV = {"JOURNEYDESK_SECRET": SECRET, "JD_FD_KEY": API_KEY, "JD_PORTAL_KEY": INGEST_KEY}


@pytest.fixture(scope="module")
def server():
    with serving() as running:
        yield running


@pytest.fixture
def desk(server) -> FakeFreshdesk:
    fake = FakeFreshdesk(server)
    fake.add_contact(1, email="ana@example.com", name="Ana")
    fake.add_contact(2, email="bea@example.com", name="Bea")
    fake.add_ticket(requester_id=1)
    category = fake.add_category({"en": "Start"})
    folder = fake.add_folder(category, {"en": "Basics"})
    fake.add_article(folder, {"en": "Export your data"})
    return fake


def write_config(folder: Path, base_url: str, push: bool = True) -> Path:
    return freshdesk_config(
        folder,
        base_url,
        f"""
        languages = ["en"]
        push_article_views = {"true" if push else "false"}
        [[ingest.keys]]
        name = "portal"
        key_env = "JD_PORTAL_KEY"
        source = "support"
        allowed_origins = ["https://support.acme.test"]
        """,
    )


def sync(config: Path) -> subprocess.CompletedProcess:
    return journeydesk("sync", "--config", str(config), env={**os.environ, **ENV}, timeout=60)


def post_events(config: Path, events: list[dict]) -> dict:
    client = create_app(load_config(config, env={**os.environ, **ENV})).test_client()
    answer = client.post(
        "/api/v1/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {INGEST_KEY}"},
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def view(event_id: str, customer: dict, article_id: str, minutes_ago: int = 5) -> dict:
    when = clock.now() - timedelta(minutes=minutes_ago)
    return {
        "id": event_id,
        "type": "article_view",
        "occurred_at": when.isoformat(),
        "customer": customer,
        "article": {
            "id": article_id,
            "url": f"https://acme.freshdesk.com/support/solutions/articles/{article_id}-x",
            "title": f"Article {article_id}",
        },
    }


def written(desk: FakeFreshdesk) -> list[tuple[str, str]]:
    """(contact email, article id) of every timeline entry the desk received."""
    return [(a["contact"].get("email"), a["activity"]["object"]["id"]) for a in desk.activities]


def test_captured_views_reach_the_contact_timeline_once_each(desk, tmp_path):
    config = write_config(tmp_path, desk.base_url)
    assert sync(config).returncode == 0  # contacts known to journeydesk
    post_events(
        config,
        [
            view("e1", {"email": "ana@example.com"}, "1001", minutes_ago=9),
            view("e2", {"email": "Ana@Example.com"}, "1002", minutes_ago=8),
            view("e3", {"anonymous_id": "v-bea"}, "1003", minutes_ago=7),  # not known yet
            view("e4", {"email": "nobody@example.com"}, "1001"),  # no such contact
        ],
    )

    first = sync(config)

    assert first.returncode == 0, first.stderr
    assert "views written to timelines: 2" in first.stdout
    assert sorted(written(desk)) == [("ana@example.com", "1001"), ("ana@example.com", "1002")]
    entry = desk.activities[0]["activity"]
    assert entry["name"] == "Read a help article" and entry["description"] == "Article 1001"

    # Bea signs in: her earlier anonymous read now has a contact, and goes out too.
    post_events(
        config,
        [
            {
                "id": "e5",
                "type": "identify",
                "occurred_at": clock.now().isoformat(),
                "customer": {"anonymous_id": "v-bea", "email": "bea@example.com"},
            }
        ],
    )
    second = sync(config)
    assert second.returncode == 0, second.stderr
    assert sorted(written(desk))[-1] == ("bea@example.com", "1003")
    assert len(desk.activities) == 3  # nothing written twice, the refused one not retried

    third = sync(config)
    assert "timelines" not in third.stdout and len(desk.activities) == 3


def test_nothing_is_written_unless_the_option_is_on(desk, tmp_path):
    config = write_config(tmp_path, desk.base_url, push=False)
    assert sync(config).returncode == 0
    post_events(config, [view("e1", {"email": "ana@example.com"}, "1001")])
    assert sync(config).returncode == 0
    assert desk.activities == []


def test_a_desk_that_fails_mid_way_leaves_the_rest_for_the_next_sync(desk, tmp_path):
    config = write_config(tmp_path, desk.base_url)
    assert sync(config).returncode == 0
    post_events(
        config,
        [view(f"e{n}", {"email": "ana@example.com"}, "1001", minutes_ago=n) for n in range(1, 4)],
    )
    desk.fail(401, path="/api/v2/contact-activities", method="POST", times=1)

    failing = sync(config)

    assert failing.returncode == 0, failing.stderr  # the sync itself went through
    assert "could not be written" in failing.stdout and desk.activities == []
    assert sync(config).returncode == 0
    assert len(desk.activities) == 3
