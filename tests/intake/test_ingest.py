"""POST /api/v1/events through the Flask test client, checked in a real SQLite store."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from connectors.records import Article, Customer, CustomerRef
from plugin import clock
from plugin.app import create_app
from plugin.config import load_config
from plugin.security import customer_hmac
from plugin.store import open_db
from plugin.store.articles import upsert_articles
from plugin.store.customers import find_customer, upsert_customers
from plugin.store.history import article_views_of, timeline
from plugin.store.touchpoints import count_touchpoints
from tests.helpers.config import SECRET, write_config

KEY = "ingest-key-0123456789"
SIGNED_KEY = "signed-key-0123456789"
TIGHT_KEY = "tight-key-0123456789"
JWT_KEY = "jwt-key-0123456789"
IDENTITY_SECRET = "identity-secret-abcdef"
ORIGIN = "https://help.acme.test"
ENV = {
    "JOURNEYDESK_SECRET": SECRET,
    "JD_INGEST_KEY": KEY,
    "JD_SIGNED_KEY": SIGNED_KEY,
    "JD_TIGHT_KEY": TIGHT_KEY,
    "JD_JWT_KEY": JWT_KEY,
    "JD_IDENTITY": IDENTITY_SECRET,
}
NOW = clock.now().replace(microsecond=0)
ANA = "ana@example.com"


def keys_toml(jwks_url: str = "") -> str:
    jwt_key = f"""
        [[ingest.keys]]
        name = "guide"
        key_env = "JD_JWT_KEY"
        source = "demo"
        allowed_origins = ["{ORIGIN}"]
        help_center_jwks_url = "{jwks_url}"
        help_center_issuer = "acme.zendesk.com"
        """
    return f"""
        [[ingest.keys]]
        name = "help-center"
        key_env = "JD_INGEST_KEY"
        source = "demo"
        allowed_origins = ["{ORIGIN}/"]
        rate_limit_per_minute = 0

        [[ingest.keys]]
        name = "signed"
        key_env = "JD_SIGNED_KEY"
        source = "demo"
        allowed_origins = ["{ORIGIN}"]
        identity_secret_env = "JD_IDENTITY"

        [[ingest.keys]]
        name = "tight"
        key_env = "JD_TIGHT_KEY"
        source = "demo"
        allowed_origins = ["{ORIGIN}"]
        rate_limit_per_minute = 2
        """ + (jwt_key if jwks_url else "")


def make_app(folder, jwks_url: str = ""):
    config = load_config(write_config(folder, keys_toml(jwks_url), customers=5), env=ENV)
    db = open_db(config.database_path)
    with db.atomic():  # a desk customer and one article in two locales, as a sync leaves them
        upsert_customers(db, "demo", [Customer(source_id="7", email=ANA, name="Ana")])
        upsert_articles(
            db,
            "demo",
            [
                Article("101", "en-us", "Export to CSV", "https://h.test/hc/en-us/articles/101-x"),
                Article("101", "es", "Exportar a CSV", "https://h.test/hc/es/articles/101-y"),
            ],
        )
    db.conn.close()
    return create_app(config), config


@pytest.fixture
def ingest(tmp_path):
    app, config = make_app(tmp_path)
    return app.test_client(), config


def at(minutes_ago: int = 0) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def view(event_id: str, customer: dict, article: dict | None = None, minutes_ago: int = 5) -> dict:
    return {
        "id": event_id,
        "type": "article_view",
        "occurred_at": at(minutes_ago),
        "customer": customer,
        "article": article or {"id": "101", "title": "Export to CSV", "locale": "en-us"},
    }


def post(client, events, *, key: str = KEY, origin: str | None = None):
    headers = {"Authorization": f"Bearer {key}"}
    if origin:
        headers["Origin"] = origin
    return client.post("/api/v1/events", json={"events": events}, headers=headers)


def store(config):
    return open_db(config.database_path, migrate=False)


def views_of(config, email: str) -> list[dict]:
    db = store(config)
    try:
        customer_id = find_customer(db, CustomerRef(email=email), "demo")
        return article_views_of(db, customer_id) if customer_id else []
    finally:
        db.conn.close()


# --- the answer: accepted, duplicates, rejected with index and reason -------------------


def test_good_events_are_kept_beside_bad_ones(ingest):
    client, config = ingest
    events = [
        view("e1", {"email": ANA}),
        view("e2", {"email": ANA}) | {"occurred_at": "yesterday"},
        view("e3", {}),
        {
            "id": "e4",
            "type": "search",
            "occurred_at": at(),
            "customer": {"email": ANA},
            "properties": {"query": "export csv", "result_count": 0},
        },  # fmt: skip
        view("e5", {"email": ANA}, {"url": "https://h.test/pricing"}),
        "not an object",
        view("e7", {"email": "not-an-email"}),
        {"id": "e8", "type": "csat", "occurred_at": at(), "customer": {"email": ANA}},
        {"id": "e9", "type": "search", "occurred_at": at(), "customer": {"email": ANA}},
        view("e10", {"email": ANA}) | {"occurred_at": at(-3 * 24 * 60)},
    ]
    response = post(client, events)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    errors = {r["index"]: r["error"] for r in body["rejected"]}
    assert sorted(errors) == [1, 2, 4, 5, 6, 7, 8, 9]
    assert errors[1].startswith("occurred_at:")
    assert errors[2].startswith("customer:")
    assert errors[4] == "article.url: not an article URL of demo"
    assert errors[5] == "expected a JSON object"
    assert errors[6] == "customer.email: not an email address"
    assert "help desk" in errors[7]
    assert errors[8] == "properties.query: required for a search"
    assert "future" in errors[9]
    assert [v["article_id"] for v in views_of(config, ANA)] == ["101"]


def test_resending_a_batch_counts_duplicates(ingest):
    client, config = ingest
    events = [view("d1", {"email": ANA}), view("d2", {"email": ANA}, minutes_ago=3)]
    assert post(client, events).get_json()["accepted"] == 2
    again = post(client, events + events).get_json()
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 4, [])
    assert len(views_of(config, ANA)) == 2


def test_an_article_url_alone_is_resolved_and_any_locale_counts_as_the_article(ingest):
    client, config = ingest
    spanish = {"url": "https://h.test/hc/es/articles/101-exportar", "locale": "es"}
    assert post(client, [view("u1", {"email": ANA}, spanish)]).get_json()["accepted"] == 1
    [stored] = views_of(config, ANA)
    assert (stored["article_source"], stored["article_id"], stored["article_locale"]) == (
        "demo",
        "101",
        "es",
    )


def test_event_ids_are_namespaced_per_portal_key(ingest):
    client, config = ingest
    post(client, [view("same", {"email": ANA})])
    hmac = customer_hmac(IDENTITY_SECRET, ANA)
    other = post(client, [view("same", {"email": ANA, "hmac": hmac})], key=SIGNED_KEY)
    assert other.get_json()["accepted"] == 1


# --- keys, sizes, rate limit ------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic " + KEY, "Bearer "])
def test_a_missing_or_wrong_key_is_401(ingest, header):
    client, config = ingest
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/events", json={"events": []}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_ingest_key"


def test_the_key_may_come_in_the_query_for_send_beacon(ingest):
    client, config = ingest
    body = json.dumps({"events": [view("b1", {"email": ANA})]})
    response = client.post(
        f"/api/v1/events?key={KEY}",
        data=body,
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN},
    )
    assert response.status_code == 200 and response.get_json()["accepted"] == 1
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_an_oversize_body_is_413_and_nothing_is_stored(ingest):
    client, config = ingest
    big = view("big", {"email": ANA}) | {"properties": {"pad": "x" * 1_000_000}}
    response = post(client, [big])
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    many = post(client, [view(f"m{i}", {"anonymous_id": "v-1"}) for i in range(1001)])
    assert many.status_code == 413 and many.get_json()["error"]["code"] == "too_many_events"
    db = store(config)
    assert count_touchpoints(db) == 0
    db.conn.close()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe not utf-8", "invalid_json"),
        (b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "invalid_json"),
        (b"[]", "invalid_body"),
        (b'{"events": {}}', "invalid_body"),
    ],
)
def test_a_body_that_is_not_an_event_batch_is_400(ingest, body, code):
    client, config = ingest
    response = client.post("/api/v1/events", data=body, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_the_rate_limit_answers_429_with_retry_after(ingest):
    client, config = ingest
    assert post(client, [], key=TIGHT_KEY).status_code == 200
    assert post(client, [], key=TIGHT_KEY).status_code == 200
    limited = post(client, [view("r1", {"email": ANA})], key=TIGHT_KEY, origin=ORIGIN)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert limited.headers["Access-Control-Allow-Origin"] == ORIGIN  # the snippet can read it
    assert post(client, [], key=KEY).status_code == 200  # other keys are not affected
    assert views_of(config, ANA) == []


# --- CORS ----------------------------------------------------------------------------------


def preflight(client, origin: str):
    return client.options(
        "/api/v1/events",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_cors_preflight_and_post_from_an_allowed_origin(ingest):
    client, config = ingest
    response = preflight(client, ORIGIN)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    posted = post(client, [view("c1", {"email": ANA})], origin=ORIGIN)
    assert posted.status_code == 200
    assert posted.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in posted.headers["Vary"]


def test_cors_refuses_other_origins_and_stores_nothing(ingest):
    client, config = ingest
    evil = "https://evil.example"
    response = preflight(client, evil)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    posted = post(client, [view("c2", {"email": ANA})], origin=evil)
    assert posted.status_code == 403 and "Access-Control-Allow-Origin" not in posted.headers
    # a look-alike of an allowed origin is another origin
    assert post(client, [], origin="http://help.acme.test").status_code == 403
    assert views_of(config, ANA) == []


# --- identity: identify, HMAC, Help Center JWT ------------------------------------------------


def test_identify_moves_earlier_anonymous_reads_to_the_customer(ingest):
    client, config = ingest
    visitor = {"anonymous_id": "v-9f2c"}
    reads = [view("a1", visitor, minutes_ago=30), view("a2", visitor, minutes_ago=20)]
    assert post(client, reads).get_json()["accepted"] == 2
    assert views_of(config, ANA) == []
    identify = {"id": "i1", "type": "identify", "occurred_at": at(10),
                "customer": {"anonymous_id": "v-9f2c", "email": ANA}}  # fmt: skip
    assert post(client, [identify]).get_json()["accepted"] == 1
    assert len(views_of(config, ANA)) == 2
    db = store(config)
    desk_customer = find_customer(db, CustomerRef(source_id="7"), "demo")
    assert find_customer(db, CustomerRef(anonymous_id="v-9f2c"), "demo") == desk_customer
    db.conn.close()


def test_identify_in_the_same_batch_as_the_reads(ingest):
    client, config = ingest
    visitor = {"anonymous_id": "v-same-batch"}
    events = [
        view("s1", visitor, minutes_ago=9),
        {
            "id": "s2",
            "type": "identify",
            "occurred_at": at(8),
            "customer": {"anonymous_id": "v-same-batch", "email": ANA.upper()},
        },  # fmt: skip
        view("s3", visitor, minutes_ago=7),
    ]
    assert post(client, events).get_json()["accepted"] == 3
    assert len(views_of(config, ANA)) == 2  # both reads, none left on a merged-away visitor


def test_identify_needs_a_visitor_and_a_person(ingest):
    client, config = ingest
    events = [
        {"id": "x1", "type": "identify", "occurred_at": at(), "customer": {"email": ANA}},
        {"id": "x2", "type": "identify", "occurred_at": at(), "customer": {"anonymous_id": "v"}},
    ]
    body = post(client, events).get_json()
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert "identify" in body["rejected"][0]["error"]


def test_with_an_identity_secret_unsigned_emails_are_never_trusted(ingest):
    client, config = ingest
    forged = {"email": ANA, "hmac": customer_hmac("another-secret", ANA), "anonymous_id": "v-x"}
    events = [
        view("h1", forged),
        view("h2", {"email": ANA}),  # nothing left to keep it under
        {"id": "h3", "type": "identify", "occurred_at": at(), "customer": forged},
    ]
    body = post(client, events, key=SIGNED_KEY).get_json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "not verified" in body["rejected"][0]["error"]
    assert body["warnings"] == [
        {
            "index": 0,
            "warning": "customer identity not verified "
            "(no valid customer.hmac or customer.jwt): kept as anonymous",
        }  # fmt: skip
    ]
    assert views_of(config, ANA) == []  # Ana's history is untouched
    db = store(config)
    anonymous = find_customer(db, CustomerRef(anonymous_id="v-x"), "demo")
    assert [v["article_id"] for v in article_views_of(db, anonymous)] == ["101"]
    db.conn.close()


def test_with_an_identity_secret_a_valid_hmac_attributes_the_event(ingest):
    client, config = ingest
    signed = {"email": ANA, "hmac": customer_hmac(IDENTITY_SECRET, ANA), "anonymous_id": "v-s"}
    identify = {"id": "k2", "type": "identify", "occurred_at": at(1), "customer": signed}
    body = post(client, [view("k1", {"anonymous_id": "v-s"}), identify], key=SIGNED_KEY)
    assert body.get_json()["accepted"] == 2
    assert len(views_of(config, ANA)) == 1
    # an HMAC of Ana's email does not vouch for an external id sent beside it
    mixed = signed | {"external_id": "someone-else"}
    warned = post(client, [view("k3", mixed)], key=SIGNED_KEY).get_json()
    assert warned["warnings"][0]["warning"] == "customer: kept only what customer.hmac signs"
    db = store(config)
    assert find_customer(db, CustomerRef(external_id="someone-else"), "demo") is None
    db.conn.close()


def test_a_key_without_identity_proof_marks_claims_unverified(ingest):
    client, config = ingest
    post(client, [view("n1", {"email": ANA})])
    db = store(config)
    customer_id = find_customer(db, CustomerRef(email=ANA), "demo")
    [entry] = timeline(db, customer_id, until=int(clock.now_seconds()) + 60, limit=5)
    assert entry["properties"]["identity"] == "unverified"
    db.conn.close()


def test_integers_past_64_bits_in_properties_reject_their_event_with_the_reason(ingest):
    """Browsers would round them and orjson refuses them: strict JSON only (issue 11)."""
    client, config = ingest
    order = 12345678901234567890123
    big = view("big-int", {"email": ANA}) | {"properties": {"order": order, "n": 7}}
    fits = view("fits", {"email": ANA}) | {"properties": {"order": 2**63 - 1}}
    body = post(client, [big, fits]).get_json()
    assert body["accepted"] == 1
    assert body["rejected"] == [
        {
            "index": 0,
            "error": "properties: integers must fit in 64 bits (send larger ones as text)",
        }
    ]
    db = store(config)
    customer_id = find_customer(db, CustomerRef(email=ANA), "demo")
    [entry] = timeline(db, customer_id, until=int(clock.now_seconds()) + 60, limit=5)
    db.conn.close()
    assert entry["properties"]["order"] == 2**63 - 1


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_help_center_jwt_names_the_customer(tmp_path, httpserver, rsa_key):
    jwk = RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True) | {"kid": "k1", "use": "sig"}
    httpserver.expect_request("/api/v2/help_center/integration/keys.json").respond_with_json(
        {"keys": [jwk]}
    )
    app, config = make_app(
        tmp_path, httpserver.url_for("/api/v2/help_center/integration/keys.json")
    )
    client = app.test_client()

    def token(**claims):
        payload = {"iss": "acme.zendesk.com", "exp": int(time.time()) + 600, "email": ANA,
                   "user_id": 7, "external_id": "cust-7"} | claims  # fmt: skip
        return jwt.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "k1"})

    good = {"jwt": token(), "anonymous_id": "v-j", "email": "someone@else.example"}
    expired = {"jwt": token(exp=int(time.time()) - 3600), "anonymous_id": "v-old"}
    body = post(client, [view("j1", good), view("j2", expired)], key=JWT_KEY).get_json()
    assert body["accepted"] == 2
    assert body["warnings"] == [
        {"index": 1, "warning": "customer.jwt not accepted (expired): kept as anonymous"}
    ]
    assert len(views_of(config, ANA)) == 1  # the claims win over the claimed email
    assert views_of(config, "someone@else.example") == []


def test_the_snippet_is_served_and_small(ingest):
    client, config = ingest
    response = client.get("/static/journeydesk-portal.js")
    assert response.status_code == 200
    assert "javascript" in response.content_type
    assert len(response.data) < 4096
    response.close()
