"""Jobs: ordinary functions the scheduler runs and the CLI calls.

Each opens its own database handle (connections never cross threads).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.errors import ConnectorError
from connectors.protocol import STREAMS
from plugin.background.threads import start_in_thread
from plugin.background.worker_lease import lease_for
from plugin.clock import now_epoch
from plugin.config import Config
from plugin.intake.arrivals import arrivals_for
from plugin.intake.connector_factory import make_connector, with_setting_hint
from plugin.intake.sync import Progress, SyncReport, plain_notice, run_sync
from plugin.intake.write_back import push_views, wants_timeline
from plugin.journey.active_model import (
    KIND,
    load_active_model,
    model_fingerprint,
    recompute_time,
    stale_customers,
)
from plugin.journey.rebuild import RebuildReport, rebuild_history
from plugin.journey.recompute import RecomputeReport, recompute
from plugin.reports import aggregates as report_figures
from plugin.store import open_store
from plugin.store.customers import count_customers
from plugin.store.journeys import mark_aged_journeys, record_model, recorded_model
from plugin.store.rule_sets import latest_rule_set_id
from plugin.store.sync_state import notices_by_source, replace_notices
from plugin.store.touchpoints import merge_inbox

log = logging.getLogger("journeydesk.jobs")

TIMELINE = "views written to timelines"
"""How the sync summary names the article views written back to the desk."""

JOURNEY_MAX_AGE_SECONDS = 86_400
"""The worker recomputes a journey at least this often: time-based facts (days since
purchase, until renewal) move on although none of the customer's data changed."""


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
    with open_store(config.database_path) as db:
        # With `db`, Zendesk reads each requester's stored events cursor: no history twice.
        connector = make_connector(config, conf, db=db)
        arrived = arrivals_for(db, config, source)  # None on the desk's first sync
        try:
            report = run_sync(
                db, connector, full=full, progress=progress, streams=streams, arrived=arrived
            )
        except ConnectorError as exc:
            raise with_setting_hint(config, conf, exc) from None
        report.notices = [plain_notice(n) for n in report.notices]
        if wants_timeline(conf):
            _push_timeline(db, connector, report)
        # A partial run cannot tell that an earlier notice no longer holds: it only adds.
        kept = [] if set(streams) >= set(STREAMS) else notices_by_source(db).get(source, [])
        replace_notices(db, source, [*kept, *report.notices])
        run_recompute(config, db=db)
        return report


def _push_timeline(db, connector, report: SyncReport) -> None:
    """Write captured article views to the desk's contact timelines (push_article_views)."""
    written = push_views(db, connector)
    if written.pushed or written.refused:
        report.written[TIMELINE] = written.pushed
    if written.error:
        report.notices.append(
            f"Article views could not be written to {connector.name} contact timelines "
            f"({written.error}); the next sync tries again."
        )


def run_recompute(config: Config, *, full: bool = False, db=None) -> RecomputeReport:
    """Recompute with the active model (the latest saved version, else the config's).

    Everyone is recomputed when `full`, when a newly saved model has not reached every
    customer yet (e.g. the web process that saved it stopped half-way), or when the model
    differs from the one the last full run used (config.toml edited); otherwise only the
    customers marked changed.
    """
    # The caller's handle stays open for the caller; our own is closed when done.
    own = open_store(config.database_path) if db is None else contextlib.nullcontext(db)
    with own as db:
        active = load_active_model(db, config)
        fingerprint = model_fingerprint(active.model)
        full = full or stale_customers(db, active) > 0 or recorded_model(db) != fingerprint
        seen = latest_rule_set_id(db, KIND)
        now = recompute_time(active, now_epoch())
        report = recompute(
            db,
            active.model,
            full=full,
            now=now,
            still_current=lambda: latest_rule_set_id(db, KIND) == seen,
        )
        if full and latest_rule_set_id(db, KIND) == seen:  # finished with this model
            record_model(db, fingerprint, now=now)
        if report.customers:
            log.info(
                "recomputed %d customers with %s, %d changed stage",
                report.customers,
                active.describe(),
                report.moved,
            )
        return report


