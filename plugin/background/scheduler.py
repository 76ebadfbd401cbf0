"""Build the APScheduler that runs syncs and recomputes. It only schedules."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from plugin.background import jobs
from plugin.config import Config
from plugin.reports.aggregates import REFRESH_MINUTES

RECOMPUTE_MINUTES = 10
MERGE_SECONDS = 5
OUTREACH_DELIVERY_SECONDS = 60
SLA_PUSH_SECONDS = 60
"""Pending SLA updates (retries, a crash's leftovers) are pushed at least this often."""
JOURNEY_NOTES_SECONDS = 60
"""Journey notes of new tickets (from syncs, and retries) are posted at least this often."""
OUTREACH_RULES_MINUTES = 5
"""How often the worker picks up outreach rules saved in the admin (new cron jobs)."""
JOB_DEFAULTS = {"misfire_grace_time": None}
"""A job the scheduler reaches late still runs (once: every job coalesces). APScheduler's
default skips a run over a second late, and the first runs are due a second after the
worker builds its schedule: a start slower than that (a busy host, a database across the
network) skipped the first sync, leaving the desk unsynced for a whole interval."""


def build_scheduler(
    config: Config, *, background: bool, first_run_now: bool = True
) -> BaseScheduler:
    kind = BackgroundScheduler if background else BlockingScheduler
    scheduler = kind(job_defaults=JOB_DEFAULTS)
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
        (jobs.scheduled_delivery, "outreach-deliver", {"seconds": OUTREACH_DELIVERY_SECONDS}),
        (jobs.scheduled_sla_push, "sla-push", {"seconds": SLA_PUSH_SECONDS}),
        (jobs.scheduled_journey_notes, "journey-notes", {"seconds": JOURNEY_NOTES_SECONDS}),
        (jobs.scheduled_report_refresh, "report-refresh", {"minutes": REFRESH_MINUTES}),
    ):
        # First run at start too: what a crashed worker left queued goes out on restart.
        first = {"next_run_time": start} if start else {}  # None would add it paused
        scheduler.add_job(
            job,
            "interval",
            args=[config],
            id=job_id,
            coalesce=True,
            max_instances=1,
            **interval,
            **first,
        )
    schedule_outreach(scheduler, config)
    scheduler.add_job(
        schedule_outreach,
        "interval",
        args=[scheduler, config],
        minutes=OUTREACH_RULES_MINUTES,
        id="outreach-rules",
        coalesce=True,
        max_instances=1,
    )
    return scheduler


def schedule_outreach(scheduler: BaseScheduler, config: Config) -> None:
    """One cron job per enabled outreach rule in force (`outreach:<name>`); jobs of rules
    disabled or removed since are dropped, changed schedules replaced."""
    wanted = jobs.outreach_schedules(config)
    for job in scheduler.get_jobs():
        if job.id.startswith("outreach:") and job.id.removeprefix("outreach:") not in wanted:
            scheduler.remove_job(job.id)
    for name, trigger in wanted.items():
        existing = scheduler.get_job(f"outreach:{name}")
        if existing is not None and str(existing.trigger) == str(trigger):
            continue
        scheduler.add_job(
            jobs.scheduled_outreach,
            trigger,
            args=[config, name],
            id=f"outreach:{name}",
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
