"""Many readers and writers on one SQLite file at once (WAL mode, DESIGN §9).

Readers must never wait on the writer, and writers must queue for the write lock rather
than fail with "database is locked" — the error a deferred transaction gets when another
connection commits between its first read and its first write.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import requests

from plugin import clock
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.touchpoints import count_touchpoints
from tests.helpers.cli import journeydesk
from tests.helpers.demo_desk import INGEST_KEY, serve

READERS = 20
MIN_READS = 5  # per reader, even if the writer is quick


def test_twenty_sidebar_readers_while_a_sync_writes(busy_desk, caplog):
    caplog.set_level(logging.WARNING)
    config = busy_desk.config
    tickets = busy_desk.tickets(40)
    tokens = {t: mint_agent_token(config.secret, source="demo", ticket_id=t) for t in tickets}
    writer = Writer(busy_desk.folder / "config.toml")
    results: list[tuple[int, float, str]] = []
    lock = threading.Lock()

    def read(n: int, base: str) -> None:
        session = requests.Session()
        done = 0
        while writer.is_alive() or done < MIN_READS:
            ticket = tickets[(n * 7 + done) % len(tickets)]
            if done % 2:  # the HTML page and the JSON API, as the sidebar app loads them
                url = f"{base}/sidebar/demo/{ticket}?token={tokens[ticket]}"
                headers = {}
            else:
                url = f"{base}/api/v1/tickets/demo/{ticket}/journey"
                headers = {"Authorization": f"Bearer {tokens[ticket]}"}
            started = time.monotonic()
            response = session.get(url, headers=headers, timeout=30)
            with lock:
                results.append((response.status_code, started, response.text[:200]))
            done += 1

    with serve(config) as base:
        readers = [threading.Thread(target=read, args=(n, base)) for n in range(READERS)]
        for thread in readers:
            thread.start()
        writer.start()
        for thread in [writer, *readers]:
            thread.join(timeout=120)

    assert writer.error is None, f"the sync failed: {writer.error}"
    failures = [r for r in results if r[0] != 200]
    assert not failures, f"{len(failures)} of {len(results)} reads failed, first: {failures[0]}"
    during = [r for r in results if writer.started <= r[1] <= writer.finished]
    assert len(during) >= READERS, "the reads did not overlap the sync"
    locked = [r.getMessage() for r in caplog.records if "locked" in r.getMessage()]
    locked += [line for line in writer.said.splitlines() if "locked" in line]
    assert not locked, locked[0]
    assert writer.written > 1000


class Writer(threading.Thread):
    """Pull the second desk (fresh, then a full resync), then a full stage recompute:
    `journeydesk sync` and `recompute` in processes of their own, as the worker runs them
    beside the web server (in this process, the writer would wait its turn for the
    interpreter behind twenty reader threads and the server's, which proves nothing more)."""

    STEPS = (
        ("sync", "--source", "other"),
        ("sync", "--source", "other", "--full"),
        ("recompute", "--full"),
    )

    def __init__(self, config_path: Path) -> None:
        super().__init__()
        self.config_path = config_path
        self.error: str | None = None
        self.said = ""
        self.written = 0
        self.started = self.finished = 0.0

    def run(self) -> None:
        self.started = time.monotonic()
        try:
            for step in self.STEPS:
                done = journeydesk(*step, "--config", str(self.config_path))
                self.said += done.stdout + done.stderr
                if done.returncode != 0:
                    self.error = f"{' '.join(step)} exited {done.returncode}: {done.stderr}"
                    return
                if step[0] == "sync":  # "other: synced (customers: 150, tickets: 1,234, …)"
                    counts = re.findall(r": ([\d,]+)", done.stdout.split("synced", 1)[1])
                    self.written += sum(int(count.replace(",", "")) for count in counts)
        finally:
            self.finished = time.monotonic()


def test_concurrent_ingest_batches_all_land(desk):
    """Eight portals posting at once: every batch is stored, none is refused."""
    threads, batches, size = 8, 4, 100
    now = clock.now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
    before = _touchpoints(desk)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def post(n: int, base: str) -> None:
        session = requests.Session()
        for b in range(batches):
            events = [
                {
                    "id": f"t{n}-b{b}-e{i}",
                    "type": "article_view",
                    "occurred_at": now,
                    "customer": {"anonymous_id": f"visitor-{n}-{i % 10}"},
                    "article": {"id": "360000100", "locale": "en-us"},
                }
                for i in range(size)
            ]
            response = session.post(
                f"{base}/api/v1/events",
                json={"events": events},
                headers={"Authorization": f"Bearer {INGEST_KEY}"},
                timeout=60,
            )
            with lock:
                answers.append((response.status_code, response.json()))

    with serve(desk.config) as base:
        workers = [threading.Thread(target=post, args=(n, base)) for n in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=120)

    refused = [a for a in answers if a[0] != 200]
    assert not refused, f"{len(refused)} batches refused, first: {refused[0]}"
    assert sum(a[1]["accepted"] for a in answers) == threads * batches * size
    assert _touchpoints(desk) - before == threads * batches * size
    assert desk.integrity() == "ok"


def _touchpoints(desk) -> int:
    db = open_db(desk.database, migrate=False)
    try:
        return count_touchpoints(db)
    finally:
        db.conn.close()
