"""The store's connection pool: connections are reused, never cross a fork, are not
lent again once the server dropped them, and are closed at exit."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from plugin.store import borrow_db, open_db, return_db
from tests.helpers.cli import ROOT, cli_env
from tests.helpers.config import write_config
from tests.helpers.serve_process import free_port, write_serve_config


def test_a_returned_connection_is_lent_again(tmp_path, store_location):
    path = store_location
    open_db(path).conn.close()
    first = borrow_db(path)
    return_db(first, path)
    assert borrow_db(path) is first


def test_a_forked_child_opens_its_own_connection(tmp_path, store_location):
    path = store_location
    open_db(path).conn.close()
    parents = borrow_db(path)
    return_db(parents, path)  # now idle in the parent's pool
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: answer 1 if the pool lent it the parent's connection
        try:
            os.write(write, b"1" if borrow_db(path) is parents else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(child, 0)
    assert answer == b"0"
    assert borrow_db(path) is parents  # the parent's pool is untouched


def test_a_connection_numbered_past_select_s_limit_is_lent_again(store_location):
    """A gevent worker with a thousand clients holds descriptors past 1023, where select()
    gives up: a pooled connection there must still be taken for alive."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit on open files ({hard}) is below 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        open_db(store_location).conn.close()
        first = borrow_db(store_location)
        return_db(first, store_location)
        assert borrow_db(store_location) is first
        return_db(first, store_location)
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # a server's session
def test_a_pooled_connection_whose_session_the_server_ended_is_replaced(store_location):
    open_db(store_location).conn.close()
    first = borrow_db(store_location)
    (pid,) = first.execute("SELECT pg_backend_pid()").fetchone()
    return_db(first, store_location)
    other = open_db(store_location, migrate=False)
    try:  # what a restart, a failover or an admin's pg_terminate_backend does to it
        other.execute("SELECT pg_terminate_backend(?)", [pid]).fetchone()
    finally:
        other.conn.close()
    time.sleep(0.2)  # the server's goodbye reaches the socket

    replacement = borrow_db(store_location)
    assert replacement is not first
    assert replacement.execute("SELECT 1").fetchone() == (1,)
    return_db(replacement, store_location)


LEFT_OPEN_CHECK = """
import atexit, gc, sys
import psycopg

def no_connection_left_open():  # registered before the store's own: runs after it
    left = [c for c in gc.get_objects() if isinstance(c, psycopg.Connection) and not c.closed]
    if left:
        print(f"{len(left)} connection(s) left open at exit", file=sys.stderr)

atexit.register(no_connection_left_open)
"""
SERVING = textwrap.dedent(
    """
    from plugin.app import create_app
    from plugin.config import load_config
    from plugin.store import borrow_db, return_db

    config = load_config(sys.argv[1])
    client = create_app(config).test_client()
    assert [client.get("/healthz").status_code for _ in range(3)] == [200] * 3
    held = [borrow_db(config.database_path) for _ in range(3)]  # three requests at once
    for db in held:
        db.execute("SELECT 1").fetchone()
        return_db(db, config.database_path)
    """
)
FORKING = textwrap.dedent(
    """
    import os, sys
    from plugin.config import load_config
    from plugin.store import borrow_db, return_db

    location = load_config(sys.argv[1]).database_path
    parents = borrow_db(location)
    return_db(parents, location)  # idle in the parent's pool when it forks
    child = os.fork()
    if child == 0:  # a worker forked from its master, as gunicorn does
        mine = borrow_db(location)
        mine.execute("SELECT 1").fetchone()
        return_db(mine, location)
        sys.exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    again = borrow_db(location)
    assert again is parents and again.execute("SELECT 1").fetchone() == (1,)
    return_db(again, location)
    """
)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # psycopg's own warning
@pytest.mark.parametrize("script", [LEFT_OPEN_CHECK + SERVING, FORKING], ids=["serving", "fork"])
def test_a_process_using_a_postgresql_store_exits_with_its_connections_closed(tmp_path, script):
    """No connection deleted while open (psycopg's ResourceWarning), none left open at
    exit: the pool closes its own; a forked child leaves its parent's alone, unclosed."""
    config = write_config(tmp_path)
    env = {**cli_env(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", script, config],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr and "left open" not in done.stderr, done.stderr


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # psycopg's own warning
def test_serve_s_workers_close_their_connections_when_they_shut_down(tmp_path):
    """`journeydesk serve` (gunicorn, two workers) stopped with Ctrl-C: each worker's
    pooled connections are closed as it exits, none deleted while open."""
    port = free_port()
    config = write_serve_config(tmp_path, port)
    serve = f"from plugin.cli import main; main(['serve', '--config', {str(config)!r}])"
    server = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "dev",
            "-W",
            "error::ResourceWarning",
            "-c",
            LEFT_OPEN_CHECK + serve,
        ],
        cwd=ROOT,
        env={**cli_env(), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        answers = [healthz_when_up(server, port) for _ in range(6)]
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert answers == [200] * 6, output
    assert server.returncode == 0, output
    assert "Worker exiting" in output
    assert "ResourceWarning" not in output and "left open" not in output, output


def healthz_when_up(server: subprocess.Popen, port: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, "the server exited"
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
