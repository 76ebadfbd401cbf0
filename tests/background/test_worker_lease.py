"""One active worker (DESIGN §9): a lease in the store lets one `journeydesk worker` run the
scheduled jobs while a second one stands by, and takes over when the first is gone — on
either engine (a PostgreSQL database shared by workers on several hosts)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from plugin.app import create_app
from plugin.background.jobs import scheduled_sync
from plugin.background.leased_queue import new_holder, pid_scope, take_lease
from plugin.background.worker_lease import LEASE_NAME, WorkerLease, lease_for
from plugin.clock import now_epoch
from plugin.config import load_config
from plugin.security import mint_agent_token
from plugin.store import DATABASE_ERRORS, open_db, open_store
from plugin.store.leases import acquire_lease, lease_holder, release_lease
from plugin.store.sync_state import last_runs
from tests.helpers.cli import ROOT
from tests.helpers.config import SECRET, write_config


def test_a_lease_has_one_holder_until_released_or_expired(store_location):
    db = open_db(store_location)
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


def test_a_standby_worker_takes_over_when_the_holder_is_gone(store_location):
    path = store_location
    open_db(path).conn.close()
    first, second = WorkerLease(path, holder="first"), WorkerLease(path, holder="second")
    try:
        assert first.held() and not second.held()
        first.release()
        assert second.held() and not first.held()
    finally:
        first.release()
        second.release()


def test_a_holder_elsewhere_is_never_taken_for_dead_by_its_pid(store_location):
    """Only a holder sharing this host, boot and pid namespace is looked up by its pid: on
    another host (or container) the same pid number is another process, or none."""
    dead_pid = _finished_pid()
    host, here = socket.gethostname(), pid_scope()
    elsewhere = [
        f"another-host:{dead_pid}:t:{here}",
        f"{host}:{dead_pid}:t:{'0' * 12}",  # this host name, another machine or container
        f"{host}:{dead_pid}:t",  # no scope: never judged by its pid
        f"{host}:{os.getpid()}:t:{here}",  # alive
    ]
    db = open_db(store_location)
    try:
        for holder in elsewhere:
            assert acquire_lease(db, "delivery", holder, 90)
            assert not take_lease(db, "delivery", new_holder(), 90), holder
            assert lease_holder(db, "delivery")["holder"] == holder
            release_lease(db, "delivery", holder)

        assert acquire_lease(db, "delivery", f"{host}:{dead_pid}:t:{here}", 90)
        mine = new_holder()
        assert take_lease(db, "delivery", mine, 90)  # it died right here: no wait
        assert lease_holder(db, "delivery")["holder"] == mine
    finally:
        db.conn.close()


def _finished_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


PID_SCOPE = "from plugin.background.leased_queue import pid_scope; print(pid_scope())"


def test_the_pid_scope_is_shared_by_processes_seeing_each_others_pids():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    beside = subprocess.run(
        [sys.executable, "-c", PID_SCOPE], capture_output=True, text=True, env=env, check=True
    )
    assert pid_scope() and beside.stdout.strip() == pid_scope()

    container = subprocess.run(  # a new pid namespace, as a container has
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", PID_SCOPE],
        capture_output=True,
        text=True,
        env=env,
    )
    if container.returncode != 0:
        pytest.skip(f"cannot make a pid namespace here: {container.stderr.strip()}")
    assert container.stdout.strip() not in ("", pid_scope())


LEADER = textwrap.dedent(
    """
    import sys, time
    from plugin.background.worker_lease import WorkerLease

    lease = WorkerLease(sys.argv[1], holder="leader-host:1:token:elsewhere", ttl=int(sys.argv[2]))
    assert lease.held()
    print("LEADING", flush=True)
    time.sleep(600)
    """
)


def test_a_standby_on_another_host_takes_over_within_the_ttl_of_a_killed_leader(store_location):
    """Two worker processes standing for two hosts: the leader keeps its lease past its TTL
    by renewing it; killed (-9), its lease expires and the standby takes over by itself."""
    ttl = 2
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER, store_location, str(ttl)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    standby = WorkerLease(store_location, ttl=ttl)
    try:
        assert leader.stdout.readline().strip() == "LEADING"
        deadline = time.monotonic() + ttl * 1.5
        while time.monotonic() < deadline:  # renewed: held past its first TTL
            assert not standby.held()
            time.sleep(0.2)

        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=10)
        killed = time.monotonic()
        while not standby.held():
            assert time.monotonic() - killed < ttl + 2, "the standby never took over"
            time.sleep(0.1)
        with open_store(store_location, migrate=False) as db:
            assert lease_holder(db, LEASE_NAME)["holder"] == standby.holder
    finally:
        standby.release()
        if leader.poll() is None:
            leader.kill()
            leader.wait(timeout=10)


@pytest.mark.usefixtures("backend")
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


@pytest.mark.usefixtures("backend")
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
    except DATABASE_ERRORS:  # no worker has created the tables yet
        return []
    finally:
        db.conn.close()


def all_runs(config) -> list[tuple]:
    db = open_db(config.database_path, migrate=False)
    try:
        return db.execute("SELECT source, status FROM sync_runs").fetchall()
    finally:
        db.conn.close()
