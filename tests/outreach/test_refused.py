"""A message whose template the sandbox refuses is never sent, and leaves a `refused` row
in the outbox with the sandbox's error: the admin's audit trail shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.config import load_config
from plugin.outreach.engine import run_outreach
from plugin.store import open_store
from plugin.store.outbox import list_messages, requeue_message, status_counts
from tests.outreach.conftest import REPEAT_READER, outreach_config
from tests.outreach.test_delivery import repeat_readers

HOSTILE = REPEAT_READER.replace(
    'template = "repeat_reader"', "body = \"Hi {{ ''.__class__.__mro__ }}\""
)

pytestmark = pytest.mark.usefixtures("backend")


def test_a_refused_template_leaves_an_audit_row_and_sends_nothing(tmp_path, seeded_demo, smtp_sink):
    config = outreach_config(tmp_path, seeded_demo, port=smtp_sink.port, rules=HOSTILE)
    expected = repeat_readers(config)

    report = run_outreach(config)

    assert smtp_sink.messages == [] and smtp_sink.sessions == 0
    assert report.claimed == {"repeat-reader": 0} and report.delivery.sent == 0
    with open_store(config.database_path) as db:
        refused = list_messages(db, status="refused", limit=1000)
        assert status_counts(db) == {"refused": len(expected)}
        assert not requeue_message(db, refused[0]["id"], now=0)  # nothing to send again
    assert {m["recipient"].lower() for m in refused} == expected
    for message in refused:
        assert "refused" in message["error"] and "__class__" in message["error"]
        assert message["body_text"] is None and message["sent_at"] is None
        assert message["reasons"] and message["attempts"] == 0

    again = run_outreach(config)  # the same period: still one row each, still nothing sent
    assert again.delivery.sent == 0 and smtp_sink.messages == []
    with open_store(config.database_path) as db:
        assert status_counts(db) == {"refused": len(expected)}

    # the admin fixes the template: the next run of the period sends over the refused rows
    path = Path(config.path)
    path.write_text(
        path.read_text().replace("body = \"Hi {{ ''.__class__.__mro__ }}\"", 'body = "Hi"'),
        encoding="utf-8",
    )
    fixed = run_outreach(load_config(path))
    assert fixed.delivery.sent == len(expected)
    assert sorted(r.lower() for r in smtp_sink.recipients()) == sorted(expected)
    with open_store(config.database_path) as db:
        assert status_counts(db) == {"sent": len(expected)}
        assert all(m["error"] is None for m in list_messages(db, limit=1000))
