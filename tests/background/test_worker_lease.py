"""One active worker (DESIGN §9): a lease in the store lets one `journeydesk worker` run the
scheduled jobs while a second one stands by, and takes over when the first is gone."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from plugin.app import create_app
from plugin.background.jobs import scheduled_sync
from plugin.background.worker_lease import LEASE_NAME, WorkerLease, lease_for
from plugin.clock import now_epoch
from plugin.config import load_config
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.leases import acquire_lease, lease_holder, release_lease
from plugin.store.sync_state import last_runs
from tests.helpers.cli import ROOT
from tests.helpers.config import SECRET, write_config


def test_a_lease_has_one_holder_until_released_or_expired(tmp_path):
    db = open_db(tmp_path / "jd.db")
    now = now_epoch()
    assert acquire_lease(db, "worker", "a", 90, now=now)
    assert not acquire_lease(db, "worker", "b", 90, now=now + 10)
    assert acquire_lease(db, "worker", "a", 90, now=now + 10)  # renewal
    assert lease_holder(db, "worker", now=now + 10)["holder"] == "a"
    assert not acquire_lease(db, "worker", "b", 90, now=now + 99)  # renewed until now + 100
    assert acquire_lease(db, "worker", "b", 90, now=now + 100)  # expired: b takes over
    release_lease(db, "worker", "a")  # only the holder can release
    assert lease_holder(db, "worker", now=now + 100)["holder"] == "b"
    release_lease(db, "worker", "b")
    assert lease_holder(db, "worker") is None
    db.conn.close()


def test_a_standby_worker_takes_over_when_the_holder_is_gone(tmp_path):
    path = str(tmp_path / "jd.db")
    open_db(path).conn.close()
    first, second = WorkerLease(path, holder="first"), WorkerLease(path, holder="second")
    try:
        assert first.held() and not second.held()
        first.release()
        assert second.held() and not first.held()
    finally:
        first.release()
        second.release()


def test_the_scheduled_sync_runs_only_in_the_lease_holder(tmp_path):
    config = load_config(write_config(tmp_path, customers=20))
    db = open_db(config.database_path)
    try:
        assert acquire_lease(db, LEASE_NAME, "another-host:4242", 90)
        scheduled_sync(config, "demo")
        assert last_runs(db) == []  # stood by

        release_lease(db, LEASE_NAME, "another-host:4242")
        scheduled_sync(config, "demo")
        assert [run["status"] for run in last_runs(db)] == ["ok"]
        assert lease_holder(db, LEASE_NAME)["holder"] == lease_for(config).holder
    finally:
        lease_for(config).release()
        db.conn.close()


def test_two_worker_processes_run_the_first_sync_once(tmp_path):
    path = write_config(tmp_path, customers=20)
    env = {**os.environ, "JOURNEYDESK_SECRET": SECRET}
    command = [sys.executable, "-m", "plugin", "worker", "--config", str(path)]
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = []
    for log in logs:
        with log.open("w") as out:
            workers.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    try:
        config = load_config(path)
        deadline = time.monotonic() + 30
        while not any(run["status"] == "ok" for run in runs(config)):
            assert time.monotonic() < deadline, "no worker ran the first sync"
            time.sleep(0.05)
        time.sleep(1.0)  # both schedulers have fired their first sync by now
        output = "\n".join(f"--- {log.name}:\n{log.read_text()}" for log in logs)
        assert len(all_runs(config)) == 1, output
        monitor = {
            "Authorization": f"Bearer {mint_agent_token(SECRET, source='demo', ticket_id=None)}"
        }
        health = create_app(config).test_client().get("/healthz", headers=monitor).get_json()
        holder_pid = int(health["worker"]["holder"].split(":")[1])
        assert holder_pid in {worker.pid for worker in workers}
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=10)


def runs(config) -> list[dict]:
    db = open_db(config.database_path, migrate=False)
    try:
        return last_runs(db)
    except sqlite3.OperationalError:  # no worker has created the tables yet
        return []
    finally:
        db.conn.close()


def all_runs(config) -> list[tuple]:
    db = open_db(config.database_path, migrate=False)
    try:
        return db.execute("SELECT source, status FROM sync_runs").fetchall()
    finally:
        db.conn.close()
