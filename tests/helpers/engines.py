"""Marks for tests that run on both store engines (the `backend` fixture, tests/conftest.py)."""

from __future__ import annotations

import pytest


def sqlite_only(reason: str) -> pytest.MarkDecorator:
    """Run the test on SQLite alone: it is about SQLite itself (`reason` says how)."""
    assert reason
    return pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def pending_on_postgres(module: str) -> pytest.MarkDecorator:
    """Both engines, the PostgreSQL run expected to fail (strictly) until the store module
    `module`, which the test needs, is ported."""
    postgres = pytest.param(
        "postgres",
        marks=pytest.mark.xfail(strict=True, reason=f"postgres: {module} not ported yet"),
    )
    return pytest.mark.parametrize("backend", ["sqlite", postgres], indirect=True)


BOTH = pytest.mark.usefixtures("backend")
"""Run the test once per engine, in a folder that does not opt in as a whole:
`pytestmark = BOTH` in a module, or `@BOTH` on a test (with `pending_on_postgres` beside it
when its PostgreSQL run is expected to fail)."""
