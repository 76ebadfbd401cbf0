"""The webhook and help desk channels against real receivers, and the unsubscribe page."""

from __future__ import annotations

import json

import pytest

from plugin.app import create_app
from plugin.outreach.channels import SIGNATURE_HEADER
from plugin.outreach.engine import run_outreach
from plugin.security import mint_unsubscribe_token, verify_generic_webhook
from plugin.store import open_store
from plugin.store.outbox import list_messages
from plugin.store.suppressions import is_suppressed
from tests.helpers.config import SECRET
from tests.outreach.conftest import outreach_config

pytestmark = pytest.mark.usefixtures("backend")

WEBHOOK = """
[[outreach.rules]]
name = "renewal-open-ticket"
enabled = true
schedule = "0 8 * * 1-5"
channel = "webhook"
url = "{url}"
secret_env = "TEST_HOOK_SECRET"
subject = "Renewal with an open ticket: {{{{ customer.name }}}}"
template = "renewal_alert"
cooldown_days = 7
[outreach.rules.audience]
all = [ {{ fact = "signal:renewal_due", op = "eq", value = true }},
        {{ fact = "open_tickets", op = "gte", value = 1 }} ]
"""


def test_webhook_alerts_are_signed_json_posts(tmp_path, seeded_demo, server, monkeypatch):
    from werkzeug import Response

    monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret")
    received = []

    def receive(request):
        received.append((request.get_data(), request.headers.get(SIGNATURE_HEADER)))
        return Response("ok", 200)

    server.clear()
    server.expect_request("/account-team", method="POST").respond_with_handler(receive)
    rules = WEBHOOK.format(url=server.url_for("/account-team"))
    config = outreach_config(tmp_path, seeded_demo, port=1, rules=rules)

    report = run_outreach(config)

    assert report.delivery.sent == len(received) > 0
    for body, signature in received:
        verify_generic_webhook("hook-secret", body, signature)
        alert = json.loads(body)
        assert alert["rule"] == "renewal-open-ticket"
        assert alert["subject"].startswith("Renewal with an open ticket: ")
        assert {r["fact"] for r in alert["reasons"]} == {"signal:renewal_due", "open_tickets"}
        assert alert["customer"]["email"]


def test_helpdesk_messages_go_through_the_customers_desk(tmp_path, seeded_demo):
    rules = """
    [[outreach.rules]]
    name = "check-in"
    enabled = true
    schedule = "0 9 * * *"
    channel = "helpdesk"
    subject = "How is it going?"
    body = { en = "Hi {{ customer.first_name }}", es = "Hola, {{ customer.first_name }}" }
    [outreach.rules.audience]
    all = [ { fact = "days_since_last_activity", op = "gte", value = 60 } ]
    """
    config = outreach_config(tmp_path, seeded_demo, port=1, rules=rules)
    report = run_outreach(config)
    with open_store(config.database_path) as db:
        sent = list_messages(db, status="sent")
    assert report.delivery.sent == len(sent) > 0
    assert all(m["recipient"].startswith("demo:") for m in sent)
    assert all(m["external_id"].startswith("demo-outbound-") for m in sent)


def test_the_unsubscribe_page_opts_out_and_back_in_and_never_500s(tmp_path, seeded_demo):
    config = outreach_config(tmp_path, seeded_demo, port=1)
    client = create_app(config).test_client()
    token = mint_unsubscribe_token(SECRET, "ana@example.com")

    page = client.get(f"/u/{token}?lang=es")
    assert page.status_code == 200 and "Darse de baja" in page.text
    assert "ana@example.com" in page.text
    with open_store(config.database_path) as db:
        assert not is_suppressed(db, "ana@example.com")  # a GET changes nothing

    assert client.post(f"/u/{token}").status_code == 200
    with open_store(config.database_path) as db:
        assert is_suppressed(db, "ANA@example.com")
    back = client.post(f"/u/{token}/resubscribe")
    assert back.status_code == 200 and "Subscribe again" not in back.text
    with open_store(config.database_path) as db:
        assert not is_suppressed(db, "ana@example.com")

    hostile = mint_unsubscribe_token(SECRET, "<script>@x")
    assert "<script>" not in client.get(f"/u/{hostile}").text
    for bad in ("nope", token[:-2] + "AA", "u1.%00.x", mint_unsubscribe_token("other", "a@b.c")):
        answer = client.get(f"/u/{bad}")
        assert answer.status_code == 404, bad
        assert client.post(f"/u/{bad}").status_code == 404
