"""Shared fixtures: a seeded demo database, apps and live servers (helpers: tests/helpers/).

Everything runs on real parts: SQLite files under tmp_path, a throwaway PostgreSQL cluster
(tests/helpers/postgres.py), a real HTTP server on 127.0.0.1 for browser tests, Debian's
Chromium driven by Playwright.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from plugin import clock
from plugin.app import create_app
from plugin.config import load_config
from tests.helpers import config as config_helpers
from tests.helpers import copies
from tests.helpers.config import ANCHOR, SECRET, database_line, write_config

os.environ[clock.ENV_VAR] = ANCHOR.isoformat()
clock.set_now(ANCHOR)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch):
    monkeypatch.setenv("JOURNEYDESK_SECRET", SECRET)


@pytest.fixture(scope="module")
def server():
    """A local HTTP server for a fake desk, shared by a test module.

    Threaded: a call left running against a slow or timed-out desk must not block the next.
    """
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seeded_demo(request, tmp_path_factory):
    """A config + database holding the demo desk of DEMO_CUSTOMERS customers (seeded once
    per engine). SQLite unless the test runs on both engines (it asks for `backend`: see
    `pytest_generate_tests`); on PostgreSQL, the tests share a copy of the seeded database,
    which stays untouched as the template of private copies (tests/helpers/copies.py)."""
    from plugin.background.jobs import run_recompute
    from plugin.intake.connector_factory import make_connector
    from plugin.intake.sync import run_sync
    from plugin.store import open_db

    engine = getattr(request, "param", "sqlite")
    folder = tmp_path_factory.mktemp(f"demo-{engine}")
    database = None
    if engine == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        seeded = "demo_seeded"
        url = cluster.create_database(seeded, template=request.getfixturevalue("postgres_template"))
        database = database_line(url)
    os.environ["JOURNEYDESK_SECRET"] = SECRET
    config = load_config(write_config(folder, database=database))
    with clock.moved_to(ANCHOR, frozen=True):
        connector = make_connector(config, config.connector("demo"))
        db = open_db(config.database_path)
        run_sync(db, connector)
        db.conn.close()
        run_recompute(config, full=True)
    if engine == "postgres":
        shared = cluster.create_database("demo", template=seeded)
        copies.remember_template(shared, cluster, seeded)
        config = dataclasses.replace(config, database_path=shared)
    return config


@pytest.fixture(autouse=True)
def _demo_time(request):
    """Tests of the seeded demo read it at the moment it was seeded, to the second: a
    journey computed later must not differ because a customer crossed a day boundary
    (a purchase 45 days ago becoming 46) while the suite ran."""
    if "seeded_demo" not in request.fixturenames:
        yield
        return
    with clock.moved_to(ANCHOR, frozen=True):
        yield


@pytest.fixture
def app(seeded_demo):
    return create_app(seeded_demo)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_demo(seeded_demo):
    """The demo app served on 127.0.0.1 (open demo mode) for the browser tests."""
    import dataclasses

    app = create_app(dataclasses.replace(seeded_demo, demo_mode=True))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's hook: launch Debian's Chromium, never a downloaded browser."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        print(
            "\n*** NO CHROMIUM INSTALLED: browser tests are SKIPPED (apt-get install chromium) ***"
        )
        pytest.skip("no Chromium installed: browser tests skipped")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


ENGINES = ("sqlite", "postgres")
ENGINE_LEADERS = ("seeded_demo", "module_store")
"""Fixtures wider than a test that carry the engine as their parameter (`backend` then
follows them), in the order one is chosen when a test reads both."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "xfail_postgres(reason): the test's PostgreSQL run is expected to fail (strict), "
        "for the reason given (a store module not ported yet)",
    )


def pytest_generate_tests(metafunc):
    """A test asking for `backend` runs once per engine. One that also reads the seeded
    demo gets it on the same engine: the parameter is then the demo's (session-scoped,
    so each engine's demo is seeded once and pytest groups the tests by engine) and
    `backend` follows it. A test whose `backend` is parametrized already (SQLite-only
    tests) is left alone. So is one reading `module_store` (a store a test module shares):
    it runs once per engine, and `backend` follows it."""
    names = metafunc.fixturenames
    if not {"backend", "module_store"} & set(names) or _parametrized(metafunc, "backend"):
        return
    for leader in ENGINE_LEADERS:
        if leader in names and not _parametrized(metafunc, leader):
            metafunc.parametrize(leader, ENGINES, indirect=True)
            return
    metafunc.parametrize("backend", ENGINES, indirect=True)


def pytest_collection_modifyitems(items):
    """`xfail_postgres` (on a test, a module or one parameter) makes the PostgreSQL run of
    those tests a strict xfail: it must fail, and passing is reported."""
    for item in items:
        expected_failure = item.get_closest_marker("xfail_postgres")
        if expected_failure and _engine_of(item) == "postgres":
            reason = expected_failure.args[0]
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


