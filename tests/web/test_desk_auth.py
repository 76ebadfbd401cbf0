"""How each desk's app authenticates (DESIGN §5), through HTTP against real keys and servers.

- Zendesk signed URLs: a key pair generated here stands for the app's; the JWT goes in the
  form field `token` of a POST to /zendesk/sidebar, like Zendesk sends it.
- Freshdesk: the app secret buys a short-lived ticket-scoped token.
- Chatwoot: the per-install key, then the conversation and contact confirmed by a fake
  Chatwoot speaking its documented API on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from pathlib import Path

import pytest

from plugin.app import create_app
from plugin.security import verify_agent_token
from plugin.store import open_store
from plugin.web import desks
from tests.fakes.chatwoot import Contact, FakeChatwoot
from tests.fakes.serving import serving
from tests.helpers.config import SECRET
from tests.helpers.desk_app import (
    AUDIENCE,
    CHATWOOT_APP_KEY,
    CHATWOOT_TOKEN,
    FRESHDESK_APP_SECRET,
    SUBDOMAIN,
    add_desk_ticket,
    desk_config,
    rsa_key_pair,
    zaf_jwt,
)

pytestmark = pytest.mark.usefixtures("backend")

ORIGIN = "https://acme.zendesk.com"
APP_GUID = "6f6bd9b2-a8a0-4f8e-9c6a-2b0c1d9e0f11"


@pytest.fixture(scope="module")
def chatwoot_server():
    with serving() as server:
        yield server


@pytest.fixture(scope="module")
def keys():
    return rsa_key_pair()


@pytest.fixture(scope="module")
def setup(seeded_demo, tmp_path_factory, keys, chatwoot_server):
    patch = pytest.MonkeyPatch()
    fake = FakeChatwoot(chatwoot_server)
    config = desk_config(
        tmp_path_factory.mktemp("desks"),
        seeded_demo,
        patch,
        public_pem=keys[1],
        chatwoot_url=fake.base_url,
    )
    reader = demo_reader(config)
    add_desk_ticket(config, "zendesk", "501", reader["customer_id"])
    yield {"app": create_app(config), "config": config, "reader": reader}
    patch.undo()


@pytest.fixture
def client(setup):
    return setup["app"].test_client()


@pytest.fixture
def fake(setup, chatwoot_server):
    desks.chatwoot_confirmations(setup["app"]).clear()
    return FakeChatwoot(chatwoot_server)


def demo_reader(config) -> dict:
    """A demo customer with reading history (their email ties desk tickets to it)."""
    with open_store(config.database_path, migrate=False) as db:
        row = db.execute(
            "SELECT c.id, c.email, c.name, max(t.occurred_at) FROM customers c "
            "JOIN touchpoints t ON t.customer_id = c.id AND t.type = 'article_view' "
            "GROUP BY c.id HAVING count(*) >= 8 ORDER BY c.id LIMIT 1"
        ).fetchone()
    return {"customer_id": row[0], "email": row[1], "name": row[2], "last_view": row[3]}


def page_config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="jd-config">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


# --- Zendesk ---------------------------------------------------------------------------------


def post_zendesk(client, token: str | None):
    data = {} if token is None else {"token": token}
    return client.post(f"/zendesk/sidebar?origin={ORIGIN}&app_guid={APP_GUID}", data=data)


def test_a_valid_zendesk_jwt_opens_the_page_with_origin_app_guid_and_a_token(client, keys):
    response = post_zendesk(client, zaf_jwt(keys[0]))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    config = page_config(html)
    assert (config["origin"], config["app_guid"], config["desk"]) == (ORIGIN, APP_GUID, "zendesk")
    claims = verify_agent_token(SECRET, config["token"])
    assert (claims.source, claims.ticket_id, claims.agent) == ("zendesk", None, "agent-1842")
    assert claims.expires_at - time.time() <= desks.ZENDESK_TOKEN_TTL
    assert desks.ZAF_SDK_URL in html
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors https://acme.zendesk.com" in policy
    assert "script-src 'self' https://static.zdassets.com" in policy
    assert response.headers["Cache-Control"] == "no-store"


def test_the_zendesk_token_opens_the_ticket_fragment_and_check_reply(client, keys, setup):
    token = page_config(post_zendesk(client, zaf_jwt(keys[0])).get_data(as_text=True))["token"]
    headers = {"Authorization": f"Bearer {token}"}
    fragment = client.get("/sidebar/zendesk/501?fragment=1", headers=headers)
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert setup["reader"]["name"] in html and "<html" not in html
    assert 'class="jd-strings"' in html
    checked = client.post(
        "/api/v1/tickets/zendesk/501/check-reply", json={"body": "hello"}, headers=headers
    )
    assert checked.status_code == 200


@pytest.mark.parametrize(
    "case, code",
    [
        ("expired", "zendesk_expired"),
        ("wrong_audience", "zendesk_bad_audience"),
        ("wrong_issuer", "zendesk_bad_issuer"),
        ("wrong_key", "zendesk_bad_signature"),
        ("hs256_with_public_key", "zendesk_bad_algorithm"),
        ("no_exp", "zendesk_missing_claim"),
        ("garbage", "zendesk_malformed"),
        ("missing", "zendesk_missing"),
    ],
)
def test_a_bad_zendesk_jwt_is_a_401_page_without_data(client, keys, case, code, setup):
    key, pem = keys
    token = {
        "expired": lambda: zaf_jwt(key, now=time.time() - 3600),
        "wrong_audience": lambda: zaf_jwt(key, aud="https://other.zendesk.com/installations/1"),
        "wrong_issuer": lambda: zaf_jwt(key, iss="evil.zendesk.com"),
        "wrong_key": lambda: zaf_jwt(rsa_key_pair()[0]),
        "hs256_with_public_key": lambda: hs256_token(pem),
        "no_exp": lambda: zaf_jwt(key, exp=None),
        "garbage": lambda: "not.a.jwt",
        "missing": lambda: None,
    }[case]()
    response = post_zendesk(client, token)
    assert response.status_code == 401, case
    html = response.get_data(as_text=True)
    assert "jd-config" not in html and setup["reader"]["email"] not in html
    assert "text/html" in response.content_type


def test_a_wrong_audience_logs_the_one_zendesk_sent(client, keys, caplog):
    """The audience's form is undocumented: the admin reads the real one in the log."""
    sent = "https://acme.zendesk.com/api/v2/apps/installations/9999.json"
    with caplog.at_level("WARNING", logger="journeydesk.desks"):
        assert post_zendesk(client, zaf_jwt(keys[0], aud=sent)).status_code == 401
    assert any(sent in r.getMessage() and AUDIENCE in r.getMessage() for r in caplog.records)


