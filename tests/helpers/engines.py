"""Marks for tests that run on both store engines (tests/conftest.py `backend`)."""

from __future__ import annotations

import pytest

BOTH = pytest.mark.usefixtures("backend")
"""Run the test once per engine: `pytestmark = BOTH` in a module, or `@BOTH` on a test."""


class pending_on_postgres(list):  # noqa: N801 (used as a mark)
    """Both engines, expecting a failure on PostgreSQL until the store modules named (not
    this area's) are ported; strict, so a port shows up as XPASS. A decorator of a test,
    or a module's `pytestmark`."""

    def __init__(self, modules: str) -> None:
        postgres = pytest.param(
            "postgres",
            marks=pytest.mark.xfail(strict=True, reason=f"postgres: {modules} not ported yet"),
        )
        super().__init__(
            [BOTH, pytest.mark.parametrize("backend", ["sqlite", postgres], indirect=True)]
        )

    def __call__(self, test):
        for mark in self:
            test = mark(test)
        return test
