"""`journeydesk serve` as an operator runs it: slow clients, secrets in the logs, a bad
database file. Real subprocesses on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import time
from contextlib import ExitStack

import pytest
import requests

from tests.helpers.cli import journeydesk
from tests.helpers.serve_process import free_port, running, write_serve_config

pytestmark = pytest.mark.usefixtures("backend")

HALF_A_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a"


def test_clients_that_never_finish_their_headers_do_not_stop_the_others(tmp_path):
    port = free_port()
    config = write_serve_config(tmp_path, port)
    with running(["serve", "--config", str(config), "--workers", "2"], tmp_path, port) as server:
        workers = server.worker_pids()
        with ExitStack() as stack:
            slow = [
                stack.enter_context(socket.create_connection(("127.0.0.1", port)))
                for _ in range(20)
            ]
            for conn in slow:
                conn.sendall(HALF_A_REQUEST)
            started = time.monotonic()
            answer = requests.get(server.url + "/healthz", timeout=10)
            elapsed = time.monotonic() - started
            assert answer.status_code == 200
            assert elapsed < 1.0, f"a normal request waited {elapsed:.1f} s behind slow clients"
            # The server hangs up on them (a header timeout) rather than waiting forever.
            assert all(_hung_up_on(conn) for conn in slow)
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
        for pid in workers:
            os.kill(pid, 0)  # raises if that worker is gone
        log = server.log()
    assert len(workers) == 2
    assert server.worker_pids() == workers, f"workers were restarted:\n{log}"
    assert "WORKER TIMEOUT" not in log


def _hung_up_on(conn: socket.socket) -> bool:
    """Whether the server ends the connection (an error answer may come first) within a
    generous minute."""
    conn.settimeout(60)
    try:
        while conn.recv(1024):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_agent_tokens_and_keys_in_urls_stay_out_of_the_access_log(tmp_path):
    port = free_port()
    config = write_serve_config(tmp_path, port)
    with running(["serve", "--config", str(config)], tmp_path, port) as server:
        _requests_carrying_secrets(server.url)
    log = server.log()  # stopped: everything it wrote, shutdown included
    assert "GET /sidebar/demo/1?token=" in log  # the request is logged ...
    assert "SECRET" not in log  # ... without what it carried
    assert "Traceback" not in log and "Warning" not in log


def test_the_demo_server_log_has_no_tokens_either(tmp_path):
    port = free_port()
    config = write_serve_config(tmp_path, port)
    with running(["demo", "--config", str(config), "--port", str(port)], tmp_path, port) as demo:
        _requests_carrying_secrets(demo.url)
        log = demo.log()
    assert "GET /sidebar/demo/1?token=" in log
    assert "SECRET" not in log


def _requests_carrying_secrets(url: str) -> None:
    requests.get(url + "/sidebar/demo/1?token=SECRET-one&lang=en", timeout=10)
    requests.get(url + "/healthz?%74oken=SECRET-two", timeout=10)  # %74 is "t"
    requests.post(url + "/api/v1/events?key=SECRET-three", json={"events": []}, timeout=10)
    requests.get(
        url + "/healthz", headers={"Referer": url + "/sidebar/x/1?token=SECRET-four"}, timeout=10
    )


def _refusal_of_serve(config, tmp_path) -> str:
    """What `journeydesk serve` says when it refuses to start: one line, no traceback."""
    result = journeydesk("serve", "--config", str(config), cwd=tmp_path, timeout=60)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    return output


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a file, SQLite's alone
def test_serve_on_a_file_that_is_not_sqlite_says_so_in_one_sentence(tmp_path):
    config = write_serve_config(tmp_path, free_port())
    (tmp_path / "journeydesk.db").write_bytes(b"these are not the pages of a database\n" * 200)
    output = _refusal_of_serve(config, tmp_path)
    assert "journeydesk.db" in output and "is not a database" in output


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # a server, PostgreSQL's alone
def test_serve_on_a_postgresql_server_that_does_not_answer_says_so_in_one_sentence(tmp_path):
    config = write_serve_config(tmp_path, free_port())
    nobody = f"postgresql://journeydesk@127.0.0.1:{free_port()}/journeydesk"
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r'url = "[^"]*"', f'url = "{nobody}"', text), encoding="utf-8")
    output = _refusal_of_serve(config, tmp_path)
    assert "PostgreSQL server cannot be reached" in output and "[database] url" in output
