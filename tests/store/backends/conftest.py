"""Tests of the engines themselves (the PostgreSQL schema, translation, the test cluster):
each says which engine it is about, so they are not run once per engine."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _on_each_engine() -> None:
    """Replaces tests/store/conftest.py's fixture of that name: no engine parameter here."""
