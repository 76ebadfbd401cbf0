"""The command line, run as a newcomer would: real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import requests

from plugin.security import verify_agent_token
from tests.helpers.cli import journeydesk
from tests.helpers.config import SECRET, write_config


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


def test_sync_pulls_the_demo_desk_and_reports(tmp_path):
    path = write_config(tmp_path, customers=30)
    result = journeydesk("sync", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "demo: synced (articles: 648, customers: 30" in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
            health = wait_for(f"http://127.0.0.1:{port}/healthz")
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


def wait_for(url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=2).json()
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
