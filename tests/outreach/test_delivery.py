"""A rule run against a real SMTP server: exactly the expected messages, once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plugin import clock
from plugin.clock import now_epoch
from plugin.config import load_config
from plugin.journey.facts import compute_facts
from plugin.outreach.delivery import MAX_ATTEMPTS
from plugin.outreach.engine import run_outreach
from plugin.security import verify_unsubscribe_token
from plugin.store import open_store
from plugin.store.customers import contact_details
from plugin.store.history import customer_aggregates
from plugin.store.outbox import list_messages, status_counts
from tests.helpers.config import SECRET
from tests.outreach.conftest import REPEAT_READER, SILENT, outreach_config

pytestmark = pytest.mark.usefixtures("backend")


def repeat_readers(config) -> set[str]:
    """Who the repeat-reader rule must write to, straight from the facts."""
    now = now_epoch()
    with open_store(config.database_path) as db:
        contacts = contact_details(db)
        found = set()
        for cid, agg in customer_aggregates(db, None, now=now).items():
            facts = compute_facts(agg, now)
            if (
                facts["max_views_same_article_7d"] >= 3
                and facts["tickets_last_7d"] == 0
                and facts["open_tickets"] == 0
            ):
                found.add(contacts[cid][1].lower())
    return found


def test_a_run_delivers_exactly_the_expected_messages(outreach, smtp_sink):
    expected = repeat_readers(outreach)
    assert len(expected) >= 5

    report = run_outreach(outreach)

    assert report.delivery.sent == len(expected)
    assert sorted(r.lower() for r in smtp_sink.recipients()) == sorted(expected)
    assert smtp_sink.sessions == 1  # one connection for the whole run
    for (recipient,), mail in smtp_sink.messages:
        assert mail["To"] == recipient
        assert mail["From"] == "Acme Support <support@acme.example>"
        assert mail["Subject"].startswith(("Still stuck on ", "¿Sigue atascado con "))
        assert mail["Message-ID"]
        assert mail.get_content_type() == "multipart/alternative"
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        links = mail["List-Unsubscribe"]
        assert links.startswith("<http://127.0.0.1:8000/u/u1.")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = links.strip("<>")
        assert url in text and url in html  # a visible link in both parts
        assert verify_unsubscribe_token(SECRET, url.rsplit("/", 1)[1]) == recipient.lower()
        assert "&lt;" not in mail["Subject"]
    with open_store(outreach.database_path) as db:
        sent = list_messages(db, status="sent")
        assert len(sent) == len(expected)
        assert all(m["reasons"] and m["rule_version"] is None and m["subject"] for m in sent)
        assert {m["reasons"][0]["fact"] for m in sent} == {"max_views_same_article_7d"}


def test_spanish_customers_get_the_spanish_message(outreach, smtp_sink):
    run_outreach(outreach)
    languages = {
        m.get_body(("plain",)).get_content().split()[0].rstrip(",") for _, m in smtp_sink.messages
    }
    assert {"Hi", "Hola"} <= languages


def test_a_second_run_in_the_same_period_sends_nothing(outreach, smtp_sink):
    first = run_outreach(outreach)
    assert first.delivery.sent > 0
    delivered = len(smtp_sink.messages)

    with clock.moved_to(clock.now() + timedelta(hours=3)):
        second = run_outreach(outreach)

    assert second.claimed == {"repeat-reader": 0}
    assert second.delivery.sent == 0
    assert len(smtp_sink.messages) == delivered

    with clock.moved_to(clock.now() + timedelta(days=3)):  # the audience moved on meanwhile
        run_outreach(outreach)
    recipients = smtp_sink.recipients()
    assert len(recipients) == len(set(recipients))  # within the cooldown: nobody twice


def test_an_unsubscribed_customer_receives_nothing_from_any_rule(tmp_path, seeded_demo, smtp_sink):
    from plugin.app import create_app

    config = outreach_config(
        tmp_path, seeded_demo, port=smtp_sink.port, rules=REPEAT_READER + SILENT
    )
    target = sorted(repeat_readers(config))[0]
    first = run_outreach(config, "repeat-reader", dry_run=True)
    url = next(
        p.rendered.text.rsplit(": ", 1)[1].strip()
        for p in first.plans[0].sendable
        if p.decision.candidate.email.lower() == target
    )
    client = create_app(config).test_client()
    path = url.removeprefix("http://127.0.0.1:8000")
    page = client.get(path)
    assert page.status_code == 200 and b"Unsubscribe" in page.data
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})  # RFC 8058
    assert answer.status_code == 200

    report = run_outreach(config)

    assert report.delivery.sent > 0
    assert target not in {r.lower() for r in smtp_sink.recipients()}
    assert report.plans[0].skipped()["suppressed"] == 1


def test_smtp_down_retries_with_backoff_then_fails_with_the_error(tmp_path, seeded_demo, smtp_sink):
    from tests.outreach.conftest import free_port

    config = outreach_config(tmp_path, seeded_demo, port=free_port())  # nobody listens
    expected = repeat_readers(config)
    start = clock.now()
    report = run_outreach(config)
    assert report.delivery.sent == 0 and report.delivery.retrying == len(expected)

    from datetime import timedelta

    from plugin.outreach.delivery import deliver_due

    for hours in (1, 2, 3, 4):  # past every backoff
        with clock.moved_to(start + timedelta(hours=hours)):
            deliver_due(config)
    with open_store(config.database_path) as db:
        counts = status_counts(db)
        failed = list_messages(db, status="failed")
    assert counts == {"failed": len(expected)}  # nothing lost, nothing sent
    assert all(m["attempts"] == MAX_ATTEMPTS for m in failed)
    assert all("cannot reach the SMTP server" in m["error"] for m in failed)
    assert smtp_sink.messages == []


def test_a_disabled_rule_runs_only_as_a_dry_run(tmp_path, seeded_demo, smtp_sink):
    import pytest

    from plugin.errors import InvalidInput

    config = outreach_config(
        tmp_path,
        seeded_demo,
        port=smtp_sink.port,
        rules=REPEAT_READER.replace("enabled = true", "enabled = false"),
    )
    with pytest.raises(InvalidInput, match="disabled"):
        run_outreach(config, "repeat-reader")
    report = run_outreach(config, "repeat-reader", dry_run=True)
    assert report.plans[0].sendable and report.delivery is None
    with open_store(config.database_path) as db:
        assert status_counts(db) == {}
    assert load_config(config.path).outreach["rules"][0]["enabled"] is False
