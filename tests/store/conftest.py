"""Store fixtures: small demo desks of their own per test (tests/helpers/demo_desk.py)."""

from __future__ import annotations

import pytest

from tests.helpers.demo_desk import SECOND_DESK, Desk, desk_of_its_own


@pytest.fixture(autouse=True)
def _on_each_engine(backend) -> None:
    """Every store test runs on SQLite and on PostgreSQL (tests/conftest.py `backend`)."""


@pytest.fixture
def desk(tmp_path, monkeypatch) -> Desk:
    return desk_of_its_own(tmp_path, monkeypatch)


@pytest.fixture
def busy_desk(tmp_path, monkeypatch) -> Desk:
    """The demo desk plus a second, not yet synced one for a writer to pull during a test."""
    return desk_of_its_own(tmp_path, monkeypatch, extra=SECOND_DESK)
