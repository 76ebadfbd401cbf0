"""Every agent route refuses a request without a valid token: walk the app's URL map.

New routes cannot slip through: any rule not listed as public below must answer 401 (JSON
under /api, a page elsewhere) without a token, with a forged one and with an expired one,
and the refusal shows no customer data. Public routes are listed explicitly, with why.
"""

from __future__ import annotations

import re

import pytest

from plugin.app import create_app
from plugin.security import mint_agent_token
from tests.helpers.config import SECRET
from tests.helpers.desk_app import desk_config, rsa_key_pair

pytestmark = pytest.mark.usefixtures("backend")

PUBLIC = {
    "/healthz": "health check (no customer data)",
    "/static/": "CSS, scripts",
    "/favicon.ico": "the icon, as /static/ serves it",
    "/api/v1/events": "portal ingest: its own ingest key",
    "/api/v1/openapi.json": "the API description",
    "/webhooks/": "desk webhooks: their own signatures",
    "/admin": "admin: its own login",
    "/u/": "unsubscribe links: their own signed token",
}
DEMO_ONLY = ("/", "/demo/")
"""Open in demo mode only (the demo says so on the page); 404 everywhere else."""
SAMPLE_ARGS = {"source": "demo", "ticket_id": "10000", "conversation_id": "1", "customer_id": "1"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def app(seeded_demo, tmp_path_factory):
    patch = pytest.MonkeyPatch()
    _key, pem = rsa_key_pair()
    config = desk_config(
        tmp_path_factory.mktemp("access"),
        seeded_demo,
        patch,
        public_pem=pem,
        chatwoot_url="http://127.0.0.1:9",
    )
    yield create_app(config)
    patch.undo()


def path_of(rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: SAMPLE_ARGS.get(m.group(1), "1"), rule.rule)


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC) or any(
        path.startswith(p) for p in ("/admin", "/u/")
    )


def agent_routes(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        path = path_of(rule)
        if is_public(path) or path == "/" or path.startswith("/demo/"):
            continue
        routes += [(method, path) for method in METHODS if method in rule.methods]
    return sorted(set(routes))


def test_the_walk_covers_every_agent_surface(app):
    paths = {path for _, path in agent_routes(app)}
    for expected in (
        "/api/v1/tickets/demo/10000/journey",
        "/api/v1/tickets/demo/10000/check-reply",
        "/api/v1/tickets/demo/10000/articles/search",
        "/api/v1/customers/1/journey",
        "/sidebar/demo/10000",
        "/sidebar/chatwoot/1",
        "/zendesk/sidebar",
        "/api/v1/desk-token/demo",
        "/chatwoot/app",
    ):
        assert expected in paths


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {
            "headers": {
                "Authorization": "Bearer jd1.forged.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            }
        },
        {"query_string": {"token": "not-a-token"}},
        {"expired": True},
    ],
    ids=["missing", "forged", "garbage", "expired"],
)
def test_every_agent_route_refuses_without_a_valid_token(app, credentials):
    client = app.test_client()
    kwargs = dict(credentials)
    if kwargs.pop("expired", False):
        old = mint_agent_token(SECRET, source="demo", ticket_id=None, ttl=60, now=1_000_000)
        kwargs = {"headers": {"Authorization": f"Bearer {old}"}}
    leaks = []
    for method, path in agent_routes(app):
        response = client.open(path, method=method, json={"body": "x", "ticket_id": "1"}, **kwargs)
        body = response.get_data(as_text=True)
        if response.status_code != 401:
            leaks.append(f"{method} {path} → {response.status_code}")
        elif path.startswith("/api/"):
            assert response.get_json()["error"]["code"], path
        assert "@" not in body and "articles_before_ticket" not in body, path
    assert leaks == []


def test_demo_pages_do_not_exist_outside_demo_mode(app):
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        path = path_of(rule)
        if path in DEMO_ONLY or path.startswith("/demo/"):
            assert client.get(path).status_code == 404, path


def test_a_token_for_another_ticket_is_refused(app):
    client = app.test_client()
    token = mint_agent_token(SECRET, source="demo", ticket_id="10001")
    for method, path in [
        ("GET", "/api/v1/tickets/demo/10000/journey"),
        ("POST", "/api/v1/tickets/demo/10000/check-reply"),
        ("GET", "/api/v1/tickets/demo/10000/articles/search?q=export"),
        ("GET", "/sidebar/demo/10000"),
    ]:
        response = client.open(
            path, method=method, json={"body": "x"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403, path