def run_history_rebuild(
    config: Config, *, db=None, progress: Callable[[int], None] | None = None
) -> RebuildReport:
    """Rebuild the reconstructed stage history with the active model (journey/rebuild.py),
    after bringing every customer's journey to that model (a recompute, if needed). Every
    report figure counts by the stage of its moment: they are forgotten, and the worker
    builds them again, newest day first (a small store's pages at once)."""
    own = open_store(config.database_path) if db is None else contextlib.nullcontext(db)
    with own as db:
        run_recompute(config, db=db)
        active = load_active_model(db, config)
        seen = latest_rule_set_id(db, KIND)
        report = rebuild_history(
            db,
            active.model,
            now=recompute_time(active, now_epoch()),
            progress=progress,
            still_current=lambda: latest_rule_set_id(db, KIND) == seen,
        )
        report_figures.forget(db)  # the worker builds them again, newest day first
        log.info(
            "stage history rebuilt with %s: %d customers, %d transitions",
            active.describe(),
            report.customers,
            report.transitions,
        )
        return report


def rebuild_history_quietly(config: Config) -> None:
    """`run_history_rebuild` for a background thread: a failure is logged, never raised."""
    try:
        run_history_rebuild(config)
    except Exception as exc:  # nothing is half-written: each batch is one transaction
        log.error("stage history rebuild failed: %s", exc)


FOREGROUND_RECOMPUTE_LIMIT = 5_000
"""Up to this many customers a web save recomputes before answering (about a second per
thousand); beyond it, in a background thread while the page shows the progress."""


@dataclass(frozen=True)
class SavedModelRecompute:
    """What `recompute_saved_model` did: `report` when it recomputed here, None when it
    started a background thread over `customers`."""

    customers: int
    report: RecomputeReport | None


def recompute_saved_model(config: Config, db, *, wait: bool = False) -> SavedModelRecompute:
    """After a journey model is saved (the admin, `journeydesk rules import`): recompute
    every customer with it, here when there are at most FOREGROUND_RECOMPUTE_LIMIT
    customers or when told to `wait` (a command that ends must), else in a background
    thread. The worker's next recompute finishes it if this process stops half-way."""
    customers = count_customers(db)
    if wait or customers <= FOREGROUND_RECOMPUTE_LIMIT:
        return SavedModelRecompute(customers, run_recompute(config, full=True, db=db))
    start_in_thread(recompute_quietly, config, full=True, name="journeydesk-recompute")
    return SavedModelRecompute(customers, None)


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
    # What the sync's new tickets change at the desk goes now, not at the next push run;
    # their journey notes too (written after the sync's recompute: the stage is current).
    scheduled_sla_push(config)
    scheduled_journey_notes(config)


def recompute_quietly(config: Config, *, full: bool = False) -> None:
    """`run_recompute` for a background thread: a failure is logged, never raised."""
    try:
        run_recompute(config, full=full)
    except Exception as exc:  # the worker's next run recomputes what is still stale
        log.error("recompute failed: %s", exc)


def scheduled_recompute(config: Config) -> None:
    """The worker's periodic recompute, in the lease holder only; never raises.

    Besides the customers whose data changed, it takes those whose journey is older than
    JOURNEY_MAX_AGE_SECONDS, so stages and signals follow the clock by themselves.
    """
    if lease_for(config).held():
        mark_aged_quietly(config)
        recompute_quietly(config)


def scheduled_report_refresh(config: Config) -> None:
    """The worker's refresh of the report figures (plugin/reports/aggregates.py: what
    changed, then days not built yet within its budget), lease holder only; never raises:
    a failed refresh leaves the previous figures for the next run to catch up."""
    if not lease_for(config).held():
        return
    try:
        with open_store(config.database_path) as db:
            done = report_figures.refresh(db, config, now=now_epoch())
    except Exception as exc:
        log.error("refreshing the report figures failed: %s", exc)
        return
    if done.left:
        log.info("reports: %d days built, %d left for the next runs", done.days, done.left)


def prepare_report_figures(config: Config) -> None:
    """Build every report figure up to now at once (the demo after seeding, so Reports is
    full from the first page; the worker keeps them current after that)."""
    with open_store(config.database_path) as db:
        report_figures.refresh(db, config, now=now_epoch(), budget=float("inf"))


