"""Jobs: ordinary functions the scheduler runs and the CLI calls.

Each opens its own database handle (connections never cross threads).
"""

from __future__ import annotations

import logging

from connectors.protocol import STREAMS
from plugin.config import Config
from plugin.connections import make_connector
from plugin.journey.model import load_model
from plugin.recompute import RecomputeReport, recompute
from plugin.store import open_db
from plugin.sync import Progress, SyncReport, run_sync

log = logging.getLogger("journeydesk.jobs")


def run_source_sync(
    config: Config,
    source: str,
    *,
    full: bool = False,
    progress: Progress | None = None,
    streams: tuple[str, ...] = STREAMS,
) -> SyncReport:
    """Sync one connector, then recompute the customers it changed."""
    conf = config.connector(source)
    if conf is None:
        raise ValueError(f"no connector named {source!r} in {config.path}")
    db = open_db(config.database_path)
    try:
        report = run_sync(
            db, make_connector(config, conf), full=full, progress=progress, streams=streams
        )
        run_recompute(config, db=db)
        return report
    finally:
        db.conn.close()


def run_recompute(config: Config, *, full: bool = False, db=None) -> RecomputeReport:
    model = load_model(config.journey, file=config.path)
    own = db is None
    db = db or open_db(config.database_path)
    try:
        report = recompute(db, model, full=full)
        if report.customers:
            log.info("recomputed %d customers, %d changed stage", report.customers, report.moved)
        return report
    finally:
        if own:
            db.conn.close()


def scheduled_sync(config: Config, source: str) -> None:
    """The worker's sync job: never raises into the scheduler thread."""
    try:
        report = run_source_sync(config, source)
        log.info("sync %s: %d records written", source, report.total_written)
    except Exception as exc:  # logged and shown on /healthz; the next run retries
        log.error("sync %s failed: %s", source, exc)