def pytest_sessionfinish(session) -> None:
    """On a test worker (pytest-xdist), hand what axe-core saw to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None and "tests.browser.accessibility" in sys.modules:
        from tests.browser import accessibility

        output["axe_checked"] = list(accessibility.checked)
        output["axe_seconds"] = accessibility.seconds


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist's controller: add up what each worker's axe-core saw."""
    output = getattr(node, "workeroutput", {})
    if output.get("axe_checked"):
        from tests.browser import accessibility

        accessibility.checked.extend(output["axe_checked"])
        accessibility.seconds += output["axe_seconds"]


def pytest_terminal_summary(terminalreporter, config) -> None:
    """How much of the suite axe-core saw (tests/browser/; JD_AXE_LIST=1 lists each state),
    on a serial run or, summed over the workers, on a pytest-xdist one."""
    if hasattr(config, "workerinput") or "tests.browser.accessibility" not in sys.modules:
        return
    from tests.browser import accessibility

    states = accessibility.checked
    if not states:
        return
    terminalreporter.write_line(
        f"axe-core checked {len(states)} page states in {accessibility.seconds:.1f} s"
    )
    if os.environ.get("JD_AXE_LIST"):
        for state in states:
            terminalreporter.write_line(f"  {state}")


def _engine_of(item) -> str | None:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return params.get("backend") or next(filter(None, map(params.get, ENGINE_LEADERS)), None)


def _parametrized(metafunc, name: str) -> bool:
    """Whether a parametrize mark of the test names `name` already."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs["argnames"]
        if isinstance(names, str):
            names = [each.strip() for each in names.split(",")]
        if name in names:
            return True
    return False


@pytest.fixture
def backend(request, monkeypatch) -> str:
    """Runs a test once per store engine: every config the test writes
    (tests/helpers/config.write_config) points at an SQLite file beside it, or at a fresh
    PostgreSQL database of the session's throwaway cluster. A test folder opts in with an
    autouse fixture asking for `backend` (tests/store/conftest.py)."""
    engine = getattr(request, "param", None) or _engine_of(request.node)
    if engine == "postgres":
        monkeypatch.setattr(config_helpers, "DATABASE", _DatabaseOnFirstUse(request))
    return engine


class _DatabaseOnFirstUse:
    """The [database] line naming the test's fresh PostgreSQL database (`postgres_url`),
    made when a config first names it: making and dropping one costs ~0.3 s (PostgreSQL
    checkpoints), which a test reading only the seeded demo need not pay."""

    def __init__(self, request) -> None:
        self.request = request

    def __str__(self) -> str:
        return f'url = "{self.request.getfixturevalue("postgres_url")}"'


@pytest.fixture
def store_location(request, backend, tmp_path) -> str:
    """Where the test's store lives on the engine under test: a file path or a URL (the
    database the test's configs name)."""
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "journeydesk.db")


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL cluster for the whole session (tests/helpers/postgres.py).

    Without PostgreSQL's binaries the tests that need it fail in CI and are skipped,
    loudly, elsewhere.
    """
    from tests.helpers.postgres import cluster_or_skip

    cluster = cluster_or_skip()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster) -> str:
    """The name of a database holding the journeydesk schema, made once, copied per test."""
    import psycopg

    from plugin.store.backends.postgres_schema import apply_pending

    name = "journeydesk_template"
    with psycopg.connect(postgres_cluster.create_database(name), autocommit=True) as conn:
        apply_pending(conn)
    return name


_POSTGRES_DATABASES = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_cluster, postgres_template):
    """The URL of a fresh database of its own for this test, the schema already applied
    (a copy of the template: ~30 ms); dropped after the test, with any session left on it."""
    name = f"test_{next(_POSTGRES_DATABASES)}"
    url = postgres_cluster.create_database(name, template=postgres_template)
    yield url
    postgres_cluster.drop_database(name)


_MODULE_DATABASES = itertools.count(1)


@pytest.fixture(scope="module")
def module_store(request, tmp_path_factory) -> str:
    """A store a test module shares (a history generated once for many tests), made once
    per engine: an SQLite file, or a fresh PostgreSQL database with the schema applied,
    dropped after the module. Its parameter is the engine (`pytest_generate_tests`)."""
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        name = f"module_{next(_MODULE_DATABASES)}"
        url = cluster.create_database(name, template=request.getfixturevalue("postgres_template"))
        request.addfinalizer(lambda: cluster.drop_database(name))
        return url
    return str(tmp_path_factory.mktemp("module-store") / "journeydesk.db")


@pytest.fixture
def store_named(request, backend, tmp_path):
    """More stores of the test's own on the engine under test: `store_named("clean")` is
    an SQLite file of that name, or another fresh PostgreSQL database."""

    made: dict[str, str] = {}

    def location(name: str) -> str:
        if backend == "sqlite":
            return str(tmp_path / f"{name}.db")
        if name in made:
            return made[name]
        cluster = request.getfixturevalue("postgres_cluster")
        database = f"{request.getfixturevalue('postgres_url').rsplit('/', 1)[1]}_{name}"
        url = cluster.create_database(
            database, template=request.getfixturevalue("postgres_template")
        )
        request.addfinalizer(lambda: cluster.drop_database(database))
        made[name] = url
        return url

    return location


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
