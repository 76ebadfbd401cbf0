"""PostgreSQL away and back, as in a restart or a failover: the API answers 503 with
Retry-After (never 500, never a hang), /healthz says so, and everything recovers by
itself once the server answers again — pooled connections that died are dropped, the
worker's next run works, and no acknowledged event is lost or stored twice.

The tests stop and start a cluster of their own (tests/helpers/postgres.py): the session's
cluster serves every other test meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest
import requests
from psycopg import sql

from plugin.background import jobs
from plugin.background.jobs import run_source_sync
from plugin.background.worker_lease import lease_for
from plugin.config import load_config
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.web.errors import RETRY_AFTER_SECONDS
from tests.helpers import config as config_helpers
from tests.helpers.cli import journeydesk
from tests.helpers.config import ANCHOR, SECRET, write_config
from tests.helpers.demo_desk import INGEST_KEY, Desk, desk_of_its_own, serve
from tests.helpers.serve_process import free_port, running, write_serve_config

QUICK_SECONDS = 5
"""A request while the database is away answers within this (connection refused: at once)."""


@pytest.fixture(scope="module")
def own_cluster():
    """A PostgreSQL cluster these tests may stop, start and make read-only."""
    from tests.helpers.postgres import cluster_or_skip

    cluster = cluster_or_skip()
    yield cluster
    cluster.destroy()


@pytest.fixture
def cluster(own_cluster):
    """The test's cluster, running again after the test whatever it did."""
    yield own_cluster
    if not own_cluster.running:
        own_cluster.start()


@pytest.fixture
def desk(cluster, tmp_path, monkeypatch, request) -> Desk:
    """The demo desk (synced) with an ingest key, its store a fresh database of `cluster`."""
    name = f"failover_{request.node.name.split('[')[0][-40:]}".lower()
    cluster.drop_database(name)
    url = cluster.create_database(name)
    monkeypatch.setattr(config_helpers, "DATABASE", f'url = "{url}"')
    made = desk_of_its_own(tmp_path, monkeypatch)
    yield made
    lease_for(made.config).release()
    cluster.drop_database(name)


def journey_of(base: str, ticket_id: str) -> requests.Response:
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    return requests.get(
        f"{base}/api/v1/tickets/demo/{ticket_id}/journey",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def post_events(base: str, event_ids: list[str]) -> requests.Response:
    occurred = (ANCHOR - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    events = [
        {
            "id": event_id,
            "type": "article_view",
            "occurred_at": occurred,
            "customer": {"email": f"reader-{event_id}@example.com"},
            "article": {"id": "101"},
        }
        for event_id in event_ids
    ]
    return requests.post(
        f"{base}/api/v1/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {INGEST_KEY}"},
        timeout=30,
    )


def assert_unavailable(response: requests.Response, *, says: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    error = response.json()["error"]
    assert error["code"] == "database_unavailable"
    assert says in error["message"]


def as_superuser(cluster, statement: sql.Composable) -> None:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(statement)


def end_sessions(cluster, database: str) -> None:
    """End every session on `database`, as a failover does to the old primary's clients."""
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        # pg_terminate_backend only signals: wait until the sessions are gone (their
        # sockets closed), as they are by the time a failover is over.
        wait_for(
            lambda: (
                conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]
                ).fetchone()[0]
                == 0
            )
        )


@pytest.mark.parametrize("mode", ["fast", "immediate"])  # a clean stop; a crash
def test_the_api_answers_503_while_the_database_is_away_and_recovers_by_itself(desk, cluster, mode):
    tickets = desk.tickets(8)
    with serve(desk.config) as base:
        # Eight at once: the pool then keeps several connections, all killed by the stop.
        with ThreadPoolExecutor(8) as pool:
            assert {r.status_code for r in pool.map(lambda t: journey_of(base, t), tickets)} == {
                200
            }
        assert requests.get(f"{base}/healthz", timeout=30).status_code == 200

        cluster.stop(mode=mode)
        for ticket_id in tickets[:3]:
            started = time.monotonic()
            response = journey_of(base, ticket_id)
            assert time.monotonic() - started < QUICK_SECONDS
            assert_unavailable(response, says="PostgreSQL server cannot be reached")
        health = requests.get(f"{base}/healthz", timeout=30)
        assert health.status_code == 503 and health.json()["database"] == "unavailable"
        assert health.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)

        cluster.start()
        # Not one request fails once it answers: no dead pooled connection is reused.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda t: journey_of(base, t), tickets * 2))
        assert [r.status_code for r in answers] == [200] * len(answers)
        assert requests.get(f"{base}/healthz", timeout=30).json()["database"] == "ok"


