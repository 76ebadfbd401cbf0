"""Web fixtures: a small demo desk of its own per test (tests/helpers/demo_desk.py).

The desk is synced once per engine and session, then copied for each test (a file copy, or
a PostgreSQL database made from it as a template: ~35 ms): syncing it again per test cost
~0.5 s on SQLite and ~1.5 s on PostgreSQL, a round trip per customer and batch.
"""

from __future__ import annotations

import itertools

import pytest

from tests.helpers.config import database_line
from tests.helpers.demo_desk import Desk, copy_sqlite_file, desk_on_copy, make_desk

_COPIES = itertools.count(1)


@pytest.fixture
def desk(request, tmp_path, monkeypatch) -> Desk:
    engine = request.getfixturevalue("backend") if "backend" in request.fixturenames else None
    if engine == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        template = request.getfixturevalue("web_desk_on_postgres")
        name = f"web_desk_{next(_COPIES)}"
        copy = cluster.create_database(name, template=template)
        request.addfinalizer(lambda: cluster.drop_database(name))
        return desk_on_copy(tmp_path, monkeypatch, copy)
    template = request.getfixturevalue("web_desk_on_sqlite")
    copy_sqlite_file(template, tmp_path / "journeydesk.db")
    return desk_on_copy(tmp_path, monkeypatch, str(tmp_path / "journeydesk.db"))


@pytest.fixture(scope="session")
def web_desk_on_sqlite(tmp_path_factory) -> str:
    """The SQLite file of the synced desk the web tests copy."""
    folder = tmp_path_factory.mktemp("web-desk-sqlite")
    return make_desk(folder, database=database_line(str(folder / "journeydesk.db"))).database


@pytest.fixture(scope="session")
def web_desk_on_postgres(tmp_path_factory, postgres_cluster, postgres_template) -> str:
    """The name of the PostgreSQL database of the synced desk the web tests copy (nobody
    stays connected to it: PostgreSQL copies only an idle database)."""
    name = "web_desk_template"
    url = postgres_cluster.create_database(name, template=postgres_template)
    make_desk(tmp_path_factory.mktemp("web-desk-postgres"), database=database_line(url))
    return name
