"""The web apps the benchmark drives: journeydesk itself, and the floor.

The floor is the least a journey endpoint can do: a Flask route that runs only the core
"last five distinct articles before the ticket" query on a reused connection and returns
them as JSON. The journey API is judged against it, measured side by side in one run.

gunicorn loads either through `benchmarks.apps:journey_app()` / `floor_app()`; both read
the benchmark configuration named by JOURNEYDESK_BENCH_CONFIG.
"""

from __future__ import annotations

import os
import textwrap
import threading
from pathlib import Path

from flask import Flask, jsonify
from sqlite_utils import Database

from benchmarks.datasets import core_last_articles
from plugin.config import INGEST_KEYS, Config, load_config
from plugin.store import open_db
from plugin.store.backends.postgres import is_postgres

CONFIG_ENV = "JOURNEYDESK_BENCH_CONFIG"
SOURCE = "zendesk"
SECRET = "benchmark-secret-0123456789abcdef"
INGEST_KEY = "benchmark-ingest-key-0123456789"
ZENDESK_TOKEN = "benchmark-zendesk-token"
ENV = {
    "JOURNEYDESK_SECRET": SECRET,
    "BENCH_INGEST_KEY": INGEST_KEY,
    "BENCH_ZENDESK_TOKEN": ZENDESK_TOKEN,
}
DAY = 86_400


def write_config(
    folder: Path, database: Path | str, *, zendesk_url: str = "", name: str = "config.toml"
) -> Path:
    """A config.toml for the benchmark: one Zendesk connector, one ingest key (its
    secrets in ENV: load it with `bench_config`, give ENV to child processes). `database`
    is the SQLite file, or a PostgreSQL URL (`[database] url`, trust or .pgpass auth)."""
    rate = "rate_limit_per_minute = 0\n" if "rate_limit_per_minute" in INGEST_KEYS else ""
    if is_postgres(database):
        where = f'url = "{database}"'
    else:
        where = f'path = "{Path(database).resolve()}"'
    path = folder / name
    path.write_text(
        textwrap.dedent(
            f"""
            [database]
            {where}
            [[connectors]]
            name = "{SOURCE}"
            type = "zendesk"
            subdomain = "acme"
            email = "admin@acme.example"
            token_env = "BENCH_ZENDESK_TOKEN"
            base_url = "{zendesk_url or "http://127.0.0.1:9"}"
            [[ingest.keys]]
            name = "benchmark"
            key_env = "BENCH_INGEST_KEY"
            source = "{SOURCE}"
            """
        )
        + rate,
        encoding="utf-8",
    )
    return path


def bench_config(path: Path) -> Config:
    """The benchmark configuration, its secrets from ENV (this process's environment is
    left alone: the test suite loads it too)."""
    return load_config(path, env={**os.environ, **ENV})


def journey_app() -> Flask:
    """journeydesk's own app, as `journeydesk serve` builds it."""
    from plugin.app import create_app

    return create_app(bench_config(Path(os.environ[CONFIG_ENV])))


def journey_app_for(config: Config) -> Flask:
    from plugin.app import create_app

    return create_app(config)


def floor_app(database: str | None = None, *, lookback_days: int = 30, limit: int = 5) -> Flask:
    """The minimal endpoint: the core query and a JSON list, nothing else. `database` is
    an SQLite file or a PostgreSQL URL, opened through the store as the app opens it."""
    if database is None:
        database = bench_config(Path(os.environ[CONFIG_ENV])).database_path
    app = Flask("floor")
    local = threading.local()

    def connection() -> Database:
        if not hasattr(local, "db"):  # one per thread, reused: the cheapest possible
            local.db = open_db(database, migrate=False)
        return local.db

    @app.get("/floor/<int:customer_id>/<int:before>")
    def floor(customer_id: int, before: int):
        rows = core_last_articles(
            connection(), customer_id, before, since=before - lookback_days * DAY, limit=limit
        )
        return jsonify([{"source": s, "article_id": a, "viewed_at": at} for s, a, at in rows])

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


def floor_path(customer_id: int, created_at: int) -> str:
    return f"/floor/{customer_id}/{created_at}"


def journey_path(ticket_id: str) -> str:
    return f"/api/v1/tickets/{SOURCE}/{ticket_id}/journey"


def has_route(app: Flask, rule: str, method: str) -> bool:
    """Whether the app serves `method rule` (endpoints other engineers may add later)."""
    return any(r.rule == rule and method in (r.methods or ()) for r in app.url_map.iter_rules())