def scheduled_merge(config: Config) -> None:
    """The worker's merge of ingested events into the history (lease holder only); never
    raises: a failed merge leaves the events in the inbox, readable, for the next run."""
    if not lease_for(config).held():
        return
    try:
        # a chunk's index pages stay cached
        with open_store(config.database_path, cache_mib=64) as db:
            merged = merge_inbox(db)
    except Exception as exc:
        log.error("merging ingested events failed: %s", exc)
        return
    if merged:
        log.debug("merged %d ingested events into the history", merged)


def mark_aged_quietly(config: Config, *, now: int | None = None) -> int:
    """Mark the journeys older than JOURNEY_MAX_AGE_SECONDS for the next recompute."""
    now = now or now_epoch()
    try:
        with open_store(config.database_path) as db:
            return mark_aged_journeys(db, computed_before=now - JOURNEY_MAX_AGE_SECONDS, now=now)
    except Exception as exc:  # the next run tries again
        log.error("could not mark aged journeys: %s", exc)
        return 0


def scheduled_outreach(config: Config, rule: str) -> None:
    """One outreach rule's cron job (lease holder only; never raises): plan, claim, deliver."""
    from plugin.errors import JourneydeskError
    from plugin.outreach.engine import run_outreach

    if not lease_for(config).held():
        return
    try:
        report = run_outreach(config, rule)
    except JourneydeskError as exc:  # disabled or removed since it was scheduled
        log.info("outreach %s not run: %s", rule, exc.message)
        return
    except Exception as exc:  # the next run tries again; claimed messages wait in the outbox
        log.error("outreach %s failed: %s", rule, exc)
        return
    delivery = report.delivery
    log.info(
        "outreach %s: %d claimed, %d sent, %d to retry, %d failed",
        rule,
        sum(report.claimed.values()),
        delivery.sent if delivery else 0,
        delivery.retrying if delivery else 0,
        delivery.failed if delivery else 0,
    )


def scheduled_delivery(config: Config) -> None:
    """Send what came due since (retries, messages deferred past quiet hours); never raises."""
    from plugin.outreach.delivery import deliver_due

    if not lease_for(config).held():
        return
    try:
        report = deliver_due(config)
    except Exception as exc:
        log.error("outreach delivery failed: %s", exc)
        return
    if report.sent or report.failed or report.uncertain:
        log.info(
            "outreach delivery: %d sent, %d failed, %d marked uncertain",
            report.sent,
            report.failed,
            report.uncertain,
        )


def scheduled_sla_push(config: Config) -> None:
    """Push pending SLA updates to the desks (retries included); never raises."""
    from plugin.sla.push import push_quietly

    if not lease_for(config).held():
        return
    report = push_quietly(config)
    if report and (report.sent or report.retrying or report.failed):
        log.info(
            "SLA push: %d sent, %d retrying, %d failed", report.sent, report.retrying, report.failed
        )


def scheduled_journey_notes(config: Config) -> None:
    """Post pending journey notes on new tickets (retries included); never raises."""
    from plugin.notes.post import post_quietly

    if not lease_for(config).held():
        return
    report = post_quietly(config)
    if report and (report.posted or report.found or report.retrying or report.failed):
        log.info(
            "journey notes: %d posted, %d found already posted, %d retrying, %d failed",
            report.posted,
            report.found,
            report.retrying,
            report.failed,
        )


def outreach_schedules(config: Config) -> dict[str, Any]:
    """{rule name: its cron trigger} of the enabled rules in force (saved versions first)."""
    from plugin.outreach.active_rules import config_rules, load_active_rules
    from plugin.outreach.rules import cron_trigger

    try:
        with open_store(config.database_path) as db:
            rules = load_active_rules(db, config).rules
    except Exception as exc:  # an unreadable store: the config file's rules meanwhile
        log.warning("outreach rules read from the config file only: %s", exc)
        rules = config_rules(config)
    return {rule.name: cron_trigger(rule, rules) for rule in rules.rules if rule.enabled}
