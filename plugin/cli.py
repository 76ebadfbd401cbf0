"""The `journeydesk` command line. Each command loads config, calls one domain function,
and turns domain errors into one clear sentence and a non-zero exit (no traceback)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click

from connectors.errors import ConnectorError
from plugin.config import Config, ConfigError, demo_config, load_config
from plugin.errors import JourneydeskError
from plugin.journey.conditions import ConditionError
from plugin.store import DATABASE_ERRORS, StoreError, describe_database_error
from plugin.store.copy import DEFAULT_BATCH

DEFAULT_CONFIG = "config.toml"
DEMO_DATABASE = "journeydesk-demo.db"


def friendly_errors(command: Callable) -> Callable:
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ConfigError, ConditionError) as exc:
            raise click.ClickException(str(exc)) from None
        except StoreError as exc:
            # A store that would not open (a damaged file, a PostgreSQL server away) is said
            # with what to check; a refusal of the store's own (a copy's) is said as it is.
            opening = type(exc) is StoreError
            message = describe_database_error(exc) if opening else str(exc)
            raise click.ClickException(message) from None
        except JourneydeskError as exc:
            raise click.ClickException(exc.message) from None
        except ConnectorError as exc:
            from plugin.intake.connector_factory import one_sentence

            raise click.ClickException(one_sentence(exc)) from None
        except DATABASE_ERRORS as exc:  # full disk, read-only or damaged file: say what to fix
            raise click.ClickException(describe_database_error(exc)) from None

    return wrapper


def config_option(command: Callable) -> Callable:
    return click.option(
        "--config",
        "config_path",
        default=DEFAULT_CONFIG,
        show_default=True,
        type=click.Path(dir_okay=False),
        help="The configuration file.",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="journeydesk")
def main() -> None:
    """journeydesk: the customer's journey beside every help desk ticket."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@main.command()
@config_option
@click.option("--port", type=int, default=None, help="Port to serve on (default 8000).")
@click.option("--reset", is_flag=True, help="Delete the demo database and generate it again.")
@friendly_errors
def demo(config_path: str, port: int | None, reset: bool) -> None:
    """Seed the demo help desk and serve web + scheduler on 127.0.0.1."""
    from plugin import demo as demo_desk

    if Path(config_path).exists():
        config = load_config(config_path)
    else:
        config = demo_config(DEMO_DATABASE, port or 8000)
    if port:
        config = demo_desk.with_port(config, port)
    if reset:
        demo_desk.delete_database(config.database_path)
    demo_desk.seed_demo(config)
    demo_desk.serve_demo(config)


@main.command()
@config_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="gunicorn worker processes (gevent: each serves many connections).",
)
@friendly_errors
def serve(config_path: str, workers: int) -> None:
    """Serve the web app under gunicorn (the scheduler runs in `journeydesk worker`)."""
    from plugin.serving import serve_production

    serve_production(load_config(config_path), workers=workers)


@main.command()
@config_option
@friendly_errors
def worker(config_path: str) -> None:
    """Run the scheduler: syncs, stage recomputes and outreach rules."""
    from plugin.background.scheduler import build_scheduler

    config = load_config(config_path)
    click.echo(f"journeydesk worker: {len(config.connectors)} connector(s); Ctrl-C stops.")
    try:
        build_scheduler(config, background=False).start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("stopped.")


@main.command()
@config_option
@click.option("--source", default=None, help="Only this connector (default: all).")
@click.option("--full", is_flag=True, help="Forget the cursors and pull everything again.")
@friendly_errors
def sync(config_path: str, source: str | None, full: bool) -> None:
    """Pull from the help desks now, with a progress display. One desk failing does not
    stop the others; the exit status is 1 when any failed."""
    config = load_config(config_path)
    names = [source] if source else [c.name for c in config.connectors]
    if source and config.connector(source) is None:
        known = ", ".join(c.name for c in config.connectors) or "none"
        raise click.ClickException(f"No connector named {source!r} (configured: {known}).")
    failed = [name for name in names if not _sync_one(config, name, full)]
    if failed:
        click.get_current_context().exit(1)  # each failure was said in its own line


