"""A sync always moves forward: `journeydesk sync` killed with SIGKILL every few
reading-history calls (a worker on a flaky host) reads new requesters after each restart
instead of starting the export page over, and the killed runs end up `interrupted`.

`journeydesk sync` runs as a real subprocess against the fake Zendesk served from this
process.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_source_sync
from plugin.background.leased_queue import holder_name, pid_scope
from plugin.config import load_config
from plugin.intake import sync_runs
from plugin.security import mint_agent_token
from plugin.store import open_db, sync_state
from tests.fakes.serving import serving
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.cli import cli_env, journeydesk, start_journeydesk
from tests.helpers.config import SECRET, database_of
from tests.helpers.desks import (
    ZENDESK_ENV,
    add_articles,
    add_customer,
    add_ticket,
    add_view,
    zendesk_config,
)

USERS = 16
CALLS_PER_RUN = 4
"""Reading-history calls a run makes before it is killed: a quarter of one export page."""
KILLS = 3


@pytest.fixture
def desk():
    with serving() as server:
        fake = FakeZendesk(server)
        add_articles(fake)
        start = clock.now_epoch() - 10 * 86_400
        for user in range(1, USERS + 1):  # one export page: sixteen requesters
            add_customer(fake, user)
            add_view(fake, user, 500, at=start + user * 60)
            add_ticket(fake, 100 + user, user, at=start + user * 3600)
        yield fake
        server.check_handler_errors()


@pytest.fixture
def env():
    return cli_env(ZENDESK_ENV)


def events_users(desk: FakeZendesk, since: int) -> list[str]:
    """The users whose reading history was asked for after request number `since`."""
    return [path.split("/")[4] for _, path, _ in desk.requests[since:] if path.endswith("/events")]


def sync_killed_after(desk: FakeZendesk, config: Path, env: dict, calls: int) -> list[str]:
    """Start `journeydesk sync`, SIGKILL it once it asked for `calls` users' histories;
    returns the users it asked for."""
    before = len(desk.requests)
    process = start_journeydesk("sync", "--config", str(config), env=env)
    deadline = time.monotonic() + 30
    while len(events_users(desk, before)) < calls:
        assert process.poll() is None, "the sync ended before it was killed"
        assert time.monotonic() < deadline, "the sync made no progress"
        time.sleep(0.002)
    time.sleep(0.01)  # land the kill while the answer is parsed or stored
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    return events_users(desk, before)


def test_a_sync_killed_every_few_calls_reads_new_requesters_after_each_restart(
    desk, env, tmp_path, store_location
):
    config = zendesk_config(tmp_path, desk.base_url)
    desk.delay = 0.02  # each call takes a moment: the kill lands mid-page
    asked: list[list[str]] = []
    for _ in range(KILLS):
        asked.append(sync_killed_after(desk, config, env, CALLS_PER_RUN))
    desk.delay = 0

    for run, users in enumerate(asked[1:], start=1):
        before = set().union(*asked[:run])
        again = [u for u in users if u in before]
        # At most the one user whose answer the kill interrupted is asked for again.
        assert len(again) <= 1, f"run {run + 1} started the page over: {asked}"
    finished = journeydesk("sync", "--config", str(config), env=env, timeout=60)
    assert finished.returncode == 0, finished.stderr
    db = open_db(store_location, migrate=False)
    try:
        views = db.execute("SELECT count(*) FROM touchpoints WHERE type = 'article_view'")
        assert views.fetchone()[0] == USERS  # nothing lost, nothing twice
    finally:
        db.conn.close()


def test_a_killed_sync_shows_interrupted_and_the_next_run_closes_it(desk, env, tmp_path):
    path = zendesk_config(tmp_path, desk.base_url)
    desk.delay = 0.02
    sync_killed_after(desk, path, env, 2)
    desk.delay = 0
    config = load_config(path, env=env)
    health = create_app(config).test_client()

    monitor = mint_agent_token(SECRET, source="zendesk", ticket_id=None)  # sees the messages
    answer = health.get("/healthz", headers={"Authorization": f"Bearer {monitor}"})
    seen = answer.get_json()["syncs"]["zendesk"]
    run_source_sync(config, "zendesk")

    assert seen["status"] == "interrupted"
    assert "killed or crashed" in seen["message"]
    assert runs(tmp_path) == [("zendesk", "interrupted"), ("zendesk", "ok")]


def test_a_run_still_going_is_not_taken_for_a_dead_one(tmp_path, store_location):
    """A run is judged by its process's pid only where that pid means something (this
    host, boot and pid namespace: the leases' holder scope); elsewhere by its heartbeat."""
    dead_pid = finished_pid()
    host, here = socket.gethostname(), pid_scope()
    db = open_db(store_location)
    try:
        mine = sync_runs.start(db, "here")  # this process, going on
        now = int(time.time())
        away = [
            ("elsewhere", f"another-host:{dead_pid}:abcd:{here}", now - 60),  # beating
            ("silent", "another-host:8:abcd:0123456789ab", now - 2 * sync_runs.STALE_SECONDS),
            ("reused", holder_name("0ld"), now),  # this pid, an earlier process
            ("died-here", f"{host}:{dead_pid}:abcd:{here}", now),
            ("other-namespace", f"{host}:{dead_pid}:abcd:{'0' * 12}", now),  # a container
            ("older-release", f"{host}:{dead_pid}:abcd", now),  # no scope: its heartbeat
        ]
        for source, owner, beat in away:
            sync_state.start_run(db, source, owner=owner, alive_at=beat)
        sync_runs.settle_dead_runs(db)
        status = dict(db.execute("SELECT source, status FROM sync_runs").fetchall())
    finally:
        db.conn.close()
    assert status == {
        "here": "running",
        "elsewhere": "running",
        "silent": "interrupted",
        "reused": "interrupted",  # this pid's earlier process (a restarted container)
        "died-here": "interrupted",
        "other-namespace": "running",  # the same pid number there is another process
        "older-release": "running",
    }
    assert mine
    assert sync_runs.process_owner().endswith(f":{here}")


def finished_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def runs(folder: Path) -> list[tuple[str, str]]:
    db = open_db(database_of(folder), migrate=False)
    try:
        return db.execute("SELECT source, status FROM sync_runs ORDER BY id").fetchall()
    finally:
        db.conn.close()
