"""Hostile input never makes a 500, a traceback or invalid JSON, and never sinks good events.

Each test starts from a hole found by an adversarial review (issue 11): lone UTF-16
surrogates, dates whose UTC conversion overflows, JSON nested 50,000 deep, ids past 2^63,
and NaN / Infinity / 64-bit-overflowing integers in event properties. Then hypothesis
throws arbitrary JSON at the ingest and check-reply endpoints.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.records import CustomerRef
from plugin.app import create_app
from plugin.cli import main
from plugin.security import Secret, mint_agent_token
from plugin.store import open_db, open_store
from plugin.store.customers import find_customer
from plugin.store.history import timeline
from tests.helpers.demo_desk import INGEST_KEY

pytestmark = pytest.mark.usefixtures("backend")

PASSWORD = "correct horse battery staple"
HUGE_ID = str(2**64 + 7)  # past SQLite's 64-bit integers
DEEP = 50_000
OVERFLOWING_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
NUMBER_HOLES = {"nan": "NaN", "infinity": "Infinity", "minus_infinity": "-Infinity"}
HUGE_INT = "123456789012345678901234567890"


def strict_loads(text: str | bytes) -> Any:
    """json.loads as a browser's JSON.parse reads it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "article_view",
        "occurred_at": "2026-11-19T10:00:00Z",
        "customer": {"email": "hostile@example.com"},
        "article": {"id": "9001", "title": "How to export"},
    } | fields


def post_events(client, body: str | bytes):
    return client.post(
        "/api/v1/events",
        data=body,
        headers={"Authorization": f"Bearer {INGEST_KEY}", "Content-Type": "application/json"},
    )


def customer_of(config, email: str = "hostile@example.com") -> int | None:
    db = open_db(config.database_path, migrate=False)
    try:
        return find_customer(db, CustomerRef(email=email), "demo")
    finally:
        db.conn.close()


def history(config, email: str = "hostile@example.com") -> list[dict[str, Any]]:
    customer_id = customer_of(config, email)
    if customer_id is None:
        return []
    db = open_db(config.database_path, migrate=False)
    try:
        return timeline(db, customer_id, until=2**40, limit=50)
    finally:
        db.conn.close()


def agent_headers(config, ticket_id: str | None = None) -> dict[str, str]:
    token = mint_agent_token(config.secret, source="demo", ticket_id=ticket_id)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(desk):
    return create_app(desk.config).test_client()


# --- one bad event never sinks a batch --------------------------------------------------


def test_a_lone_surrogate_in_one_event_does_not_sink_the_batch(client, desk):
    bad = event("e2", article={"id": "9002", "title": "cut emoji x\ud83d"})
    body = json.dumps({"events": [event("e1"), bad, event("e3")]})
    assert "\\ud83d" in body  # what JSON.stringify sends for a string cut inside an emoji
    response = post_events(client, body)
    assert response.status_code == 200, response.text
    answer = response.get_json()
    assert answer["accepted"] == 3 and answer["rejected"] == []
    titles = {row["article_title"] for row in history(desk.config)}
    assert "cut emoji x\ufffd" in titles  # the broken half is replaced, the rest kept


def test_an_import_line_with_a_lone_surrogate_is_stored_cleaned(desk, tmp_path):
    lines = [
        json.dumps(event("i1")),
        json.dumps(event("i2", article={"id": "9002", "title": "x\ud83d"})),
        json.dumps(event("i3", properties={"note": "\udc00 alone"})),
    ]
    result = run_import(desk, tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert "3 accepted" in result.output
    assert "x\ufffd" in {row["article_title"] for row in history(desk.config)}


def run_import(desk, folder, lines: list[str]):
    file = folder / "events.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = desk.folder / "config.toml"
    return CliRunner().invoke(
        main, ["import", str(file), "--source", "demo", "--config", str(config)]
    )


# --- no 500 and no invalid JSON for any input -------------------------------------------


@pytest.mark.parametrize("occurred_at", OVERFLOWING_TIMES)
def test_a_date_that_overflows_in_utc_is_rejected_alone_by_the_api(client, occurred_at):
    body = json.dumps({"events": [event("d1"), event("d2", occurred_at=occurred_at)]})
    response = post_events(client, body)
    assert response.status_code == 200, response.text
    answer = response.get_json()
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1]
    assert answer["rejected"][0]["error"].startswith("occurred_at:")


