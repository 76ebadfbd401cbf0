"""The shared HTTP client against a real local server (the fake Freshdesk)."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Iterator

import pytest
from requests.auth import HTTPBasicAuth

from connectors.errors import (
    AuthError,
    BadPayloadError,
    ConnectorError,
    NotFoundError,
    RetriesExhaustedError,
)
from connectors.http import (
    AccessDeniedError,
    HttpClient,
    HttpStatusError,
    ResourceNotFoundError,
)
from tests.fakes.freshdesk import API_KEY, DOMAIN, FakeFreshdesk
from tests.fakes.serving import serving

SECRETS = (API_KEY, base64.b64encode(f"{API_KEY}:X".encode()).decode())


@pytest.fixture(scope="module")
def server() -> Iterator:
    with serving() as running:
        yield running


@pytest.fixture
def fake(server) -> FakeFreshdesk:
    return FakeFreshdesk(server)


class Sleeps(list):
    """The injected sleep: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def client(fake: FakeFreshdesk, sleeps: Sleeps, key: str = API_KEY, **options) -> HttpClient:
    return HttpClient(
        options.pop("base_url", fake.base_url),
        HTTPBasicAuth(key, "X"),
        desk="Freshdesk",
        credentials_setting="connectors.freshdesk.api_key_env",
        domain_setting="connectors.freshdesk.domain",
        sleep=sleeps,
        **options,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# -- success paths ---------------------------------------------------------------------------


def test_get_json_sends_basic_auth_and_parses(fake, sleeps):
    fake.add_contact(7)
    rows = client(fake, sleeps).get_json("/api/v2/contacts", params={"updated_since": "2000-01-01"})
    assert [row["id"] for row in rows] == [7]
    assert sleeps == []


def test_next_links_on_the_desk_host_are_rerooted_on_the_base_url(fake, sleeps):
    for contact_id in range(1, 6):
        fake.add_contact(contact_id)
    http = client(fake, sleeps)
    rows, next_url = http.get_json_page("/api/v2/contacts", {"per_page": 2})
    seen = [row["id"] for row in rows]
    while next_url:
        # Freshdesk writes its own host in `link`; credentials must stay on the base URL.
        assert next_url.startswith(f"https://{DOMAIN}/")
        rows, next_url = http.get_json_page(next_url)
        seen += [row["id"] for row in rows]
    assert seen == [1, 2, 3, 4, 5]
    assert http.url_for(f"https://{DOMAIN}/api/v2/contacts?page=2") == (
        f"{fake.base_url}/api/v2/contacts?page=2"
    )


def test_put_and_post_send_json_and_accept_empty_answers(fake, sleeps):
    fake.add_contact(3, email="ann@example.com")
    http = client(fake, sleeps)
    body = {"activity": {"name": "x", "timestamp": "2024-01-01T00:00:00Z"}, "contact": {"id": 3}}
    assert http.post_json("/api/v2/contact-activities", body) is None
    fake.add_ticket(9)
    assert http.put_json("/api/v2/tickets/9", {"priority": 3})["priority"] == 3


# -- retries -----------------------------------------------------------------------------------


def test_5xx_is_retried_with_jittered_backoff(fake, sleeps):
    fake.fail(500, times=2)
    assert client(fake, sleeps, backoff_base=0.5).get_json("/api/v2/contacts") == []
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # doubling, half of it random


def test_retries_exhausted_after_max_retries(fake, sleeps):
    fake.fail(503, times=99)
    with pytest.raises(RetriesExhaustedError) as caught:
        client(fake, sleeps, max_retries=3).get("/api/v2/contacts")
    assert len(fake.requests) == 4 and len(sleeps) == 3
    assert "4 attempts" in str(caught.value) and "HTTP 503" in str(caught.value)


def test_429_waits_the_retry_after_the_desk_asks_for(fake, sleeps, caplog):
    fake.fail(429, headers={"Retry-After": "7"})
    with caplog.at_level(logging.INFO, logger="journeydesk.http"):
        assert client(fake, sleeps).get_json("/api/v2/contacts") == []
    assert sleeps == [7.0]
    assert any(r.levelno == logging.WARNING and "7.0 s" in r.getMessage() for r in caplog.records)


def test_retry_after_is_capped(fake, sleeps):
    fake.fail(429, headers={"Retry-After": "3600"})
    client(fake, sleeps, max_retry_after=120).get("/api/v2/contacts")
    assert sleeps == [120.0]


def test_retry_after_as_http_date_and_missing_header(fake, sleeps):
    fake.fail(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})  # in the past
    fake.fail(429)  # no header: our own backoff
    client(fake, sleeps, backoff_base=1.0).get("/api/v2/contacts")
    assert sleeps[0] == 0.0 and 1.0 <= sleeps[1] <= 2.0  # second attempt: doubled


