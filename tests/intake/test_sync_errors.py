"""`journeydesk sync` against a desk that says no: one sentence naming the setting to fix,
a non-zero exit, no traceback. A plan without Zendesk's Events API is a notice, not a
failure. The CLI runs as a real subprocess; the fake desks run in this process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from plugin.app import create_app
from plugin.config import load_config
from plugin.security import mint_agent_token
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk
from tests.fakes.zendesk import TOKEN, FakeZendesk
from tests.helpers.cli import cli_env, journeydesk
from tests.helpers.config import SECRET
from tests.helpers.desks import (
    TOKEN_ENV,
    ZENDESK_ENV,
    add_customer,
    add_ticket,
    add_view,
    freshdesk_config,
    zendesk_config,
)

MONITOR = {"Authorization": f"Bearer {mint_agent_token(SECRET, source='zendesk', ticket_id=None)}"}


@pytest.fixture
def zendesk(server):
    server.clear()
    fake = FakeZendesk(server)
    add_customer(fake, 1)
    add_view(fake, 1, 500, at=1_760_000_000)
    add_ticket(fake, 10, 1, at=1_760_000_600)
    yield fake
    server.check_handler_errors()


def sync(config: Path, token: str = TOKEN, **env: str) -> subprocess.CompletedProcess:
    environment = cli_env({**ZENDESK_ENV, TOKEN_ENV: token, **env})
    return journeydesk("sync", "--config", str(config), env=environment, timeout=60)


def one_sentence(result: subprocess.CompletedProcess) -> str:
    """The error line; fails unless the run failed cleanly with exactly one."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    sentence = errors[0].removeprefix("Error: ")
    assert sentence.endswith(".") and sentence.count(". ") == 0, sentence
    return sentence


def test_a_wrong_token_names_the_token_setting(tmp_path, zendesk):
    result = sync(zendesk_config(tmp_path, zendesk.base_url), token="not-the-token")
    sentence = one_sentence(result)
    assert "rejected the credentials (HTTP 401" in sentence
    assert "connectors[0].token_env" in sentence and "$JD_TEST_ZENDESK_TOKEN" in sentence
    assert "not-the-token" not in result.stderr


def test_a_user_without_the_admin_role_gets_403_and_the_same_pointer(tmp_path, zendesk):
    zendesk.fail("/api/v2/help_center/incremental/articles", 403)
    sentence = one_sentence(sync(zendesk_config(tmp_path, zendesk.base_url)))
    assert "HTTP 403" in sentence and "connectors[0].token_env" in sentence
    assert "role" in sentence


def test_an_unknown_account_names_where_the_desk_is(tmp_path, zendesk):
    # An unknown Zendesk subdomain answers an HTML page, not the API's JSON.
    zendesk.fail("/api/v2", 404, times=10, body="<html><h1>Oops! Help Center closed</h1></html>")
    sentence = one_sentence(sync(zendesk_config(tmp_path, zendesk.base_url)))
    assert "has no API at" in sentence and "connectors[0].base_url" in sentence


def test_an_api_answering_json_404_names_where_the_desk_is(tmp_path, zendesk):
    # A desk's API that answers, but has no such list for this account (e.g. a proxy
    # in front of another account): a JSON 404, not the HTML page of an unknown account.
    zendesk.fail("/api/v2", 404, times=10, body='{"error": "InvalidEndpoint"}')
    sentence = one_sentence(sync(zendesk_config(tmp_path, zendesk.base_url)))
    assert "not found (HTTP 404)" in sentence and "connectors[0].base_url" in sentence


def test_a_host_that_does_not_resolve_names_where_the_desk_is(tmp_path):
    config = zendesk_config(tmp_path, "https://acme-journeydesk-test.invalid")
    sentence = one_sentence(sync(config))
    assert "does not resolve" in sentence and "connectors[0].base_url" in sentence


