"""The demo: seeding the demo help desk once per database, and serving web + scheduler in
one process (`journeydesk demo`)."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading

import click
from werkzeug.serving import make_server

from plugin.app import create_app
from plugin.background.jobs import prepare_report_figures, run_recompute
from plugin.background.scheduler import build_scheduler
from plugin.config import Config
from plugin.intake.progress import describe_sync, sync_with_progress
from plugin.serving import redact_werkzeug_log
from plugin.store import open_store
from plugin.store.backends.postgres import is_postgres
from plugin.store.sync_state import get_cursor
from plugin.store.tickets import sample_tickets_by_stage


def with_port(config: Config, port: int) -> Config:
    server = {**config.server, "port": port}
    if config.demo_mode:
        server["public_url"] = f"http://127.0.0.1:{port}"
    return dataclasses.replace(config, server=server)


def delete_database(path: str) -> None:
    """`demo --reset`: delete the demo's SQLite file. A PostgreSQL database is the
    operator's to drop (it may hold more than the demo): said, never faked."""
    if is_postgres(path):
        raise click.ClickException(
            f"--reset deletes an SQLite file; {path} is a PostgreSQL database: drop and "
            "create it again yourself (dropdb, createdb), then run the demo without --reset."
        )
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    click.echo(f"Deleted {path}.")


def seed_demo(config: Config) -> None:
    """Generate the demo desk through the normal sync path, once per database."""
    with open_store(config.database_path) as db:
        demo = [c for c in config.connectors if c.type == "demo"]
        fresh = [c for c in demo if get_cursor(db, c.name, "touchpoints") is None]
    for conf in fresh:
        click.echo(f"Generating the demo help desk into {config.database_path} ...")
        click.echo(describe_sync(sync_with_progress(config, conf.name)))
    if not fresh and demo:
        click.echo(f"Reusing {config.database_path} (run with --reset to start over).")
        run_recompute(config)  # what changed while the demo was stopped
    click.echo("Counting the report figures ...")
    prepare_report_figures(config)


def serve_demo(config: Config) -> None:
    """Serve web + scheduler in this process until Ctrl-C."""
    app = create_app(config)
    host, port = config.server["host"], config.server["port"]
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        raise click.ClickException(
            f"Cannot listen on {host}:{port} ({exc.strerror}). Try --port 8001."
        ) from None
    redact_werkzeug_log()
    scheduler = build_scheduler(config, background=True, first_run_now=False)
    scheduler.start()
    _print_urls(config)

    # Explicit handlers: a demo started in the background inherits an ignored SIGINT.
    def stop(*_args) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    finally:
        scheduler.shutdown(wait=False)
        server.server_close()
        click.echo("\njourneydesk demo stopped.")


def _print_urls(config: Config) -> None:
    base = config.server["public_url"].rstrip("/")
    with open_store(config.database_path, migrate=False) as db:
        demo = next((c for c in config.connectors if c.type == "demo"), None)
        samples = sample_tickets_by_stage(db, demo.name) if demo else []
    click.echo("")
    click.echo(f"journeydesk is running on {base}  (Ctrl-C stops)")
    click.echo(f"  demo index (a ticket in every stage): {base}/")
    if samples:
        ticket = f"{samples[0]['source']}/{samples[0]['id']}"
        click.echo(f"  sample ticket sidebar:  {base}/sidebar/{ticket}")
        click.echo(f"  its journey as JSON:    {base}/api/v1/tickets/{ticket}/journey")
    click.echo(f"  admin:                  {base}/admin")
    click.echo(f"  health:                 {base}/healthz")
