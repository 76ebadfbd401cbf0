"""Outreach tests run on real parts: a private copy of the seeded demo, a real SMTP server
(aiosmtpd) on 127.0.0.1, a local HTTP receiver for webhooks, subprocesses for crashes.
Every module whose tests touch the store runs them once per engine (SQLite, PostgreSQL):
`pytestmark = pytest.mark.usefixtures("backend")`."""

from __future__ import annotations

import socket
import textwrap
import threading
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from plugin.config import Config, load_config
from plugin.store.backends.postgres import is_postgres
from tests.helpers.config import write_config
from tests.helpers.copies import private_copy

REPEAT_READER = """
[[outreach.rules]]
name = "repeat-reader"
enabled = true
schedule = "0 9 * * *"
channel = "email"
subject.en = "Still stuck on {{ article.title }}?"
subject.es = "¿Sigue atascado con {{ article.title }}?"
template = "repeat_reader"
cooldown_days = 14
skip_if_open_ticket = true
[outreach.rules.audience]
all = [ { fact = "max_views_same_article_7d", op = "gte", value = 3 },
        { fact = "tickets_last_7d", op = "eq", value = 0 } ]
"""

SILENT = """
[[outreach.rules]]
name = "silent-customer"
enabled = true
schedule = "0 11 * * 2"
channel = "email"
subject = "How is it going, {{ customer.first_name }}?"
template = "silent_checkin"
cooldown_days = 60
[outreach.rules.audience]
all = [ { fact = "days_since_last_activity", op = "gte", value = 60 } ]
"""


def free_port() -> int:
    """aiosmtpd cannot take port 0: pick a free one first (runtime notes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """Every message the SMTP server accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list = []
        self.sessions = 0
        self.lock = threading.Lock()
        self.port = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"

    def recipients(self) -> list[str]:
        return [r for rcpts, _ in self.messages for r in rcpts]


@pytest.fixture
def smtp_sink():
    sink = Sink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


def outreach_config(
    folder: Path, seeded: Config, *, port: int, rules: str = REPEAT_READER, extra: str = ""
) -> Config:
    """A config file with an SMTP server on `port` and `rules`, on a copy of the demo (on
    the engine of the test)."""
    body = textwrap.dedent(
        f"""
        [email]
        smtp_host = "127.0.0.1"
        smtp_port = {port}
        from = "Acme Support <support@acme.example>"
        timeout_seconds = 5
        [outreach]
        timezone = "UTC"
        {extra}
        """
    ) + textwrap.dedent(rules)
    return load_config(write_config(folder, body, database=copy_of_demo(seeded, folder)))


def copy_of_demo(seeded: Config, folder: Path) -> str | None:
    """A private copy of the seeded demo for a config written in `folder`: the [database]
    lines naming it, or None when it is the SQLite file beside that config."""
    copy = private_copy(seeded, folder).database_path
    return f'url = "{copy}"' if is_postgres(copy) else None


@pytest.fixture
def outreach(tmp_path, seeded_demo, smtp_sink) -> Config:
    return outreach_config(tmp_path, seeded_demo, port=smtp_sink.port)
