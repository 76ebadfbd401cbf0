"""`journeydesk serve` and `journeydesk demo` as real subprocesses on a free port of
127.0.0.1, their output in a file the test reads afterwards."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.helpers import config as config_helpers
from tests.helpers.config import SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_serve_config(folder: Path, port: int) -> Path:
    """A production-style config (not the built-in demo): a demo desk as its connector."""
    path = folder / "config.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [server]
            host = "127.0.0.1"
            port = {port}
            public_url = "http://127.0.0.1:{port}"
            [database]
            {config_helpers.DATABASE}
            [[connectors]]
            name = "demo"
            type = "demo"
            customers = 40
            """
        ),
        encoding="utf-8",
    )
    return path


@dataclass
class Running:
    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def worker_pids(self) -> list[int]:
        """The workers gunicorn booted so far, from its own log."""
        return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.log())]


@contextmanager
def running(args: list[str], folder: Path, port: int) -> Iterator[Running]:
    """Start `python -m plugin ARGS`, wait until /healthz answers, stop it with SIGINT."""
    log_path = folder / "server.log"
    env = {**os.environ, "JOURNEYDESK_SECRET": SECRET}
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin", *args],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Running(process, port, log_path)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: Running, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{server.log()}")
        try:
            requests.get(server.url + "/healthz", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"the server did not start:\n{server.log()}")