def test_journeydesk_serve_recovers_by_itself_after_the_database_restarts(
    cluster, tmp_path, monkeypatch
):
    """The same through `journeydesk serve` (gunicorn, gevent workers): 503 JSON with
    Retry-After while the server is away, 200 after, the processes never restarted."""
    cluster.drop_database("failover_serve")
    monkeypatch.setattr(
        config_helpers, "DATABASE", f'url = "{cluster.create_database("failover_serve")}"'
    )
    port = free_port()
    config_path = write_serve_config(tmp_path, port)
    run_source_sync(load_config(str(config_path)), "demo")
    ticket_ids = Desk(load_config(str(config_path)), tmp_path).tickets(6)
    args = ["serve", "--config", str(config_path), "--workers", "2"]
    with running(args, tmp_path, port) as server:
        for ticket_id in ticket_ids:
            assert journey_of(server.url, ticket_id).status_code == 200
        cluster.stop()
        started = time.monotonic()
        assert_unavailable(journey_of(server.url, ticket_ids[0]), says="cannot be reached")
        assert time.monotonic() - started < QUICK_SECONDS
        cluster.start()
        statuses = [journey_of(server.url, t).status_code for t in ticket_ids * 3]
        assert statuses == [200] * len(statuses)
        pids = server.worker_pids()
    assert len(pids) == 2, "a web worker was restarted"
    assert "Traceback" not in server.log()
    cluster.drop_database("failover_serve")


def test_a_read_only_database_refuses_writes_with_503_and_serves_reads(desk, cluster):
    """A standby (or `default_transaction_read_only`) reads but takes no writes: the
    sidebar keeps working, events are refused with 503 until the primary is back."""
    database = desk.database.rsplit("/", 1)[1]
    ticket_id = desk.tickets(1)[0]
    with serve(desk.config) as base:
        assert post_events(base, ["before"]).status_code == 200

        as_superuser(
            cluster,
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
                sql.Identifier(database)
            ),
        )
        end_sessions(cluster, database)  # the app's connections move to the "standby"
        assert journey_of(base, ticket_id).status_code == 200
        assert_unavailable(post_events(base, ["during"]), says="takes no writes")
        health = requests.get(f"{base}/healthz", timeout=30)
        assert health.status_code == 503 and health.json()["database"] == "read-only"
        assert health.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)

        as_superuser(
            cluster,
            sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(
                sql.Identifier(database)
            ),
        )
        end_sessions(cluster, database)  # promoted: writes are taken again
        assert post_events(base, ["during"]).json()["accepted"] == 1
        assert requests.get(f"{base}/healthz", timeout=30).status_code == 200


def test_a_worker_job_meeting_the_database_away_logs_one_line_and_the_next_run_works(
    desk, cluster, caplog
):
    with serve(desk.config) as base:
        assert post_events(base, ["waiting-1", "waiting-2"]).json()["accepted"] == 2
    assert inbox_size(desk) == 2

    cluster.stop()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="journeydesk"):
        jobs.scheduled_merge(desk.config)
    said = [r for r in caplog.records if r.name.startswith("journeydesk")]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert "PostgreSQL server cannot be reached" in said[0].getMessage()

    cluster.start()
    jobs.scheduled_merge(desk.config)
    assert inbox_size(desk) == 0
    assert stored_event_counts(desk) == {"waiting-1": 1, "waiting-2": 1}


