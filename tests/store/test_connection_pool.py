"""The store's connection pool: connections are reused, and never cross a fork."""

from __future__ import annotations

import os

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
