"""A sync killed with SIGKILL at a random point and restarted ends with exactly the
records of an uninterrupted run: nothing lost, nothing duplicated (DESIGN §3).

`journeydesk sync` runs as a real subprocess against the fake Zendesk served from this
process, with small pages and a small delay per answer so that a run takes long enough
to be killed half-way. The kill point is a random number of desk requests into the run
(the seed is printed, to replay a failure).
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from plugin.background.jobs import run_source_sync
from plugin.config import load_config
from plugin.store import open_db
from tests.fakes.serving import serving
from tests.fakes.zendesk import FakeZendesk
from tests.helpers import config as config_helpers
from tests.helpers.cli import cli_env, journeydesk, start_journeydesk
from tests.helpers.config import database_line
from tests.helpers.desks import (
    ARTICLES,
    ZENDESK_ENV,
    add_articles,
    add_customer,
    add_ticket,
    add_view,
    zendesk_config,
)

USERS, TICKETS, VIEWS_PER_USER = 12, 18, 2
PAGES = "export_page_size = 3\n"
ROUNDS = 3


@pytest.fixture(scope="module")
def desk():
    with serving() as server:
        fake = FakeZendesk(server)
        add_articles(fake)
        fake.article_page_size = 2
        start = 1_760_000_000
        for user in range(1, USERS + 1):
            add_customer(fake, user)
            for view in range(VIEWS_PER_USER):
                article = list(ARTICLES)[(user + view) % len(ARTICLES)]
                add_view(fake, user, article, at=start + user * 3600 + view * 60)
        for ticket in range(1, TICKETS + 1):
            add_ticket(fake, 1000 + ticket, 1 + ticket % USERS, at=start + ticket * 5000)
        yield fake
        server.check_handler_errors()


@pytest.fixture(scope="module")
def env():
    return cli_env(ZENDESK_ENV)


@pytest.fixture(scope="module")
def reference(desk, env, tmp_path_factory):
    """The store after one uninterrupted sync, and how many desk calls that took."""
    folder = tmp_path_factory.mktemp("reference")
    config = load_config(zendesk_config(folder, desk.base_url, PAGES), env=env)
    before = len(desk.requests)
    report = run_source_sync(config, "zendesk")
    assert report.written["customers"] == USERS and report.written["tickets"] == TICKETS
    return snapshot(config.database_path), len(desk.requests) - before


def test_a_sync_killed_anywhere_and_restarted_loses_and_duplicates_nothing(
    desk, env, reference, tmp_path, store_named, monkeypatch
):
    expected, calls = reference
    assert len(expected["touchpoints"]) == USERS * VIEWS_PER_USER + TICKETS
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    desk.delay = 0.02  # something to kill: a run now takes about a second
    try:
        for round_ in range(ROUNDS):
            kill_after, pause = rng.randrange(1, calls), rng.uniform(0, 0.05)
            folder = tmp_path / f"round{round_}"
            folder.mkdir()
            store = store_named(f"round{round_}")  # a store of its own each round
            monkeypatch.setattr(config_helpers, "DATABASE", database_line(store))
            config = zendesk_config(folder, desk.base_url, PAGES)
            killed = kill_sync_after(desk, config, env, kill_after, pause)
            assert killed == -signal.SIGKILL, f"seed {seed}: the run ended before the kill"
            finished = run_sync(config, env)
            assert finished.returncode == 0, finished.stderr
            got = snapshot(store)
            for table in expected:
                assert got[table] == expected[table], (
                    f"seed {seed}, killed {pause:.3f} s into call {kill_after} of {calls}: "
                    f"{table} differ"
                )
    finally:
        desk.delay = 0


def kill_sync_after(desk: FakeZendesk, config: Path, env: dict, calls: int, pause: float) -> int:
    """Start `journeydesk sync`; SIGKILL it `pause` seconds after its call number `calls`
    reached the desk (so the kill lands anywhere: waiting, parsing, writing)."""
    before = len(desk.requests)
    process = start_journeydesk("sync", "--config", str(config), env=env)
    deadline = time.monotonic() + 30
    while len(desk.requests) - before < calls and process.poll() is None:
        assert time.monotonic() < deadline, "the sync made no progress"
        time.sleep(0.002)
    time.sleep(pause)
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=10)


def run_sync(config: Path, env: dict) -> subprocess.CompletedProcess:
    return journeydesk("sync", "--config", str(config), env=env, timeout=60)


def snapshot(path: str | Path) -> dict[str, list]:
    """Every synced record by its natural key (row ids may legitimately differ)."""
    db = open_db(path, migrate=False)
    try:
        user = (
            "(SELECT value FROM customer_identities i WHERE i.customer_id = {}.customer_id "
            "AND i.kind = 'user:zendesk')"
        )
        return {
            "customers": rows(
                db,
                "SELECT i.value, c.name, c.email, c.signup_at, c.plan, c.merged_into IS NULL "
                "FROM customers c JOIN customer_identities i ON i.customer_id = c.id "
                "AND i.kind = 'user:zendesk'",
            ),
            "customer_rows": rows(db, "SELECT count(*) FROM customers"),
            "identities": rows(db, "SELECT kind, value FROM customer_identities"),
            "tickets": rows(
                db,
                f"SELECT source, id, {user.format('t')}, subject, status, created_at, deleted "
                "FROM tickets t",
            ),
            "touchpoints": rows(
                db,
                f"SELECT source, event_id, {user.format('p')}, type, occurred_at, article_id, "
                "article_title, ticket_id FROM touchpoints p",
            ),
            "articles": rows(db, "SELECT source, article_id, locale, title, url FROM articles"),
            "cursors": rows(db, "SELECT source, stream, scope, cursor FROM sync_cursors"),
            "rejections": rows(db, "SELECT count(*) FROM rejections"),
        }
    finally:
        db.conn.close()


def rows(db, sql: str) -> list:
    return sorted(tuple(row) for row in db.execute(sql).fetchall())
