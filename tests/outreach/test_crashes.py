"""Crashes and concurrency with real processes: `journeydesk outreach run` killed with
SIGKILL at the worst moments, and two runs at once. Nobody ever gets a message twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from plugin import clock
from plugin.outreach.delivery import PAUSE_ENV
from plugin.outreach.engine import run_outreach
from plugin.store import open_store
from plugin.store.outbox import list_messages, status_counts
from tests.helpers.config import ANCHOR

pytestmark = pytest.mark.usefixtures("backend")

ROOT = Path(__file__).resolve().parents[2]


def start_run(config, pause: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(PAUSE_ENV, None)
    if pause:
        env[PAUSE_ENV] = pause
    return subprocess.Popen(
        [sys.executable, "-m", "plugin", "outreach", "run", "--config", config.path],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when_paused(process: subprocess.Popen, point: str) -> None:
    for line in process.stdout:
        if line.strip() == f"PAUSED {point}":
            break
    else:
        raise AssertionError(f"never paused at {point}: {process.stderr.read()}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def run_after_the_killed_one(config):
    """`run_outreach` in this process, a minute after the killed run: that run's clock
    ticked on from the suite's moment while this test's stands still at it, so what it
    claimed for "now" may fall due a second or two after that moment."""
    with clock.moved_to(ANCHOR + timedelta(minutes=1), frozen=True):
        return run_outreach(config)


def test_killed_after_the_claim_before_any_send_sends_everything_once_later(outreach, smtp_sink):
    process = start_run(outreach, pause="claimed")
    kill_when_paused(process, "claimed")
    with open_store(outreach.database_path) as db:
        claimed = status_counts(db)
    assert set(claimed) == {"pending"} and claimed["pending"] > 0
    assert smtp_sink.messages == []

    report = run_after_the_killed_one(outreach)

    assert report.delivery.sent == claimed["pending"] and report.delivery.uncertain == 0
    recipients = smtp_sink.recipients()
    assert len(recipients) == len(set(recipients)) == claimed["pending"]


def test_killed_after_a_send_before_it_is_recorded_ends_uncertain_never_resent(outreach, smtp_sink):
    process = start_run(outreach, pause="sent")
    kill_when_paused(process, "sent")
    assert len(smtp_sink.messages) == 1
    (first,) = smtp_sink.recipients()

    report = run_after_the_killed_one(outreach)  # takes over the dead process's delivery lease

    assert report.delivery.uncertain == 1
    with open_store(outreach.database_path) as db:
        (uncertain,) = list_messages(db, status="uncertain")
        counts = status_counts(db)
    assert uncertain["recipient"] == first
    assert "stopped before recording the outcome" in uncertain["error"]
    assert counts == {"sent": report.delivery.sent, "uncertain": 1}
    recipients = smtp_sink.recipients()
    assert recipients.count(first) == 1 and len(recipients) == len(set(recipients))

    again = run_after_the_killed_one(outreach)  # uncertain stays put without an admin
    assert again.delivery.sent == 0 and smtp_sink.recipients() == recipients


def test_two_runs_at_once_send_each_message_once(outreach, smtp_sink):
    runs = [start_run(outreach), start_run(outreach)]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    with open_store(outreach.database_path) as db:
        counts = status_counts(db)
    recipients = smtp_sink.recipients()
    assert counts == {"sent": len(recipients)} and recipients
    assert len(recipients) == len(set(recipients))
