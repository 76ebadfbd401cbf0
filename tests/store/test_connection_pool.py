"""The store's connection pool: connections are reused, never cross a fork, and are not
lent again once the server dropped them."""

from __future__ import annotations

import os
import resource
import time

import pytest

from plugin.store import borrow_db, open_db, return_db


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