def test_opening_the_zendesk_page_without_the_signed_post_is_refused(client):
    assert client.get(f"/zendesk/sidebar?origin={ORIGIN}&app_guid={APP_GUID}").status_code == 401


def hs256_token(public_pem: str) -> str:
    """Algorithm confusion: "signed" with HS256 using the public PEM as the HMAC secret."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    claims = {"iss": "acme.zendesk.com", "aud": AUDIENCE, "exp": now + 300, "iat": now}
    payload = b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


# --- Freshdesk -------------------------------------------------------------------------------


def desk_token(client, secret: str | None, body, source: str = "freshdesk"):
    headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
    return client.post(f"/api/v1/desk-token/{source}", json=body, headers=headers)


def test_the_freshdesk_app_secret_buys_a_ticket_scoped_short_lived_token(client):
    response = desk_token(client, FRESHDESK_APP_SECRET, {"ticket_id": "123"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["expires_in"] == desks.DESK_TOKEN_TTL and body["ticket_id"] == "123"
    claims = verify_agent_token(SECRET, body["token"])
    assert (claims.source, claims.ticket_id) == ("freshdesk", "123")
    assert response.headers["Cache-Control"] == "no-store"
    other = client.get(
        "/api/v1/tickets/freshdesk/124/journey",
        headers={"Authorization": f"Bearer {body['token']}"},
    )
    assert other.status_code == 403
    numeric = desk_token(client, FRESHDESK_APP_SECRET, {"ticket_id": 77})
    assert verify_agent_token(SECRET, numeric.get_json()["token"]).ticket_id == "77"


@pytest.mark.parametrize(
    "secret, source",
    [
        (None, "freshdesk"),
        ("wrong-secret", "freshdesk"),
        (FRESHDESK_APP_SECRET[:-1], "freshdesk"),
        (FRESHDESK_APP_SECRET, "zendesk"),
        (FRESHDESK_APP_SECRET, "nowhere"),
    ],
)
def test_a_wrong_app_secret_gets_a_401_json(client, secret, source):
    response = desk_token(client, secret, {"ticket_id": "123"}, source=source)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "app_secret_invalid"
    assert "token" not in response.get_json()


@pytest.mark.parametrize(
    "body", [None, {}, {"ticket_id": ""}, {"ticket_id": "../1"}, {"ticket_id": True}, [1]]
)
def test_a_bad_desk_token_body_is_a_400(client, body):
    response = desk_token(client, FRESHDESK_APP_SECRET, body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "ticket_id_required"


# --- Chatwoot --------------------------------------------------------------------------------


def chatwoot_page(client, conversation: int, contact: int, key: str = CHATWOOT_APP_KEY):
    return client.get(f"/sidebar/chatwoot/{conversation}?key={key}&contact={contact}")


def add_conversation(fake: FakeChatwoot, setup, conversation: int, contact: int, **fields):
    reader = setup["reader"]
    person = Contact(contact, reader["name"], reader["email"])
    return fake.add_conversation(
        conversation, person, created_at=reader["last_view"] + 900, **fields
    )


def test_the_dashboard_app_page_needs_the_install_key(client, setup):
    page = client.get(f"/chatwoot/app?key={CHATWOOT_APP_KEY}")
    assert page.status_code == 200
    assert "chatwoot-dashboard.js" in page.get_data(as_text=True)
    assert "frame-ancestors http://127.0.0.1:" in page.headers["Content-Security-Policy"]
    for bad in ("", "?key=", "?key=wrong", f"?key={CHATWOOT_APP_KEY}x"):
        assert client.get(f"/chatwoot/app{bad}").status_code == 401
    script = client.get("/static/chatwoot-dashboard.js")
    shipped = Path(__file__).resolve().parents[2] / "apps" / "chatwoot" / "dashboard.js"
    assert script.get_data() == shipped.read_bytes()
    script.close()


def test_a_confirmed_conversation_shows_the_contacts_journey(client, fake, setup):
    add_conversation(fake, setup, 41, 9001)
    response = chatwoot_page(client, 41, 9001)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert setup["reader"]["name"] in html
    assert html.count('class="article-title"') >= 1  # the history behind the contact's email
    assert fake.calls("/api/v1/accounts/3/conversations/41") == 1
    claims = verify_agent_token(SECRET, page_config(html)["token"])
    assert (claims.source, claims.ticket_id) == ("chatwoot", "41")
    assert "frame-ancestors 'self' http://127.0.0.1:" in response.headers["Content-Security-Policy"]
    # confirmed moments ago: the next load does not ask Chatwoot again
    assert chatwoot_page(client, 41, 9001).status_code == 200
    assert fake.calls("/conversations/41") == 1


@pytest.mark.parametrize(
    "case", ["other_contact", "other_account", "unknown", "forbidden", "not_numeric"]
)
def test_an_unconfirmed_conversation_is_a_404_without_data(client, fake, setup, case):
    add_conversation(fake, setup, 42, 9002)
    add_conversation(fake, setup, 43, 9003, account_id=99)
    fake.forbid(44)
    add_conversation(fake, setup, 44, 9004)
    conversation, contact = {
        "other_contact": (42, 9003),
        "other_account": (43, 9003),
        "unknown": (45, 9002),
        "forbidden": (44, 9004),
        "not_numeric": ("42x", 9002),
    }[case]
    response = client.get(
        f"/sidebar/chatwoot/{conversation}?key={CHATWOOT_APP_KEY}&contact={contact}"
    )
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert setup["reader"]["email"] not in body and "jd-config" not in body


def test_a_wrong_key_never_reaches_chatwoot(client, fake, setup):
    add_conversation(fake, setup, 46, 9006)
    assert chatwoot_page(client, 46, 9006, key="wrong").status_code == 401
    assert client.get("/sidebar/chatwoot/46?contact=9006").status_code == 401
    assert fake.calls() == 0


def test_chatwoot_rejecting_our_api_token_is_a_clear_502(client, fake, setup):
    add_conversation(fake, setup, 47, 9007)
    fake.token = "rotated"
    response = chatwoot_page(client, 47, 9007)
    assert response.status_code == 502
    assert "token_env" in response.get_data(as_text=True)
    assert CHATWOOT_TOKEN not in response.get_data(as_text=True)


@pytest.mark.parametrize("written", ["https://{}.zendesk.com", "https://{}.zendesk.com/"])
def test_the_issuer_may_be_written_as_a_url(client, keys, written):
    token = zaf_jwt(keys[0], iss=written.format(SUBDOMAIN))
    assert post_zendesk(client, token).status_code == 200


@pytest.mark.parametrize(
    "claims, reason",
    [({"iss": "evil.zendesk.com"}, "bad_issuer"), ({"exp": None}, "missing_claim")],
)
def test_every_refused_claim_is_logged_with_what_was_sent_and_expected(
    client, keys, caplog, claims, reason
):
    with caplog.at_level("WARNING", logger="journeydesk.desks"):
        assert post_zendesk(client, zaf_jwt(keys[0], **claims)).status_code == 401
    [line] = [r.getMessage() for r in caplog.records if "signed request refused" in r.getMessage()]
    assert f"({reason})" in line and f"'{SUBDOMAIN}.zendesk.com'" in line
    if "iss" in claims:
        assert "'evil.zendesk.com'" in line
