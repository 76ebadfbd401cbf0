"""The worker syncs every connector every `sync_interval_minutes` (its own setting)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plugin.background import jobs
from plugin.background.scheduler import build_scheduler
from plugin.config import load_config
from tests.helpers.config import write_config

pytestmark = pytest.mark.usefixtures("backend")  # the schedule reads outreach rules from the store


def test_each_connector_is_synced_at_its_own_interval(tmp_path):
    extra = """
        [[connectors]]
        name = "second"
        type = "demo"
        customers = 5
        sync_interval_minutes = 7
        """
    config = load_config(write_config(tmp_path, extra, customers=5))

    jobs_by_id = {job.id: job for job in build_scheduler(config, background=True).get_jobs()}

    assert jobs_by_id["sync:demo"].trigger.interval == timedelta(minutes=5)  # the default
    assert jobs_by_id["sync:second"].trigger.interval == timedelta(minutes=7)
    assert jobs_by_id["sync:second"].func is jobs.scheduled_sync
    assert jobs_by_id["sync:second"].args[1] == "second"


def test_a_run_the_scheduler_reaches_late_still_runs(tmp_path):
    config = load_config(write_config(tmp_path, customers=5))
    scheduler = build_scheduler(config, background=True)
    scheduler.start(paused=True)  # the defaults apply as the jobs enter the store
    try:
        jobs_by_id = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)

    assert {"sync:demo", "recompute", "outreach-deliver"} <= set(jobs_by_id)
    assert {job.misfire_grace_time for job in jobs_by_id.values()} == {None}