def test_a_date_that_overflows_in_utc_is_one_rejected_import_line(desk, tmp_path):
    lines = [json.dumps(event("o1"))]
    lines += [json.dumps(event(f"o{n}", occurred_at=at)) for n, at in enumerate(OVERFLOWING_TIMES)]
    result = run_import(desk, tmp_path, lines)
    assert result.exit_code == 0, result.output
    assert "1 accepted" in result.output and "2 rejected" in result.output
    assert re.search(r"line 2: occurred_at:", result.output)
    assert "Traceback" not in result.output


def deep_json(depth: int = DEEP) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def deep_list(depth: int) -> bytes:
    """Nested arrays: the deepest document a webhook's 64 KB limit lets through."""
    return b"[" * depth + b"]" * depth


def test_deep_nesting_in_check_reply_is_a_400(client, desk):
    ticket = desk.tickets(1)[0]
    response = client.post(
        f"/api/v1/tickets/demo/{ticket}/check-reply",
        data=b'{"body": ' + deep_list(DEEP) + b"}",
        headers=agent_headers(desk.config, ticket) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_deep_nesting_in_a_desk_token_request_is_a_400(desk, monkeypatch):
    monkeypatch.setenv("HOSTILE_APP_SECRET", "app-secret-0123456789")
    monkeypatch.setenv("HOSTILE_FD_KEY", "fd-key")
    config = _with_connector(
        desk,
        'name = "freshdesk"\ntype = "freshdesk"\ndomain = "acme.freshdesk.com"\n'
        'api_key_env = "HOSTILE_FD_KEY"\napp_secret_env = "HOSTILE_APP_SECRET"\n',
    )
    client = create_app(config).test_client()
    headers = {"Authorization": "Bearer app-secret-0123456789", "Content-Type": "application/json"}
    response = client.post("/api/v1/desk-token/freshdesk", data=deep_json(), headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "ticket_id_required"


def test_deep_nesting_in_a_signed_webhook_is_a_400(desk, monkeypatch):
    from plugin.security import sign_generic_webhook

    monkeypatch.setenv("HOSTILE_WEBHOOK", "webhook-secret-0123456789")
    relay = 'name = "relay"\ntype = "demo"\ncustomers = 5\nwebhook_secret_env = "HOSTILE_WEBHOOK"\n'
    config = _with_connector(desk, relay)
    client = create_app(config).test_client()
    body = deep_list(32_000)
    signature = sign_generic_webhook(Secret("webhook-secret-0123456789"), body)
    response = client.post(
        "/webhooks/relay",
        data=body,
        headers={"X-Journeydesk-Signature": signature, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.get_json()["error"]["code"] == "malformed_body"


def _with_connector(desk, toml: str):
    from plugin.config import load_config
    from tests.helpers.demo_desk import ENV

    path = desk.folder / "config.toml"
    path.write_text(path.read_text() + "\n[[connectors]]\n" + toml, encoding="utf-8")
    import os

    return load_config(path, env={**os.environ, **ENV})


def test_a_customer_id_past_64_bits_is_a_404_in_the_api(client, desk):
    url = f"/api/v1/customers/{HUGE_ID}/journey"
    response = client.get(url, headers=agent_headers(desk.config))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] in {"not_found", "customer_not_found"}


@pytest.mark.parametrize(
    "path", [f"/admin/customers/{HUGE_ID}", f"/admin/journey/versions/{HUGE_ID}"]
)
def test_an_admin_id_past_64_bits_is_a_404_page(desk, path):
    config = dataclasses.replace(desk.config, admin_password=Secret(PASSWORD))
    client = create_app(config).test_client()
    page = client.get("/admin/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    login = {"password": PASSWORD, "name": "Ana", "csrf_token": csrf}
    assert client.post("/admin/login", data=login).status_code == 302
    response = client.get(path)
    assert response.status_code == 404
    assert "Traceback" not in response.text


@pytest.mark.parametrize("hole", [*NUMBER_HOLES.values(), HUGE_INT, f"-{HUGE_INT}"])
def test_numbers_that_are_not_strict_json_reject_only_their_event(client, desk, hole):
    good = json.dumps(event("n1", properties={"rating": 5}))
    bad = json.dumps(event("n2", article={"id": "9002"})).replace(
        '"type"', f'"properties": {{"score": {{"value": [{hole}]}}}}, "type"'
    )
    response = post_events(client, f'{{"events": [{good}, {bad}]}}')
    assert response.status_code == 200, response.text
    answer = response.get_json()
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1]
    assert "properties" in answer["rejected"][0]["error"]
    customer = customer_of(desk.config)
    journey = client.get(
        f"/api/v1/customers/{customer}/journey", headers=agent_headers(desk.config)
    )
    assert journey.status_code == 200
    strict_loads(journey.data)


def test_nan_stored_before_the_strict_rule_is_served_as_strict_json(client, desk):
    """A history written by an older version may hold NaN: the API still answers JSON."""
    post_events(client, json.dumps({"events": [event("old", properties={"score": 1.5})]}))
    with open_store(desk.config.database_path, migrate=False) as db, db.atomic():
        for table in ("touchpoints", "touchpoint_inbox"):
            db.execute(
                f"UPDATE {table} SET properties = ? WHERE event_id = 'old'",
                [f'{{"score":NaN,"n":{HUGE_INT}}}'],
            )
    customer = customer_of(desk.config)
    journey = client.get(
        f"/api/v1/customers/{customer}/journey", headers=agent_headers(desk.config)
    )
    assert journey.status_code == 200
    strict_loads(journey.data)


# --- arbitrary JSON at the ingest and reply endpoints -----------------------------------

ODD_TEXT = st.text(
    alphabet=st.characters(codec=None, categories=None, exclude_categories=()), max_size=12
) | st.sampled_from(["\ud83d", "x\udc00y", "😀", "\x00", "9999-12-31T23:59:59-14:00"])
ODD_NUMBERS = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([2**63, -(2**63) - 1, 2**64])
)
SCALARS = st.none() | st.booleans() | ODD_NUMBERS | ODD_TEXT
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
    max_leaves=20,
)
EVENT_LIKE = st.fixed_dictionaries(
    {"id": ODD_TEXT | ODD_NUMBERS, "type": st.sampled_from(["article_view", "search", "x"])},
    optional={
        "occurred_at": ODD_TEXT | ODD_NUMBERS | st.sampled_from(OVERFLOWING_TIMES),
        "customer": st.fixed_dictionaries({"email": st.just("h@example.com")}) | ANY_JSON,
        "article": st.fixed_dictionaries({"id": ODD_TEXT}, optional={"title": ODD_TEXT}),
        "properties": ANY_JSON,
    },
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def encode(value: Any) -> str:
    """Python's JSON writer: NaN and Infinity as bare words, surrogates as escapes."""
    return json.dumps(value)


DEPTHS = st.sampled_from([2, 900, 1100, 5000, 30_000])  # around both parsers' limits
BODIES = (
    st.builds(lambda items: encode({"events": items}), st.lists(EVENT_LIKE | ANY_JSON, max_size=5))
    | st.builds(encode, ANY_JSON)
    | st.builds(lambda d: '{"events": [' + nested(d) + "]}", DEPTHS)
)
REPLIES = (
    st.builds(lambda body: encode({"body": body}), ANY_JSON)
    | st.builds(lambda d: '{"body": ' + nested(d) + "}", DEPTHS)
    | BODIES
)


@pytest.mark.parametrize("endpoint", ["events", "check-reply"])
def test_arbitrary_json_gets_a_strict_json_answer_and_never_a_500(client, desk, endpoint):
    ticket = desk.tickets(1)[0]
    if endpoint == "events":
        path, headers, bodies = "/api/v1/events", {"Authorization": f"Bearer {INGEST_KEY}"}, BODIES
    else:
        path = f"/api/v1/tickets/demo/{ticket}/check-reply"
        headers, bodies = agent_headers(desk.config, ticket), REPLIES

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=bodies)
    def check(body: str) -> None:
        response = client.post(path, data=body.encode("utf-8", "surrogatepass"), headers=headers)
        assert response.status_code < 500, response.text
        assert response.status_code != 429
        strict_loads(response.data)

    check()
    customer = customer_of(desk.config, "h@example.com")
    if customer:
        journey = client.get(
            f"/api/v1/customers/{customer}/journey",
            headers=agent_headers(desk.config),
        )
        assert journey.status_code == 200
        strict_loads(journey.data)