def test_acknowledged_events_survive_a_restart_under_load_exactly_once(desk, cluster):
    """Events posted in a loop while PostgreSQL stops and starts: each one acknowledged
    is stored once; each refused one got 503 and is stored once when sent again."""
    outcomes: dict[str, int] = {}
    stop = threading.Event()

    def client(name: str) -> None:
        batch = 0
        while not stop.is_set():
            batch += 1
            ids = [f"{name}-{batch}-{n}" for n in range(5)]
            status = post_events(base, ids).status_code
            outcomes.update(dict.fromkeys(ids, status))

    with serve(desk.config) as base:
        clients = [threading.Thread(target=client, args=(f"c{n}",)) for n in range(3)]
        for thread in clients:
            thread.start()
        try:
            wait_for(lambda: len(outcomes) >= 150)
            cluster.stop()
            time.sleep(1)
            cluster.start()
            acked_before = sum(1 for status in outcomes.values() if status == 200)
            wait_for(lambda: sum(s == 200 for s in outcomes.values()) >= acked_before + 150)
        finally:
            stop.set()
            for thread in clients:
                thread.join()

        assert set(outcomes.values()) == {200, 503}
        counts = stored_event_counts(desk)
        acked = [event_id for event_id, status in outcomes.items() if status == 200]
        assert all(counts.get(event_id) == 1 for event_id in acked)
        assert set(counts.values()) == {1}

        refused = [event_id for event_id, status in outcomes.items() if status == 503]
        for start in range(0, len(refused), 500):  # the client's retry
            assert post_events(base, refused[start : start + 500]).status_code == 200
    assert stored_event_counts(desk) == dict.fromkeys(outcomes, 1)


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def inbox_size(desk: Desk) -> int:
    db = open_db(desk.database, migrate=False)
    try:
        return db.execute("SELECT COUNT(*) FROM touchpoint_inbox").fetchone()[0]
    finally:
        db.conn.close()


def stored_event_counts(desk: Desk) -> dict[str, int]:
    """How many times each portal event is stored, in the history and the inbox together."""
    db = open_db(desk.database, migrate=False)
    try:
        rows = db.execute(
            "SELECT event_id, COUNT(*) FROM (SELECT event_id FROM touchpoints "
            "WHERE source = 'portal:portal' UNION ALL SELECT event_id FROM touchpoint_inbox "
            "WHERE source = 'portal:portal') AS stored GROUP BY event_id"
        ).fetchall()
        return dict(rows)
    finally:
        db.conn.close()


def test_a_multi_host_url_reaches_whichever_server_takes_writes(
    cluster, postgres_cluster, postgres_url, tmp_path
):
    """libpq's multi-host URL with target_session_attrs=read-write, as docs/deploy.md
    suggests: the config takes it, connections go to the server that takes writes, and
    after a failover (roles swapped) new connections follow by themselves."""
    name = postgres_url.rsplit("/", 1)[1]
    standby, primary = cluster, postgres_cluster
    standby.create_database(name)
    open_db(standby.url(name)).conn.close()  # the same schema on both
    url = (
        f"postgresql://postgres@127.0.0.1:{standby.port},127.0.0.1:{primary.port}/{name}"
        "?target_session_attrs=read-write"
    )
    try:
        set_read_only(standby, name, True)
        config = write_config(tmp_path, database=f'url = "{url}"')
        result = journeydesk("check-config", "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert f"reachable, 127.0.0.1:{primary.port}, PostgreSQL" in result.stdout
        assert "takes writes" in result.stdout
        assert served_by(url) == primary.port

        set_read_only(primary, name, True)  # the old primary demoted ...
        set_read_only(standby, name, False)  # ... and the standby promoted
        end_sessions(primary, name)
        assert served_by(url) == standby.port
    finally:
        set_read_only(primary, name, False)
        standby.drop_database(name)


def set_read_only(cluster, database: str, read_only: bool) -> None:
    setting = "SET default_transaction_read_only = on" if read_only else "RESET ALL"
    as_superuser(
        cluster,
        sql.SQL("ALTER DATABASE {} " + setting).format(sql.Identifier(database)),
    )


def served_by(url: str) -> int:
    """The port of the server a new store connection reached, after a write there."""
    db = open_db(url, migrate=False)
    try:
        with db.atomic():
            db.execute("DELETE FROM leases WHERE name = 'nobody'")
        return int(db.conn.raw.info.port)
    finally:
        db.conn.close()