def test_a_slow_answer_times_out_and_is_retried(fake, sleeps):
    fake.fail(None, delay=0.4)  # answers normally, too late
    assert client(fake, sleeps, timeout=0.1).get_json("/api/v2/contacts") == []
    assert len(fake.requests) == 2 and len(sleeps) == 1


def test_per_call_timeout_overrides_the_default(fake, sleeps):
    fake.fail(None, delay=0.4, times=3)
    with pytest.raises(RetriesExhaustedError, match="timed out"):
        client(fake, sleeps, timeout=5, max_retries=2).get("/api/v2/contacts", timeout=0.1)


def test_connection_refused_is_retried_then_exhausted(sleeps):
    http = HttpClient(
        f"http://127.0.0.1:{free_port()}",
        None,
        desk="Freshdesk",
        credentials_setting="k",
        max_retries=2,
        sleep=sleeps,
    )
    with pytest.raises(RetriesExhaustedError, match="connection failed"):
        http.post_json("/api/v2/tickets/outbound_email", {})  # never sent: safe to retry
    assert len(sleeps) == 2


def test_post_is_not_retried_on_5xx_or_after_sending(fake, sleeps):
    fake.fail(500, method="POST")
    with pytest.raises(HttpStatusError) as caught:
        client(fake, sleeps).post_json("/api/v2/tickets/outbound_email", {"email": "a@b.c"})
    assert caught.value.status == 500 and len(fake.paths("POST")) == 1
    assert "may already have acted" in str(caught.value)
    fake.fail(None, delay=0.4, method="POST")
    with pytest.raises(ConnectorError, match="may already have acted"):
        client(fake, sleeps, timeout=0.1).post_json("/api/v2/tickets/outbound_email", {})
    assert len(fake.paths("POST")) == 2 and sleeps == []


def test_post_is_retried_on_429(fake, sleeps):
    fake.add_contact(3)
    fake.fail(429, method="POST", headers={"Retry-After": "2"})
    body = {"activity": {"name": "x", "timestamp": "2024-01-01T00:00:00Z"}, "contact": {"id": 3}}
    client(fake, sleeps).post_json("/api/v2/contact-activities", body)
    assert sleeps == [2.0] and len(fake.activities) == 1


# -- pacing ------------------------------------------------------------------------------------


def test_paces_by_freshdesk_remaining_before_hitting_429(fake, sleeps):
    fake.rate_total = fake.remaining = 4

    def wait(seconds: float) -> None:
        sleeps.append(seconds)
        fake.refill()  # the minute passes

    http = client(fake, wait, pace_default_wait=60)
    for _ in range(10):
        http.get("/api/v2/contacts")
    assert 429 not in fake.statuses and len(fake.requests) == 10
    assert sleeps and all(s == pytest.approx(60, abs=1) for s in sleeps)


def test_paces_by_zendesk_reset_headers(fake, sleeps, caplog):
    headers = {"ratelimit-remaining": "0", "ratelimit-reset": "12", "Content-Type": "text/json"}
    fake.fail(200, body="{}", headers=headers)
    http = client(fake, sleeps)
    with caplog.at_level(logging.INFO, logger="journeydesk.http"):
        http.get("/api/v2/contacts")
        assert sleeps == []  # the wait is lazy: nothing to wait for after the last call
        http.get("/api/v2/contacts")
    assert sleeps == [pytest.approx(12, abs=0.5)]
    assert any(
        r.levelno == logging.INFO and "rate budget" in r.getMessage() for r in caplog.records
    )