def _sync_one(config: Config, name: str, full: bool) -> bool:
    """Sync one desk; a desk's failure is one line on stderr, and the other desks go on."""
    from plugin.intake import progress
    from plugin.intake.connector_factory import one_sentence

    try:
        report = progress.sync_with_progress(config, name, full=full)
    except ConnectorError as exc:
        click.echo(f"Error: {one_sentence(exc)}", err=True)
        return False
    click.echo(progress.describe_sync(report))
    return True


@main.command()
@config_option
@click.option("--source", required=True, help="The connector the ticket belongs to.")
@click.option("--ticket", "ticket_id", default=None, help="Limit the token to one ticket.")
@click.option("--agent", default=None, help="Who the token is for (shown in logs).")
@click.option(
    "--ttl",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds it stays valid.",
)
@friendly_errors
def token(
    config_path: str, source: str, ticket_id: str | None, agent: str | None, ttl: int
) -> None:
    """Print a signed agent token for the sidebar and the agent API."""
    from plugin.security import mint_agent_token

    config = load_config(config_path)
    if config.connector(source) is None:
        raise click.ClickException(f"No connector named {source!r} in {config_path}.")
    click.echo(
        mint_agent_token(config.secret, source=source, ticket_id=ticket_id, agent=agent, ttl=ttl)
    )


