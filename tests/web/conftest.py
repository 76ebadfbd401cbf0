"""Web fixtures: a small demo desk of its own per test (tests/helpers/demo_desk.py)."""

from __future__ import annotations

import pytest

from tests.helpers.demo_desk import Desk, desk_of_its_own


@pytest.fixture
def desk(tmp_path, monkeypatch) -> Desk:
    return desk_of_its_own(tmp_path, monkeypatch)
