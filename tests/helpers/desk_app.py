"""An app wired to every desk (Zendesk, Freshdesk, Chatwoot, demo) on a copy of the demo DB.

Shared by the access, desk-auth and browser tests. The copy is made with SQLite's backup
API, so the session's seeded database is never written by these tests.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.records import CustomerRef, Ticket
from plugin.clock import now_epoch
from plugin.config import Config, load_config
from plugin.store import open_db
from plugin.store.customers import get_customer
from plugin.store.sync_state import record_history_fetch
from plugin.store.tickets import upsert_tickets
from tests.helpers.config import database_line, write_config
from tests.helpers.copies import private_copy

SUBDOMAIN = "acme"
AUDIENCE = "https://acme.zendesk.com/api/v2/apps/installations/4242.json"
FRESHDESK_APP_SECRET = "fd-app-secret-0f9e8d7c6b5a"
CHATWOOT_APP_KEY = "cw-dashboard-key-91b2c3d4e5"
CHATWOOT_TOKEN = "cw-agent-token-7f3a9c"
CHATWOOT_ACCOUNT = 3


def rsa_key_pair() -> tuple[rsa.RSAPrivateKey, str]:
    """A fresh RSA key and its public PEM (what Zendesk keeps / what the admin configures)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, pem.decode("ascii")


def zaf_jwt(key: rsa.RSAPrivateKey, *, now: float | None = None, **claims: object) -> str:
    """A token shaped like the one Zendesk POSTs to a signed-URL app (RS256)."""
    now = time.time() if now is None else now
    body = {
        "iss": f"{SUBDOMAIN}.zendesk.com",
        "aud": AUDIENCE,
        "sub": "agent-1842",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + 300,
        "context": {"product": "support", "location": "ticket_sidebar"},
        **claims,
    }
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256")


def desk_config(
    folder: Path, seeded: Config, monkeypatch, *, public_pem: str, chatwoot_url: str
) -> Config:
    """config.toml with all desks + a copy of the demo DB (beside it, or a PostgreSQL
    database of its own); secrets in the env."""
    database = private_copy(seeded, folder).database_path
    monkeypatch.setenv("ZENDESK_API_TOKEN", "zd-api-token")
    monkeypatch.setenv("ZAF_PUBLIC_KEY", public_pem)
    monkeypatch.setenv("FRESHDESK_API_KEY", "fd-api-key")
    monkeypatch.setenv("FD_APP_SECRET", FRESHDESK_APP_SECRET)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", CHATWOOT_TOKEN)
    monkeypatch.setenv("CHATWOOT_APP_KEY", CHATWOOT_APP_KEY)
    path = write_config(
        folder,
        database=database_line(database),
        body=f"""
        [[connectors]]
        name = "zendesk"
        type = "zendesk"
        subdomain = "{SUBDOMAIN}"
        email = "admin@acme.example"
        base_url = "http://127.0.0.1:9"
        app_public_key_env = "ZAF_PUBLIC_KEY"
        app_audience = "{AUDIENCE}"
        [[connectors]]
        name = "freshdesk"
        type = "freshdesk"
        domain = "acme.freshdesk.com"
        base_url = "http://127.0.0.1:9"
        app_secret_env = "FD_APP_SECRET"
        [[connectors]]
        name = "chatwoot"
        type = "chatwoot"
        base_url = "{chatwoot_url}"
        account_id = {CHATWOOT_ACCOUNT}
        app_key_env = "CHATWOOT_APP_KEY"
        """,
    )
    return load_config(path)


def add_desk_ticket(config: Config, source: str, ticket_id: str, demo_customer_id: int) -> int:
    """A ticket of `source` by a demo customer (matched by email), created at the demo's
    anchor: the journey then carries that customer's reading history."""
    db = open_db(config.database_path)
    try:
        customer = get_customer(db, demo_customer_id)
        created = datetime.fromtimestamp(_last_view(db, demo_customer_id) + 600, UTC)
        ticket = Ticket(
            id=ticket_id,
            requester=CustomerRef(
                source_id=f"{source}-{demo_customer_id}", email=customer["email"]
            ),
            subject="Cannot turn off single sign-on",
            created_at=created,
            status="open",
            channel="web",
        )
        with db.atomic():
            upsert_tickets(db, source, [ticket])
            # its history counts as just fetched: no desk call on the way to the page
            record_history_fetch(db, source, ticket.requester.source_id, now_epoch())
        return int(created.timestamp())
    finally:
        db.conn.close()


def _last_view(db, customer_id: int) -> int:
    return db.execute(
        "SELECT max(occurred_at) FROM touchpoints WHERE customer_id = ? AND type = 'article_view'",
        [customer_id],
    ).fetchone()[0]