@main.command()
@config_option
@click.argument("name")
@click.option("--from", "start", default="", help="First day, YYYY-MM-DD (default: 30 days ago).")
@click.option("--to", "end", default="", help="Last day, included, YYYY-MM-DD (default: today).")
@click.option("--source", "sources", multiple=True, help="Only this desk (repeatable).")
@click.option("--item", default="", help="What a drill-down is about, e.g. demo:1001.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@friendly_errors
def report(
    config_path: str,
    name: str,
    start: str,
    end: str,
    sources: tuple[str, ...],
    item: str,
    output: str,
) -> None:
    """Print the report NAME (docs/reports.md): a table, or CSV or JSON for scripts."""
    from plugin.clock import now_epoch
    from plugin.reports.aggregates import refresh
    from plugin.reports.catalog import all_reports
    from plugin.reports.ranges import report_filters
    from plugin.reports.text import report_table
    from plugin.store import open_store

    reports = all_reports()
    if name not in reports:
        raise click.ClickException(f"No report named {name!r}; the reports: {', '.join(reports)}.")
    config = load_config(config_path)
    filters = report_filters(config, start=start, end=end, sources=sources, item=item)
    with open_store(config.database_path) as db:
        # Every day of the range built, however long it takes: a script wants it all.
        first_day = int(filters.start.timestamp()) // 86_400
        refresh(db, config, now=now_epoch(), budget=float("inf"), down_to=first_day)
        result = reports[name](db, filters)
    if output == "csv":
        click.echo(result.as_csv(), nl=False)
    elif output == "json":
        click.echo(result.as_json())
    else:
        report_table(result)


@main.command("check-config")
@config_option
@friendly_errors
def check_config(config_path: str) -> None:
    """Validate the configuration and the journey definitions, then say what is set up:
    which database (an SQLite file or a PostgreSQL URL) and whether it answers."""
    from plugin.journey.model import load_model
    from plugin.store import store_status

    config = load_config(config_path)
    model = load_model(config.journey, file=config.path)
    click.echo(f"{config_path}: OK")
    status = store_status(config.database_path)
    click.echo(f"  database: {describe_store(status)}")
    for conf in config.connectors:
        click.echo(
            f"  connector {conf.name} ({conf.type}), every {conf.get('sync_interval_minutes')} min"
        )
    click.echo(f"  stages: {', '.join(s.key for s in model.stages)}")
    click.echo(f"  signals: {', '.join(s.key for s in model.signals)}")
    from plugin.outreach.active_rules import config_origin, config_rules

    rules = config_rules(config)
    enabled = [r.name for r in rules.rules if r.enabled]
    origin = "config file" if config_origin(config) == "config" else "shipped"
    click.echo(
        f"  outreach rules ({origin}): {len(rules.rules)}, enabled: {', '.join(enabled) or 'none'}"
    )
    if status.problem:
        raise click.ClickException(f"the database cannot be reached: {status.problem}")


def describe_store(status) -> str:
    """check-config's database line: the backend, where, and whether it answered."""
    where = f"{status.backend} {status.location}"
    if not status.exists:
        return f"{where} (not created yet: the first sync or serve creates it)"
    if status.problem:
        return f"{where}: UNREACHABLE"
    server = f", {status.server}" if status.server else ""
    pending = (
        f", {len(status.pending)} migration(s) to apply at start-up: {', '.join(status.pending)}"
        if status.pending
        else ""
    )
    return f"{where}: reachable{server}, schema version {status.schema_version}{pending}"


@main.command("import")
@config_option
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--source", required=True, help="The connector whose customers and articles the file names."
)
@friendly_errors
def import_(config_path: str, file: str, source: str) -> None:
    """Import touchpoints from a JSONL or CSV file (either may be .gz), streaming.

    JSONL: one event per line, as in POST /api/v1/events. CSV columns: id, type,
    occurred_at, email, external_id, anonymous_id, article_id, article_url, article_title,
    article_locale, query, properties_json. Event ids are unique per --source: importing
    the same file again counts its lines as duplicates.
    """
    from connectors.files import FileFormatError, TouchpointFile
    from plugin.intake.connector_factory import make_connector
    from plugin.intake.ingest import ImportReport, IngestTarget
    from plugin.store import open_store

    config = load_config(config_path)
    conf = config.connector(source)
    if conf is None:
        known = ", ".join(c.name for c in config.connectors) or "none"
        raise click.ClickException(f"No connector named {source!r} (configured: {known}).")
    target = IngestTarget(
        source=f"import:{source}",
        article_source=source,
        article_ref=make_connector(config, conf).article_ref,
        channel="import",
        desk_types_allowed=True,  # an admin's own export: tickets, CSAT, purchases too
    )
    report = ImportReport()  # filled in as batches commit, so a failure can say how far
    # a batch's index pages stay cached
    with open_store(config.database_path, cache_mib=256) as db:
        try:
            with TouchpointFile(file) as records:
                _import_with_progress(db, target, records, report)
        except FileFormatError as exc:
            done = f" ({report.lines:,} lines before it were imported)" if report.lines else ""
            raise click.ClickException(f"{exc}{done}") from None
    click.echo(_describe_import(file, source, report))