def test_a_refused_connection_is_retried_then_named(tmp_path):
    config = zendesk_config(tmp_path, "http://127.0.0.1:1", "max_retries = 1\n")
    result = sync(config)
    sentence = one_sentence(result)
    assert "after 2 attempts" in sentence and "connectors[0].base_url" in sentence


def test_freshdesk_names_its_api_key_setting(tmp_path, server):
    fake = FakeFreshdesk(server)
    path = freshdesk_config(tmp_path, fake.base_url, key_env="JD_TEST_FRESHDESK_KEY")
    result = sync(path, JD_TEST_FRESHDESK_KEY="wrong-key")
    server.check_handler_errors()
    sentence = one_sentence(result)
    assert "Freshdesk rejected" in sentence and "connectors[0].api_key_env" in sentence
    assert API_KEY not in result.stderr and "wrong-key" not in result.stderr


def test_one_desk_failing_does_not_stop_the_others(tmp_path, zendesk):
    freshdesk_server = HTTPServer(host="127.0.0.1", threaded=True)
    freshdesk_server.start()
    try:
        freshdesk = FakeFreshdesk(freshdesk_server)
        freshdesk.add_contact(1, email="ana@example.com", name="Ana")
        freshdesk.add_ticket(requester_id=1)
        second = f"""
            [[connectors]]
            name = "support"
            type = "freshdesk"
            domain = "acme"
            api_key_env = "JD_TEST_FRESHDESK_KEY"
            base_url = "{freshdesk.base_url}"
            """
        config = zendesk_config(tmp_path, zendesk.base_url, connector=second)

        result = sync(config, token="not-the-token", JD_TEST_FRESHDESK_KEY=API_KEY)
        freshdesk_server.check_handler_errors()
    finally:
        freshdesk_server.stop()

    sentence = one_sentence(result)  # exit 1, one line for the one desk that failed
    assert "rejected the credentials" in sentence and "connectors[0].token_env" in sentence
    assert "support: synced" in result.stdout and "tickets: 1" in result.stdout


def test_a_plan_without_the_events_api_still_syncs_and_says_so_once(tmp_path, zendesk):
    zendesk.events_status = 403
    config = zendesk_config(tmp_path, zendesk.base_url)

    result = sync(config)

    assert result.returncode == 0, result.stderr
    assert "customers: 1" in result.stdout and "tickets: 1" in result.stdout
    notes = [line.strip() for line in result.stdout.splitlines() if "note:" in line]
    assert len(notes) == 1 and "portal snippet" in notes[0], result.stdout
    assert "credentials" not in notes[0]  # the 403 is the plan, not the token
    assert "Traceback" not in result.stderr

    health = create_app(load_config(config, env={**os.environ, **ZENDESK_ENV}))
    # the notices are details: for an admin or a monitor with a token (DESIGN §4)
    body = health.test_client().get("/healthz", headers=MONITOR).get_json()
    zendesk_sync = body["syncs"]["zendesk"]
    assert zendesk_sync["status"] == "ok"
    assert len(zendesk_sync["notices"]) == 1
    assert "Events API is not available" in zendesk_sync["notices"][0]

    zendesk.events_status = None  # the plan is upgraded: the next sync clears the notice
    assert sync(config).returncode == 0
    body = health.test_client().get("/healthz", headers=MONITOR).get_json()
    assert body["syncs"]["zendesk"]["notices"] == []


def test_an_unknown_freshdesk_account_names_where_the_desk_is(tmp_path, server):
    fake = FakeFreshdesk(server)
    # Freshdesk answers an account that does not exist with a web page, not the API.
    fake.fail(404, times=50, body="<html><body>There is no helpdesk here</body></html>")
    path = freshdesk_config(tmp_path, fake.base_url, key_env="JD_TEST_FRESHDESK_KEY")
    sentence = one_sentence(sync(path, JD_TEST_FRESHDESK_KEY=API_KEY))
    server.check_handler_errors()
    assert "Freshdesk has no API at" in sentence and "connectors[0].base_url" in sentence
