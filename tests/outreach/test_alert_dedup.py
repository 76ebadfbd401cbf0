"""Internal alerts (webhook rules) are de-duplicated per customer + rule while the reason
holds: not again every cooldown period; again once a run found the customer outside the
audience, or when other conditions match."""

from __future__ import annotations

import json

import pytest

from plugin.clock import now_epoch
from plugin.outreach.active_rules import save_rules
from plugin.outreach.audience import DAY, Candidate, Limits, decide, matching, reason_keys
from plugin.outreach.editing import full_definitions
from plugin.outreach.engine import run_outreach
from plugin.outreach.explain import explain
from plugin.outreach.rules import load_rules
from plugin.outreach.timeline import dry_run_timeline
from plugin.store import open_store
from tests.outreach.conftest import outreach_config
from tests.outreach.test_channels import WEBHOOK

pytestmark = pytest.mark.usefixtures("backend")

HOT = {
    "name": "hot",
    "schedule": "0 8 * * *",
    "channel": "webhook",
    "url": "https://hooks.example/x",
    "secret_env": "S",
    "subject": "s",
    "body": "b",
    "cooldown_days": 1,
    "audience": {
        "any": [
            {"fact": "open_tickets", "op": "gte", "value": 1},
            {"fact": "days_until_renewal", "op": "lte", "value": 30},
        ]
    },
}
OPEN = {"fact": "open_tickets", "op": "gte", "expected": 1}


def test_a_standing_alert_for_the_same_reasons_is_skipped_other_reasons_alert():
    rules = load_rules({"rules": [HOT]}, file="t")
    rule = rules.rules[0]
    one = Candidate(1, "A", "a@x.example", "en", None, None, (), {"open_tickets": 2})
    two = Candidate(2, "B", "b@x.example", "en", None, None, (), {"days_until_renewal": 9})
    standing = {
        1: reason_keys([{**OPEN, "actual": 1}]),
        2: reason_keys([{**OPEN, "actual": 3}]),
    }
    limits = Limits(frozenset(), (), frozenset(), alerted=standing)
    matched = matching(rule, [one, two])
    decided = {d.candidate.customer_id: d for d in decide(rule, rules, matched, limits, now=DAY)}
    # the same condition with another value (2 open tickets, was 1): the same reason
    assert decided[1].skipped == "alerted"
    # in the audience now for another condition: the team hears of it
    assert decided[2].skipped is None
    # an email rule is never held back this way
    as_email = {**HOT, "channel": "email", "url": "", "secret_env": ""}
    mail = load_rules({"rules": [as_email]}, file="t")
    mail_rule = mail.rules[0]
    found = decide(mail_rule, mail, matching(mail_rule, [one]), limits, now=DAY)
    assert [d.skipped for d in found] == [None]


def alerts(config) -> list[tuple[int, str, list, int | None]]:
    with open_store(config.database_path) as db:
        return [
            (row[0], row[1], json.loads(row[2]), row[3])
            for row in db.conn.execute(
                "SELECT customer_id, period, reasons, cleared_at FROM outbox "
                "WHERE rule = 'renewal-open-ticket' ORDER BY id"
            )
        ]


def test_the_team_is_alerted_once_while_the_reason_holds_and_again_after_it_ended(
    tmp_path, seeded_demo, server, monkeypatch
):
    from werkzeug import Response

    monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret")
    received = []
    server.clear()
    server.expect_request("/team", method="POST").respond_with_handler(
        lambda request: received.append(json.loads(request.get_data())) or Response("ok")
    )
    rules = WEBHOOK.format(url=server.url_for("/team"))
    config = outreach_config(tmp_path, seeded_demo, port=1, rules=rules)
    now = now_epoch()

    first = run_outreach(config, now=now)
    alerted = {a["customer"]["id"] for a in received}
    assert first.delivery.sent == len(received) == len(alerted) > 0

    # two and four weeks on, past the 7-day cooldown: the same customers, the same reasons
    # (their messages would be delivered when due: the runs' `now` is in the future)
    for weeks in (2, 4):
        report = run_outreach(config, now=now + weeks * 7 * DAY)
        plan = report.plans[0]
        assert {p.decision.candidate.customer_id for p in plan.planned} >= alerted
        assert plan.skipped()["alerted"] == len(alerted)
        assert report.claimed["renewal-open-ticket"] == 0
    assert len(received) == len(alerted)

    # the preview, the timeline and the "why" lookup say the same
    later = now + 14 * DAY
    timeline = dry_run_timeline(config, "renewal-open-ticket", now=later)
    assert not [e for e in timeline.entries if e.candidate.customer_id in alerted]
    assert timeline.totals()["alerted"] > 0
    someone = min(alerted)
    with open_store(config.database_path) as db:
        from plugin.outreach.active_rules import load_active_rules

        active = load_active_rules(db, config)
        rule = active.rules.rule("renewal-open-ticket")
        answer = explain(db, config, active, rule, someone, now=later)
    assert answer.verdict == "limit" and "alerted on" in answer.headline

    # a run that finds them outside the audience ends the alerts ...
    with open_store(config.database_path) as db:
        table = full_definitions(config.outreach)
        narrowed = dict(table["rules"][0])
        narrowed["audience"] = {"all": [{"fact": "open_tickets", "op": "gte", "value": 999}]}
        save_rules(db, {**table, "rules": [narrowed]}, created_by="t", note="n", now=later)
    run_outreach(config, now=later + 7 * DAY)
    assert all(cleared for _cid, _period, _reasons, cleared in alerts(config))

    # ... so when they match again, the team is alerted again, once
    with open_store(config.database_path) as db:
        save_rules(db, table, created_by="t", note="back", now=later)
    again = run_outreach(config, now=later + 14 * DAY)
    assert again.claimed["renewal-open-ticket"] == len(alerted)
    run_outreach(config, now=later + 28 * DAY)
    rows = alerts(config)
    assert len(rows) == 2 * len(alerted)  # (delivered when due: these runs are in the future)
    assert {cid for cid, _period, _reasons, cleared in rows if cleared is None} == alerted
