"""Config files and a small believable desk for the tests that run journeydesk against
the fake Zendesk (and Freshdesk) (freshness, webhooks, sync errors, resumable sync)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from plugin import clock
from plugin.config import Config, load_config
from tests.fakes.zendesk import EMAIL, HELP_CENTER, TOKEN, FakeZendesk, iso
from tests.helpers import config as config_helpers

TOKEN_ENV = "JD_TEST_ZENDESK_TOKEN"
WEBHOOK_ENV = "JD_TEST_ZENDESK_WEBHOOK"
WEBHOOK_SECRET = "dGVzdC13ZWJob29rLXNlY3JldA=="  # looks like Zendesk's: used as-is
ZENDESK_ENV = {TOKEN_ENV: TOKEN, WEBHOOK_ENV: WEBHOOK_SECRET}
"""The fake Zendesk's credentials under the names `zendesk_config` gives them."""
ARTICLES = {500: "Export your data to CSV", 501: "Invite your team", 502: "Cancel a plan"}


def zendesk_config(folder: Path, base_url: str, extra: str = "", *, connector: str = "") -> Path:
    """A config.toml whose connectors[0] is Zendesk at `base_url`, database beside it.

    Export pacing is lifted (the fake has no 10/min budget) and `extra` lines go into
    the connector's table; `connector` appends further [[connectors]] tables.
    """
    path = folder / "config.toml"
    body = f"""
        [database]
        {config_helpers.DATABASE}
        [[connectors]]
        name = "zendesk"
        type = "zendesk"
        subdomain = "acme"
        email = "{EMAIL}"
        token_env = "{TOKEN_ENV}"
        webhook_secret_env = "{WEBHOOK_ENV}"
        base_url = "{base_url}"
        export_requests_per_minute = 60000
        """
    path.write_text(
        textwrap.dedent(body) + textwrap.dedent(extra) + textwrap.dedent(connector),
        encoding="utf-8",
    )
    return path


def zendesk_env(monkeypatch, *, token: str = TOKEN) -> None:
    """The fake Zendesk's credentials (or another `token`) in the environment for the test."""
    monkeypatch.setenv(TOKEN_ENV, token)
    monkeypatch.setenv(WEBHOOK_ENV, WEBHOOK_SECRET)


def load_zendesk_config(
    monkeypatch, folder: Path, base_url: str, extra: str = "", *, more: str = "", token: str = TOKEN
) -> Config:
    """`zendesk_config` loaded (`more`: tables after the connector's), with its credentials
    in the environment for the test."""
    zendesk_env(monkeypatch, token=token)
    return load_config(zendesk_config(folder, base_url, extra, connector=more))


def freshdesk_config(
    folder: Path, base_url: str, extra: str = "", *, key_env: str = "JD_FD_KEY"
) -> Path:
    """A config.toml whose connectors[0] is Freshdesk "support" at `base_url`, its API
    key in `key_env`; `extra` lines follow the connector's table (keys of it, or more
    tables such as [[ingest.keys]])."""
    path = folder / "config.toml"
    body = f"""
        [database]
        {config_helpers.DATABASE}
        [[connectors]]
        name = "support"
        type = "freshdesk"
        domain = "acme"
        api_key_env = "{key_env}"
        base_url = "{base_url}"
        """
    path.write_text(textwrap.dedent(body) + textwrap.dedent(extra), encoding="utf-8")
    return path


def add_articles(fake: FakeZendesk) -> None:
    fake.add_category(1, "Getting started")
    fake.add_section(10, "Basics", 1)
    for article_id, title in ARTICLES.items():
        fake.add_article(article_id, {"en-us": title}, "2025-01-10T10:00:00Z", section_id=10)


def add_customer(fake: FakeZendesk, user_id: int, *, days_ago: float = 200) -> dict:
    stamp = iso(clock.now_seconds() - days_ago * 86_400)
    return fake.add_user(
        {
            "id": user_id,
            "email": f"customer{user_id}@example.com",
            "name": f"Customer {user_id}",
            "created_at": stamp,
            "updated_at": stamp,
        }
    )


def add_ticket(fake: FakeZendesk, ticket_id: int, user_id: int, *, at: float) -> dict:
    return fake.add_ticket(
        {
            "id": ticket_id,
            "requester_id": user_id,
            "subject": f"Question {ticket_id}",
            "created_at": iso(at),
            "updated_at": iso(at),
        }
    )


def add_view(fake: FakeZendesk, user_id: int, article_id: int, *, at: float) -> dict:
    title = ARTICLES[article_id]
    slug = title.replace(" ", "-")
    return fake.add_event(
        user_id,
        "article_viewed",
        iso(at),
        {
            "article_id": article_id,
            "article": {
                "display_name": title,
                "url": f"{HELP_CENTER}/hc/en-us/articles/{article_id}-{slug}",
            },
            "locale": "en-us",
            "channel": "help_center",
        },
    )


def add_reader_with_ticket(fake: FakeZendesk) -> None:
    """The articles, customer 1 who read article 500 three days ago and, ten minutes
    later, opened ticket 100."""
    add_articles(fake)
    add_customer(fake, 1)
    read_at = clock.now_seconds() - 3 * 86_400
    add_view(fake, 1, 500, at=read_at)
    add_ticket(fake, 100, 1, at=read_at + 600)
