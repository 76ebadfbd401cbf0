"""Build the APScheduler that runs syncs and recomputes. It only schedules."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from plugin.background import jobs
from plugin.config import Config

RECOMPUTE_MINUTES = 10
MERGE_SECONDS = 5


def build_scheduler(
    config: Config, *, background: bool, first_run_now: bool = True
) -> BaseScheduler:
    scheduler = BackgroundScheduler() if background else BlockingScheduler()
    start = datetime.now() + timedelta(seconds=1) if first_run_now else None
    for conf in config.connectors:
        scheduler.add_job(
            jobs.scheduled_sync,
            "interval",
            args=[config, conf.name],
            minutes=conf.get("sync_interval_minutes"),
            id=f"sync:{conf.name}",
            next_run_time=start,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
    for job, job_id, interval in (
        (jobs.scheduled_recompute, "recompute", {"minutes": RECOMPUTE_MINUTES}),
        (jobs.scheduled_merge, "merge-inbox", {"seconds": MERGE_SECONDS}),
    ):
        scheduler.add_job(
            job, "interval", args=[config], id=job_id, coalesce=True, max_instances=1, **interval
        )
    return scheduler
