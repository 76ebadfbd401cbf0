"""Jobs: ordinary functions the scheduler runs and the CLI calls.

Each opens its own database handle (connections never cross threads).
"""

from __future__ import annotations

import logging

from connectors.errors import ConnectorError
from connectors.protocol import STREAMS
from plugin.active_model import KIND, load_active_model, recompute_time, stale_customers
from plugin.config import Config
from plugin.connections import make_connector, with_setting_hint
from plugin.recompute import RecomputeReport, recompute
from plugin.store import now_epoch, open_db
from plugin.store.notices import notices_by_source, replace_notices
from plugin.store.rule_sets import latest_rule_set_id
from plugin.sync import Progress, SyncReport, run_sync
from plugin.worker_lease import lease_for

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
        # With `db`, Zendesk reads each requester's stored events cursor: no history twice.
        connector = make_connector(config, conf, db=db)
        try:
            report = run_sync(db, connector, full=full, progress=progress, streams=streams)
        except ConnectorError as exc:
            raise with_setting_hint(config, conf, exc) from None
        report.notices = [plain_notice(n) for n in report.notices]
        # A partial run cannot tell that an earlier notice no longer holds: it only adds.
        kept = [] if set(streams) >= set(STREAMS) else notices_by_source(db).get(source, [])
        replace_notices(db, source, [*kept, *report.notices])
        run_recompute(config, db=db)
        return report
    finally:
        db.conn.close()


def plain_notice(text: str) -> str:
    """A sync notice for people: its sentence without the evidence in parentheses.

    Connectors end a notice with the HTTP error that led to it, e.g. "...must then
    come from the portal snippet. (Zendesk rejected ... HTTP 403 ...)"; that detail is
    logged by the sync, while the CLI summary and /healthz say the sentence alone.
    """
    head, dot, tail = text.partition(". (")
    return head + "." if dot and tail.endswith(")") else text


def run_recompute(config: Config, *, full: bool = False, db=None) -> RecomputeReport:
    """Recompute with the active model (the latest saved version, else the config's).

    Everyone is recomputed when `full`, or when a newly saved model has not reached every
    customer yet (e.g. the web process that saved it stopped half-way); otherwise only the
    customers marked changed.
    """
    own = db is None
    db = db or open_db(config.database_path)
    try:
        active = load_active_model(db, config)
        full = full or stale_customers(db, active) > 0
        seen = latest_rule_set_id(db, KIND)
        report = recompute(
            db,
            active.model,
            full=full,
            now=recompute_time(active, now_epoch()),
            still_current=lambda: latest_rule_set_id(db, KIND) == seen,
        )
        if report.customers:
            log.info(
                "recomputed %d customers with %s, %d changed stage",
                report.customers,
                active.describe(),
                report.moved,
            )
        return report
    finally:
        if own:
            db.conn.close()


def scheduled_sync(config: Config, source: str) -> None:
    """The worker's sync job: never raises into the scheduler thread.

    Runs only in the worker holding the lease (DESIGN §9): a second worker stands by.
    """
    if not lease_for(config).held():
        log.debug("sync %s skipped: another worker holds the lease", source)
        return
    try:
        report = run_source_sync(config, source)
        log.info("sync %s: %d records written", source, report.total_written)
    except Exception as exc:  # logged and shown on /healthz; the next run retries
        log.error("sync %s failed: %s", source, exc)


def recompute_quietly(config: Config, *, full: bool = False) -> None:
    """`run_recompute` for a background thread: a failure is logged, never raised."""
    try:
        run_recompute(config, full=full)
    except Exception as exc:  # the worker's next run recomputes what is still stale
        log.error("recompute failed: %s", exc)


def scheduled_recompute(config: Config) -> None:
    """The worker's periodic recompute, in the lease holder only; never raises."""
    if lease_for(config).held():
        recompute_quietly(config)