def _import_with_progress(db, target, records, report) -> None:
    """Run the import under a byte-based progress bar on stderr, updating `report`."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from plugin.intake.ingest import import_events

    columns = (
        TextColumn("[bold]importing"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[counts]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("import", total=max(records.size, 1), counts="")

        def advance(current) -> None:
            counts = (
                f"{current.accepted:,} new, {current.duplicates:,} dup, {current.rejected:,} bad"
            )
            progress.update(task, completed=records.bytes_read, counts=counts)

        import_events(db, target, records, report=report, progress=advance)
        progress.update(task, completed=max(records.size, 1))


def _describe_import(file: str, source: str, report) -> str:
    lines = [
        f"{file} → {source}: {report.lines:,} lines read; {report.accepted:,} accepted, "
        f"{report.duplicates:,} duplicates, {report.rejected:,} rejected."
    ]
    shown = report.first_rejections
    if shown:
        lines.append(
            "Rejected lines:"
            if report.rejected == len(shown)
            else f"Rejected lines (first {len(shown)}):"
        )
        lines += [f"  line {r.index}: {r.error}" for r in shown]
    if report.rejected > len(shown):
        lines.append(f"  … and {report.rejected - len(shown):,} more")
    return "\n".join(lines)


@main.command()
@config_option
@click.option("--full", is_flag=True, help="Every customer, not only those changed since.")
@click.option(
    "--rebuild-history",
    is_flag=True,
    help="Then replay every customer's past with the model in force and replace the "
    "reconstructed stage history (observed stage changes are kept).",
)
@friendly_errors
def recompute(config_path: str, full: bool, rebuild_history: bool) -> None:
    """Recompute stages and signals with the journey model in force.

    Without --full only the customers changed since the last run (new touchpoints,
    tickets or profile changes), unless the model changed since (a version saved in the
    admin, or [journey] edited in the config file): then everyone.
    """
    import time

    from plugin.background.jobs import run_history_rebuild, run_recompute
    from plugin.journey.active_model import load_active_model
    from plugin.store import open_store

    config = load_config(config_path)
    with open_store(config.database_path) as db:
        active = load_active_model(db, config)
        started = time.monotonic()
        report = run_recompute(config, full=full, db=db)
        if not report.customers:
            click.echo(
                "Nothing to recompute: no customer changed since the last run (--full: all)."
            )
        else:
            click.echo(
                f"Recomputed {report.customers:,} customers with {active.describe()} in "
                f"{time.monotonic() - started:.1f} s: {report.moved:,} changed stage."
            )
        if rebuild_history:
            started = time.monotonic()
            rebuilt = run_history_rebuild(config, db=db)
            click.echo(
                f"Rebuilt the stage history of {rebuilt.customers:,} customers with "
                f"{active.describe()} in {time.monotonic() - started:.1f} s: "
                f"{rebuilt.transitions:,} reconstructed transitions; the observed stage "
                f"changes of {rebuilt.kept_observed:,} customers kept."
            )


@main.command("rebuild-reports")
@config_option
@friendly_errors
def rebuild_reports(config_path: str) -> None:
    """Make the reports' pre-aggregated figures again from the whole history.

    The worker keeps them up to date by itself; rebuild after the stage history was
    rebuilt, or to take in tickets synced long after they were opened.
    """
    import time

    from plugin.clock import now_epoch
    from plugin.reports.aggregates import rebuild
    from plugin.store import open_store

    config = load_config(config_path)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        click.echo(f"\r{done:,} of {total:,} days", nl=False, err=True)

    with open_store(config.database_path) as db:
        done = rebuild(db, config, now=now_epoch(), progress=progress)
    click.echo("", err=True)
    click.echo(
        f"Rebuilt the report figures of {done.days:,} days and {done.tickets:,} tickets "
        f"in {time.monotonic() - started:.1f} s."
    )


@main.group()
def db() -> None:
    """The store itself: move it from SQLite to PostgreSQL."""


@db.command("copy")
@config_option
@click.option(
    "--to",
    "target",
    required=True,
    help="The PostgreSQL database, without its password: postgresql://user@host:5432/name.",
)
@click.option(
    "--password-env",
    default=None,
    metavar="NAME",
    help="The environment variable holding the target's password "
    "(default: the config's [database] password_env).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Rows per transaction (a killed copy resumes after its last one).",
)
@friendly_errors
def db_copy(config_path: str, target: str, password_env: str | None, batch: int) -> None:
    """Copy the config's SQLite store into an empty PostgreSQL database, then verify it.

    Table by table with a progress bar; run it again after an interruption and it resumes
    where it stopped. Stop the worker and web first: rows written meanwhile are not copied.
    """
    import os

    from plugin.store import open_store
    from plugin.store.copy import target_location

    config = load_config(config_path)
    location = target_location(target, password_env or config.database_password_env, os.environ)
    with open_store(config.database_path) as source:
        report = _copy_with_progress(source, location, batch)
    click.echo(_describe_copy(report))


def _copy_with_progress(source, location, batch: int):
    """`copy_store` under a progress bar per table, on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from plugin.store.copy import copy_store

    columns = (
        TextColumn("[bold]{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        tasks: dict[str, int] = {}

        def advance(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=total)
            progress.update(tasks[table], completed=done, total=total)

        return copy_store(source, location, batch=batch, progress=advance)


def _describe_copy(report) -> str:
    width = max(len(count.name) for count in report.counts)
    lines = [
        f"  {count.name:<{width}}  {count.source:>12,} rows in SQLite = {count.target:,} in "
        "PostgreSQL"
        for count in report.counts
    ]
    if report.already_verified:
        lines.append(f"{report.target}: already a verified copy of {report.source}; nothing to do.")
        return "\n".join(lines)
    rate = report.rows_written / report.seconds if report.seconds else 0
    resumed = " (resumed)" if report.resumed else ""
    lines.append(
        f"Copied {report.source} into {report.target}{resumed}: {report.rows_written:,} rows "
        f"written in {report.seconds:.1f} s ({rate:,.0f} rows/s); the row counts of all "
        f"{len(report.counts)} tables match."
    )
    lines.append(
        f'Next: set [database] url = "{report.target}" in the config and start journeydesk.'
    )
    return "\n".join(lines)


@main.group()
def outreach() -> None:
    """Proactive outreach rules: preview, run, and the outbox (docs/outreach.md)."""


@outreach.command("preview")
@config_option
@click.argument("rule")
@click.option("--limit", type=click.IntRange(min=0), default=10, show_default=True)
@friendly_errors
def outreach_preview(config_path: str, rule: str, limit: int) -> None:
    """Who RULE would write to now, what, and why; sends nothing."""
    from plugin.outreach.planning import preview_rule
    from plugin.outreach.report import describe_plan

    click.echo(describe_plan(preview_rule(load_config(config_path), rule), limit=limit))


@outreach.command("run")
@config_option
@click.argument("rule", required=False)
@click.option("--dry-run", is_flag=True, help="Show what would be sent; claim and send nothing.")
@friendly_errors
def outreach_run(config_path: str, rule: str | None, dry_run: bool) -> None:
    """Run the enabled rules (or RULE) now, then deliver every due message."""
    from plugin.outreach.engine import run_outreach
    from plugin.outreach.report import describe_run

    report = run_outreach(load_config(config_path), rule, dry_run=dry_run)
    click.echo(describe_run(report))
    if report.delivery and report.delivery.failed:
        click.get_current_context().exit(1)


@outreach.command("timeline")
@config_option
@click.argument("rule", required=False)
@click.option("--days", type=click.IntRange(1, 60), default=14, show_default=True)
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True)
@friendly_errors
def outreach_timeline(config_path: str, rule: str | None, days: int, limit: int) -> None:
    """Who RULE (or every enabled rule) would write to over the next DAYS, and when; sends
    nothing."""
    from plugin.outreach.report import describe_timeline
    from plugin.outreach.timeline import dry_run_timeline

    timeline = dry_run_timeline(load_config(config_path), rule, days=days, render=limit)
    click.echo(describe_timeline(timeline, limit=limit))


@outreach.command("outbox")
@config_option
@click.option(
    "--status",
    type=click.Choice(
        ["pending", "sending", "sent", "failed", "uncertain", "held_out", "discarded"]
    ),
    default=None,
)
@click.option("--rule", default=None, help="Only this rule's messages.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@friendly_errors
def outreach_outbox(config_path: str, status: str | None, rule: str | None, limit: int) -> None:
    """The newest outbox messages (and counts by status)."""
    from plugin.outreach.report import describe_outbox
    from plugin.store import open_store
    from plugin.store.outbox import list_messages, status_counts

    config = load_config(config_path)
    with open_store(config.database_path) as db:
        rows = list_messages(db, status=status, rule=rule, limit=limit)
        counts = status_counts(db, rule=rule)
    click.echo(describe_outbox(rows, counts))


@outreach.command("requeue")
@config_option
@click.argument("message_id", type=int)
@friendly_errors
def outreach_requeue(config_path: str, message_id: int) -> None:
    """Send an uncertain or failed message again (check first that it did not arrive)."""
    _decide(config_path, message_id, "requeue")


@outreach.command("discard")
@config_option
@click.argument("message_id", type=int)
@friendly_errors
def outreach_discard(config_path: str, message_id: int) -> None:
    """Close an uncertain or failed message without sending it."""
    _decide(config_path, message_id, "discard")


def _decide(config_path: str, message_id: int, action: str) -> None:
    from plugin.clock import now_epoch
    from plugin.store import open_store
    from plugin.store.outbox import discard_message, requeue_message

    config = load_config(config_path)
    change = requeue_message if action == "requeue" else discard_message
    with open_store(config.database_path) as db:
        if not change(db, message_id, now=now_epoch()):
            raise click.ClickException(
                f"message {message_id} is not uncertain or failed (see journeydesk outreach outbox)"
            )
    click.echo(f"message {message_id}: {'queued again' if action == 'requeue' else 'discarded'}.")


@main.group()
def sla() -> None:
    """SLA rules: apply them to earlier tickets, simulate a change (docs/sla.md)."""


@sla.command("apply")
@config_option
@click.option(
    "--since",
    "since_text",
    required=True,
    metavar="DATE",
    help="Decide unsolved tickets created from this day (YYYY-MM-DD, UTC) or moment on.",
)
@click.option("--source", help="Only this connector's tickets (default: every connector).")
@click.option("--yes", is_flag=True, help="Apply without asking (for scripts).")
@friendly_errors
def sla_apply(config_path: str, since_text: str, source: str | None, yes: bool) -> None:
    """Apply the SLA rules in force to tickets already stored, after showing what changes.

    New tickets are decided as they appear; this is for the ones before (a desk's history
    is never rewritten by itself). Tickets that have a decision keep it."""
    from plugin.sla.backfill import apply_backfill, plan_backfill
    from plugin.sla.push import push_due
    from plugin.store import open_store

    config = load_config(config_path)
    since = _since(since_text)
    sources = [source] if source else [c.name for c in config.connectors]
    if source and config.connector(source) is None:
        known = ", ".join(c.name for c in config.connectors) or "none"
        raise click.ClickException(f"No connector named {source!r} in {config.path} ({known}).")
    with open_store(config.database_path) as db:
        backfill = plan_backfill(db, config, since, sources)
        click.echo("\n".join(backfill.lines()))
        if not backfill.tickets:
            return
        question = (
            f"Store {backfill.tickets:,} decisions and update {len(backfill.changing):,} "
            "of these tickets at the desk?"
        )
        if not yes and not click.confirm(question, default=False):
            click.echo("Nothing applied.")
            return
        applied = apply_backfill(db, backfill)
    click.echo(f"Stored {applied.decided:,} decisions; {applied.queued:,} updates queued.")
    if applied.queued:
        report = push_due(config)
        click.echo(f"Pushed {report.sent:,} updates to the desks.")
        if report.retrying or report.failed:
            click.echo(
                f"{report.retrying:,} will be retried by the worker; {report.failed:,} failed "
                "(see /admin/sla)."
            )


def _since(text: str) -> datetime:
    """--since: a day (midnight UTC) or an ISO moment."""
    from plugin.clock import parse_moment

    try:
        return parse_moment(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-01", param_hint="--since"
        ) from None


@sla.command("simulate")
@config_option
@click.option(
    "--days", type=click.IntRange(1, 3660), default=30, show_default=True, help="The window."
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A TOML file of [[sla.rules]] to compare with the rules in force.",
)
@click.option("--samples", type=click.IntRange(min=0), default=10, show_default=True)
@friendly_errors
def sla_simulate(config_path: str, days: int, rules_file: str | None, samples: int) -> None:
    """What SLA rules would have done to the tickets of the last DAYS days: tickets and
    breaches per priority, stage and channel, before and after, and samples that change.

    With --rules FILE: FILE's rules against the rules in force. Without: the rules in
    force against none (the desk's own priorities, no targets).
    """
    from plugin.journey.versions import in_force
    from plugin.sla.active_rules import SLA
    from plugin.sla.report import describe_what_if
    from plugin.sla.rules import SlaRules
    from plugin.sla.rules_file import load_rules_file
    from plugin.sla.what_if import what_if
    from plugin.store import open_store

    config = load_config(config_path)
    draft = load_rules_file(rules_file) if rules_file else None
    with open_store(config.database_path) as db:
        active = in_force(db, config, SLA)
        version = f"version {active.version_number}" if active.version else active.origin
        in_force_name = f"the rules in force ({len(active.value.rules)}, {version})"
        if draft is None:
            current, draft, names = SlaRules(), active.value, ("no rules", in_force_name)
        else:
            current, names = active.value, (in_force_name, f"{rules_file} ({len(draft.rules)})")
        result = what_if(db, config, draft, days=days, current=current, samples=samples)
    click.echo(describe_what_if(result, before=names[0], after=names[1]), nl=False)


@main.group()
def rules() -> None:
    """Journey model, SLA and outreach rules as TOML files: export, edit, import back.

    (Touchpoints are imported with `journeydesk import`.)"""


@rules.command("export")
@config_option
@click.option(
    "--kind",
    type=click.Choice(["journey", "sla", "outreach"]),
    default=None,
    help="Only this kind (default: all three in one file).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file (default: print it).",
)
@friendly_errors
def rules_export(config_path: str, kind: str | None, out: str | None) -> None:
    """Write the definitions in force as TOML in the shape of config.toml."""
    from plugin.clock import now_epoch
    from plugin.rules_files import KIND_NAMES, export_rules
    from plugin.store import open_store

    config = load_config(config_path)
    with open_store(config.database_path) as db:
        text = export_rules(db, config, (kind,) if kind else KIND_NAMES, now=now_epoch())
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{out}: cannot be written ({exc.strerror or exc})") from None
    click.echo(f"Wrote {out}. Edit it, then: journeydesk rules import {out}", err=True)


@rules.command("import")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and preview only; save nothing.")
@click.option("--yes", is_flag=True, help="Save without asking (for scripts).")
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=30,
    show_default=True,
    help="The SLA what-if runs over the tickets of the last DAYS days.",
)
@friendly_errors
def rules_import(config_path: str, file: str, dry_run: bool, yes: bool, days: int) -> None:
    """Check FILE exactly as the admin checks an edit, preview each kind that changes, then
    save them as new versions (after asking). Kinds left out of FILE are not touched."""
    from plugin.clock import now_epoch
    from plugin.rules_files import plan_import, save_import
    from plugin.rules_report import describe_import, describe_saved
    from plugin.store import open_store

    config = load_config(config_path)
    with open_store(config.database_path) as db:
        plan = plan_import(db, config, file, now=now_epoch(), days=days)
        click.echo(describe_import(plan))
        count = len(plan.changed)
        if not count:
            return
        if dry_run:
            click.echo("\n--dry-run: nothing saved.")
            return
        question = f"\nSave {count} new version{'s' if count > 1 else ''}?"
        if not yes and not _confirmed(question):
            click.echo("Nothing saved (answer y to save; --yes saves without asking).", err=True)
            click.get_current_context().exit(1)
        saved = save_import(
            db, config, plan, created_by=f"import {Path(file).name}", now=now_epoch()
        )
    click.echo(describe_saved(saved))


def _confirmed(question: str) -> bool:
    """A yes/no question, no by default; no answer at all (stdin closed) is no."""
    try:
        return click.confirm(question, default=False)
    except click.Abort:
        click.echo("", err=True)
        return False
