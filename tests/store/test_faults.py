"""A full disk or a read-only database: one clear sentence, a 503, and no corruption.

How the faults are made, without root-only mounts (these tests run as root in CI, and
root ignores file permissions):
- full disk: the process under test runs with RLIMIT_FSIZE (and SIGXFSZ ignored), so any
  file it grows past the limit fails with EFBIG, as writes fail on a full disk (SQLite
  reports it as a disk I/O error rather than ENOSPC's "database or disk is full");
- read-only: the database header's write version (byte 18) is set to 3, which makes
  SQLite open the file for reading only (https://www.sqlite.org/fileformat2.html §1.3.3);
  every write then fails with SQLITE_READONLY, as for a read-only file.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from plugin.app import create_app
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.touchpoints import count_touchpoints
from plugin.web.errors import RETRY_AFTER_SECONDS
from tests.helpers.cli import ROOT, journeydesk
from tests.helpers.config import write_config
from tests.helpers.demo_desk import ENV, INGEST_KEY, KEYS, Desk, make_desk, serve

# SQLite files only: a full disk, a read-only file (PostgreSQL away: its own tests)
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

WAL_LIMIT = 64 * 1024  # bytes any file may grow to: the WAL fills up, the database cannot grow


def test_sync_on_a_full_disk_says_so_and_resumes_intact(tmp_path):
    reference = _counts(_synced_copy(tmp_path / "reference"))
    config = write_config(tmp_path, KEYS, customers=60)
    database = tmp_path / "journeydesk.db"
    open_db(database).conn.close()  # the schema, then a first sync that needs room

    full = _cli(["sync", "--config", str(config)], limit=WAL_LIMIT)

    assert full.returncode == 1
    assert "Traceback" not in full.stderr
    last = full.stderr.strip().splitlines()[-1]
    # A full disk is "database or disk is full"; a file size limit (EFBIG) reads as an
    # I/O error. Either way: one sentence about the disk.
    assert last.startswith("Error: The database cannot be used: the disk"), last
    assert "free space" in last or "free some space" in last
    assert _integrity(database) == "ok"

    again = _cli(["sync", "--config", str(config)])  # room again: it resumes and completes
    assert again.returncode == 0, again.stderr
    assert _counts(database) == reference
    assert _integrity(database) == "ok"


def test_sync_on_a_read_only_database_says_so_and_changes_nothing(tmp_path):
    database = _synced_copy(tmp_path)
    before = _counts(database)
    _set_read_only(database, True)

    result = _cli(["sync", "--config", str(tmp_path / "config.toml"), "--full"])

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: The database cannot be used: the database is read-only"), last
    _set_read_only(database, False)
    assert _counts(database) == before
    assert _integrity(database) == "ok"


def test_the_web_app_on_a_read_only_database_reads_and_answers_503_to_writes(tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    database = _synced_copy(tmp_path)
    desk = Desk(_config(tmp_path), tmp_path)
    ticket = desk.tickets(1)[0]
    before = _counts(database)
    _set_read_only(database, True)
    client = create_app(desk.config).test_client()

    token = mint_agent_token(desk.config.secret, source="demo", ticket_id=ticket)
    read = client.get(
        f"/api/v1/tickets/demo/{ticket}/journey", headers={"Authorization": f"Bearer {token}"}
    )
    write = client.post(
        "/api/v1/events", json={"events": [_event("ro-1")]}, headers=_ingest_headers()
    )

    assert read.status_code == 200, read.get_json()
    assert write.status_code == 503
    assert write.get_json()["error"]["code"] == "database_unavailable"
    assert "read-only" in write.get_json()["error"]["message"]
    assert write.headers["Retry-After"]
    _set_read_only(database, False)
    assert _counts(database) == before
    assert _integrity(database) == "ok"


def test_the_web_app_on_a_full_disk_answers_503_and_keeps_serving_reads(tmp_path):
    database = _synced_copy(tmp_path)
    desk = Desk(_config(tmp_path), tmp_path)
    ticket = desk.tickets(1)[0]
    before = _counts(database)
    token = mint_agent_token(desk.config.secret, source="demo", ticket_id=ticket)
    big = [_event(f"full-{n}", title="x" * 400) for n in range(1000)]

    with _server(tmp_path / "config.toml", limit=WAL_LIMIT) as base:
        write = requests.post(
            f"{base}/api/v1/events", json={"events": big}, headers=_ingest_headers(), timeout=30
        )
        read = requests.get(
            f"{base}/api/v1/tickets/demo/{ticket}/journey",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    assert write.status_code == 503, write.text
    assert write.json()["error"]["code"] == "database_unavailable"
    assert "the disk" in write.json()["error"]["message"]
    assert read.status_code == 200
    assert _counts(database) == before
    assert _integrity(database) == "ok"


def test_a_database_gone_away_is_a_503_with_retry_after_on_healthz_and_the_api(
    tmp_path, monkeypatch
):
    """The database's volume unmounted (the folder gone): /healthz and the API answer 503
    asking to come back later, and answer again once it is back, as on PostgreSQL
    (tests/serving/test_database_failover.py)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    volume = tmp_path / "volume"
    volume.mkdir()
    desk = make_desk(volume)
    ticket = desk.tickets(1)[0]
    token = mint_agent_token(desk.config.secret, source="demo", ticket_id=ticket)
    journey = f"/api/v1/tickets/demo/{ticket}/journey"
    with serve(desk.config) as base:
        volume.rename(tmp_path / "unmounted")  # before any request pools a connection
        health = requests.get(f"{base}/healthz", timeout=30)
        read = requests.get(
            base + journey, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        (tmp_path / "unmounted").rename(volume)
        back = requests.get(f"{base}/healthz", timeout=30)

    assert health.status_code == 503 and health.json()["database"] == "unavailable"
    assert health.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert read.status_code == 503 and read.json()["error"]["code"] == "database_unavailable"
    assert read.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert back.status_code == 200 and "Retry-After" not in back.headers


# -- helpers ------------------------------------------------------------------------------


def _config(folder: Path):
    from plugin.config import load_config

    return load_config(folder / "config.toml", env={**os.environ, **ENV})


def _synced_copy(folder: Path) -> Path:
    """A config and a database with the demo desk synced (no process keeps it open)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder, KEYS, customers=60)
    result = _cli(["sync", "--config", str(folder / "config.toml")])
    assert result.returncode == 0, result.stderr
    return folder / "journeydesk.db"


def _cli(args: list[str], *, limit: int | None = None) -> subprocess.CompletedProcess:
    return journeydesk(
        *args,
        env={**os.environ, **ENV},
        preexec_fn=_file_size_limit(limit) if limit else None,
    )


def _file_size_limit(limit: int):
    def apply() -> None:  # runs in the child between fork and exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return apply


class _server:
    """The app served by werkzeug in a child process (with the file size limit)."""

    def __init__(self, config: Path, *, limit: int) -> None:
        self.config, self.limit = config, limit

    def __enter__(self) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        code = textwrap.dedent(
            f"""
            from werkzeug.serving import run_simple
            from plugin.app import create_app
            from plugin.config import load_config
            run_simple("127.0.0.1", {port}, create_app(load_config({str(self.config)!r})),
                       threaded=True)
            """
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, **ENV},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_file_size_limit(self.limit),
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/healthz", timeout=2)
                return base
            except requests.ConnectionError:
                assert self.process.poll() is None, "the server did not start"
                time.sleep(0.1)
        raise AssertionError("the server did not answer")

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _set_read_only(database: Path, read_only: bool) -> None:
    """Byte 18 of the header, the file format write version: 3 = read-only for SQLite."""
    with open(database, "r+b") as handle:
        handle.seek(18)
        handle.write(bytes([3 if read_only else 2]))


def _counts(database: Path) -> dict[str, int]:
    db = open_db(database, migrate=False)
    try:
        return {
            "customers": db.execute("SELECT count(*) FROM customers").fetchone()[0],
            "tickets": db.execute("SELECT count(*) FROM tickets").fetchone()[0],
            "touchpoints": count_touchpoints(db),
            "journeys": db.execute("SELECT count(*) FROM customer_journeys").fetchone()[0],
        }
    finally:
        db.conn.close()


def _integrity(database: Path) -> str:
    db = open_db(database, migrate=False)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.conn.close()


def _event(event_id: str, *, title: str = "Export to CSV") -> dict:
    return {
        "id": event_id,
        "type": "article_view",
        "occurred_at": "2026-11-20T10:00:00Z",
        "customer": {"email": f"{event_id}@example.com"},
        "article": {"id": "360000100", "locale": "en-us", "title": title},
    }


def _ingest_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {INGEST_KEY}", "Content-Type": "application/json"}
