"""The command line, run as a newcomer would: real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from sqlite_utils import Database

from plugin.security import verify_agent_token
from plugin.store import open_db
from plugin.store.backends import postgres_schema
from plugin.store.migrations import migrations
from tests.helpers.cli import cli_env, journeydesk
from tests.helpers.config import SECRET, database_line, write_config


def test_every_command_has_help():
    for command in ("demo", "serve", "worker", "sync", "token", "check-config"):
        result = journeydesk(command, "--help")
        assert result.returncode == 0 and "--config" in result.stdout, command


def test_check_config_summarises(tmp_path):
    result = journeydesk("check-config", "--config", str(write_config(tmp_path)))
    assert result.returncode == 0
    assert "connector demo (demo)" in result.stdout and "awareness" in result.stdout


def test_missing_config_file_says_how_to_start(tmp_path):
    result = journeydesk("sync", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 1
    assert "config.example.toml" in result.stderr and "Traceback" not in result.stderr


def test_token_prints_a_verifiable_agent_token(tmp_path):
    result = journeydesk(
        "token",
        "--config",
        str(write_config(tmp_path)),
        "--source",
        "demo",
        "--ticket",
        "10001",
        "--ttl",
        "60",
    )
    assert result.returncode == 0
    claims = verify_agent_token(SECRET, result.stdout.strip())
    assert (claims.source, claims.ticket_id) == ("demo", "10001")


def test_token_with_a_ttl_that_is_not_positive_is_refused_in_one_sentence(tmp_path):
    config = str(write_config(tmp_path))
    for ttl in ("0", "-5"):
        result = journeydesk("token", "--config", config, "--source", "demo", "--ttl", ttl)
        assert result.returncode == 2 and "--ttl" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_sync_of_an_unknown_source_fails_clearly(tmp_path):
    result = journeydesk("sync", "--config", str(write_config(tmp_path)), "--source", "zendesk")
    assert result.returncode == 1 and "No connector named 'zendesk'" in result.stderr


@pytest.mark.usefixtures("backend")
def test_sync_pulls_the_demo_desk_and_reports(tmp_path):
    path = write_config(tmp_path, customers=30)
    result = journeydesk("sync", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "demo: synced (articles: 648, customers: 30" in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.usefixtures("backend")
def test_demo_serves_then_stops_cleanly_and_reuses_its_database(tmp_path):
    path = write_config(tmp_path, customers=40)
    port = free_port()
    env = {**os.environ, "JOURNEYDESK_SECRET": SECRET}
    for run in (1, 2):
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin", "demo", "--config", str(path), "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            health = wait_for(f"http://127.0.0.1:{port}/healthz", process)
            assert health["status"] == "ok"
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output
        assert "sample ticket sidebar" in output and "stopped" in output
        assert ("Reusing" in output) == (run == 2)
    # The demo counted its report figures before serving: Reports is full from the start.
    report = journeydesk("report", "touchpoints", "--config", str(path), "--format", "json")
    rows = json.loads(report.stdout)["rows"]
    views = next(row for row in rows if "view" in str(row.get("touchpoint", "")).lower())
    assert views["volume"] > 0, rows


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite's file is deleted
def test_demo_reset_on_postgresql_says_the_database_is_the_operators_to_drop(tmp_path):
    path = write_config(tmp_path, customers=5)
    result = journeydesk("demo", "--config", str(path), "--reset", "--port", str(free_port()))
    assert result.returncode == 1
    assert "is a PostgreSQL database: drop and create it again yourself" in result.stderr
    assert "Deleted" not in result.stdout and "Traceback" not in result.stderr


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> dict:
    """`url`'s JSON once the server answers; fails at once if `process` exited instead."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=2).json()
        except requests.ConnectionError:
            if process.poll() is not None:
                raise AssertionError(f"the server exited:\n{process.stdout.read()}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_check_config_names_the_store_and_whether_it_answers(tmp_path, backend, store_location):
    open_db(store_location).conn.close()  # the schema applied, as a first serve leaves it
    result = journeydesk("check-config", "--config", str(write_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    engine = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[backend]
    line = next(line for line in result.stdout.splitlines() if "database:" in line)
    assert f"database: {engine} {store_location}: reachable" in line
    every_migration = len(migrations.pending(Database(memory=True)))
    assert f"schema version {every_migration}" in line and "to apply" not in line
    if backend == "postgres":
        assert "PostgreSQL 1" in line and "takes writes" in line


def test_check_config_leaves_a_missing_sqlite_file_uncreated(tmp_path):
    result = journeydesk("check-config", "--config", str(write_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "(not created yet" in result.stdout
    assert not (tmp_path / "journeydesk.db").exists()


def test_check_config_lists_the_migrations_a_new_postgresql_database_awaits(
    tmp_path, postgres_cluster
):
    url = postgres_cluster.create_database("check_config_empty")
    try:
        config = write_config(tmp_path, database=database_line(url))
        result = journeydesk("check-config", "--config", str(config))
    finally:
        postgres_cluster.drop_database("check_config_empty")
    assert result.returncode == 0, result.stderr
    assert f"PostgreSQL {url}: reachable" in result.stdout
    names = ", ".join(migration.name for migration in postgres_schema.MIGRATIONS)
    assert (
        f"schema version 0, {len(postgres_schema.MIGRATIONS)} migration(s) to apply at start-up: "
        f"{names}" in result.stdout
    )


def test_check_config_says_when_postgresql_cannot_be_reached(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"postgresql://journeydesk@127.0.0.1:{sock.getsockname()[1]}/journeydesk"
    lines = f'url = "{url}"\npassword_env = "CHECK_DB_PASSWORD"'
    config = write_config(tmp_path, database=lines)
    env = cli_env({"CHECK_DB_PASSWORD": "hunter2-never-printed"})
    started = time.monotonic()
    result = journeydesk("check-config", "--config", str(config), env=env)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert f"database: PostgreSQL {url}: UNREACHABLE" in result.stdout
    assert "the database cannot be reached" in result.stderr
    assert "PostgreSQL server cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
