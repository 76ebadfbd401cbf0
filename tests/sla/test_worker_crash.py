"""A real `journeydesk worker` killed with SIGKILL between deciding a new ticket and pushing
its update: the restarted worker pushes the update, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from plugin import clock
from plugin.background.jobs import run_source_sync
from plugin.store import open_store
from plugin.store.sla_decisions import get_decision
from plugin.store.sla_pushes import list_pushes
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.desks import add_customer, add_ticket, load_zendesk_config

pytestmark = pytest.mark.usefixtures("backend")  # once per engine
ROOT = Path(__file__).resolve().parents[2]
RULES = """
[[sla.rules]]
name = "refunds-first"
priority = "urgent"
add_tags = ["journey_refund"]
[sla.rules.when]
all = [ { fact = "ticket.subject", op = "contains", value = "refund" } ]
"""
HANG_SECONDS = 20.0
"""How long the desk keeps the worker's read of the ticket waiting: the worker is killed
inside that wait, after its decision is stored and before any update reaches the desk."""


@pytest.fixture
def zendesk():
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    fake = FakeZendesk(server)
    add_customer(fake, 1)
    add_ticket(fake, 100, 1, at=clock.now_seconds() - 86_400)
    yield fake
    server.stop()


def start_worker(config, log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "plugin", "worker", "--config", config.path],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition, what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}; worker log:\n{log.read_text()}"
        time.sleep(0.05)


def test_a_worker_killed_between_deciding_and_pushing_pushes_once_after_restart(
    tmp_path, monkeypatch, zendesk
):
    config = load_zendesk_config(monkeypatch, tmp_path, zendesk.base_url, more=RULES)
    run_source_sync(config, "zendesk")  # the desk's first sync: history, decided never
    add_ticket(zendesk, 101, 1, at=clock.now_seconds() + 1)
    zendesk.tickets.put(101, {**zendesk._ticket("101"), "subject": "Refund please"})
    zendesk.fail("/api/v2/tickets/101", 503, delay=HANG_SECONDS)
    log = tmp_path / "worker.log"

    worker = start_worker(config, log)
    try:
        wait_for(lambda: zendesk.calls("/api/v2/tickets/101"), "the worker never pushed", log)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        worker.kill()
    with open_store(config.database_path) as db:
        assert get_decision(db, "zendesk", "101")["priority_after"] == "urgent"
        assert [p["status"] for p in list_pushes(db)] == ["sending"]  # claimed by the dead
    assert puts(zendesk) == []

    restarted = start_worker(config, log)
    try:
        wait_for(lambda: puts(zendesk), "the restarted worker pushed nothing", log)
        time.sleep(1.5)  # its later jobs (sync, push) must add nothing
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=15)
    [(ticket_id, change)] = puts(zendesk)
    assert ticket_id == "101" and change["priority"] == "urgent"
    assert "journey_refund" in change["tags"]
    with open_store(config.database_path) as db:
        assert [p["status"] for p in list_pushes(db)] == ["sent"]


def puts(fake: FakeZendesk) -> list[tuple[str, dict]]:
    return [(ticket_id, change) for method, ticket_id, change in fake.writes if method == "PUT"]
