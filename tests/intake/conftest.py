"""Sync, ingest, import and fetch tests run on each store engine."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _on_each_engine(backend) -> None:
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py `backend`)."""
