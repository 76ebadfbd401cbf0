"""The PostgreSQL server stopped in the middle of a delivery and started again: nobody gets a
message twice, and every message is delivered or stands `uncertain` for an admin.

The server is a cluster of this test's own (the session's serves every other test), stopped
as by a crash the moment the SMTP server has accepted the third message: that message's
`sent` never reaches the database, but its `sending` mark must have — durably, although this
cluster acknowledges commits before writing them (synchronous_commit = off)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from plugin import clock
from plugin.background.jobs import run_recompute
from plugin.config import load_config
from plugin.intake.connector_factory import make_connector
from plugin.intake.sync import run_sync
from plugin.outreach.engine import run_outreach
from plugin.store import open_store
from plugin.store.outbox import list_messages, status_counts
from tests.helpers.config import ANCHOR, write_config
from tests.helpers.postgres import PostgresCluster, cluster_or_skip
from tests.outreach.conftest import Sink, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVERYONE_ACTIVE = """
[[outreach.rules]]
name = "checkin"
enabled = true
schedule = "0 9 * * *"
channel = "email"
subject = "How is it going, {{ customer.first_name }}?"
template = "silent_checkin"
cooldown_days = 30
[outreach.rules.audience]
all = [ { fact = "days_since_last_activity", op = "gte", value = 0 } ]
"""


@pytest.fixture
def own_cluster():
    """A PostgreSQL cluster this test may stop and start."""
    cluster = cluster_or_skip()
    yield cluster
    cluster.destroy()


class StoppingSink(Sink):
    """An SMTP server that stops the database once it has accepted `stop_after` messages."""

    def __init__(self, cluster: PostgresCluster, stop_after: int) -> None:
        super().__init__()
        self.cluster, self.stop_after = cluster, stop_after

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == self.stop_after:
            self.cluster.stop(mode="immediate")  # as a crash or a failover: no goodbye
        return answer


def test_a_database_stopped_mid_delivery_and_started_again_sends_nobody_twice(
    tmp_path, own_cluster
):
    url = own_cluster.create_database("journeydesk")
    sink = StoppingSink(own_cluster, stop_after=3)
    sink.port = free_port()
    body = textwrap.dedent(
        f"""
        [email]
        smtp_host = "127.0.0.1"
        smtp_port = {sink.port}
        from = "Acme Support <support@acme.example>"
        timeout_seconds = 5
        [outreach]
        timezone = "UTC"
        """
    )
    config = load_config(
        write_config(tmp_path, body + EVERYONE_ACTIVE, customers=20, database=f'url = "{url}"')
    )
    with clock.moved_to(ANCHOR, frozen=True):
        with open_store(config.database_path) as db:
            run_sync(db, make_connector(config, config.connector("demo")))
        run_recompute(config, full=True)
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        stopped = subprocess.run(
            [sys.executable, "-m", "plugin", "outreach", "run", "--config", config.path],
            env={**os.environ, "PYTHONPATH": ROOT},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stopped.returncode == 1 and len(sink.messages) == 3, stopped.stderr
        assert "Traceback" not in stopped.stderr
        assert "The database cannot be used" in stopped.stderr
        first_three = sink.recipients()

        own_cluster.start()
        with clock.moved_to(ANCHOR + timedelta(minutes=1), frozen=True):
            report = run_outreach(config)
    finally:
        controller.stop()

    with open_store(config.database_path) as db:
        counts = status_counts(db)
        (uncertain,) = list_messages(db, status="uncertain")
    recipients = sink.recipients()
    assert len(recipients) == len(set(recipients)) == sum(counts.values()) > 3
    assert counts == {"sent": len(recipients) - 1, "uncertain": 1}
    assert report.delivery.uncertain == 1 and uncertain["recipient"] == first_three[-1]
