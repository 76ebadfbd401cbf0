"""A local server on 127.0.0.1 for a fake desk (threaded, so a slow answer does not
block the next)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pytest_httpserver import HTTPServer


@contextmanager
def serving() -> Iterator[HTTPServer]:
    """The server while the block runs; cleared and stopped after."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()