def test_paces_by_zendesk_endpoint_budget_header(fake, sleeps):
    budget = {"Zendesk-RateLimit-incremental-exports-cursor": "total=20; remaining=1; resets=41"}
    fake.fail(200, body="[]", headers=budget)
    http = client(fake, sleeps)
    http.get("/api/v2/contacts")
    http.get("/api/v2/contacts")
    assert sleeps == [pytest.approx(41, abs=0.5)]


# -- errors and their messages ----------------------------------------------------------------


def test_401_is_an_auth_error_naming_the_setting_without_the_key(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "fd-wrong-key-0000111122"
    with pytest.raises(AuthError) as caught:
        client(fake, sleeps, key=wrong).get_json("/api/v2/tickets")
    message = str(caught.value)
    assert "Freshdesk rejected the credentials" in message
    assert "connectors.freshdesk.api_key_env" in message
    assert caught.value.setting == "connectors.freshdesk.api_key_env"
    assert wrong not in message and wrong not in caplog.text
    assert sleeps == []  # no point retrying bad credentials


def test_403_is_an_auth_error(fake, sleeps):
    fake.fail(403, body='{"code":"access_denied"}')
    with pytest.raises(AccessDeniedError, match="HTTP 403") as caught:
        client(fake, sleeps).get("/api/v2/settings/helpdesk")
    assert isinstance(caught.value, AuthError)  # callers that only know AuthError still stop


def test_secrets_never_reach_messages_or_logs(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    echo = f'{{"description": "bad key {API_KEY}", "errors": []}}'
    fake.fail(400, body=echo, headers={"Content-Type": "application/json"})
    fake.fail(500, times=9)
    http = client(fake, sleeps, max_retries=2, base_url=f"http://{API_KEY}:X@127.0.0.1:1")
    with pytest.raises(ConnectorError) as first:
        client(fake, sleeps).get("/api/v2/tickets")
    assert "[redacted]" in str(first.value)
    with pytest.raises(RetriesExhaustedError) as second:
        client(fake, sleeps, max_retries=2).get("/api/v2/tickets", params={"email": "a@b.c"})
    assert "email" not in str(second.value)  # queries are left out of messages
    with pytest.raises(RetriesExhaustedError) as third:
        http.get("/api/v2/tickets")
    assert_no_secret(str(first.value), str(second.value), str(third.value), caplog.text)


def test_html_404_means_the_domain_is_wrong(fake, sleeps):
    with pytest.raises(NotFoundError) as caught:
        client(fake, sleeps).get("/no/such/api")
    assert not isinstance(caught.value, ResourceNotFoundError)
    assert caught.value.setting == "connectors.freshdesk.domain"
    assert "check connectors.freshdesk.domain" in str(caught.value)


def test_json_404_is_one_missing_record(fake, sleeps):
    with pytest.raises(ResourceNotFoundError) as caught:
        client(fake, sleeps).get("/api/v2/tickets/424242")
    assert caught.value.setting is None


def test_dns_failure_names_the_domain_setting(sleeps):
    http = HttpClient(
        "https://no-such-account.invalid",
        None,
        desk="Freshdesk",
        credentials_setting="k",
        domain_setting="connectors.freshdesk.domain",
        timeout=2,
        sleep=sleeps,
    )
    with pytest.raises(NotFoundError, match="does not resolve") as caught:
        http.get("/api/v2/tickets")
    assert caught.value.setting == "connectors.freshdesk.domain" and sleeps == []


def test_other_4xx_carries_status_and_the_desks_reason(fake, sleeps):
    with pytest.raises(HttpStatusError) as caught:
        client(fake, sleeps).get("/api/v2/tickets", params={"per_page": 500})
    assert caught.value.status == 400
    assert "HTTP 400" in str(caught.value) and "per_page" in str(caught.value)


def test_non_json_answer_is_a_bad_payload(fake, sleeps):
    fake.fail(200, body='[{"id": 1, "upd', headers={"Content-Type": "application/json"})
    with pytest.raises(BadPayloadError, match="not JSON"):
        client(fake, sleeps).get_json("/api/v2/tickets")
