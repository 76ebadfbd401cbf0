"""Rules validated like the journey model, versioned like it, and their limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plugin.config import load_config
from plugin.journey.conditions import ConditionError
from plugin.outreach.active_rules import load_active_rules, save_rules
from plugin.outreach.audience import Candidate, Limits, decide, period_of, quiet_until
from plugin.outreach.engine import run_outreach
from plugin.outreach.planning import preview_rule
from plugin.outreach.rules import GlobalCap, OutreachRules, QuietHours, load_rules
from plugin.store import open_store
from plugin.store.outbox import status_counts
from tests.helpers.config import write_config
from tests.outreach.conftest import outreach_config

pytestmark = pytest.mark.usefixtures("backend")


def test_a_bad_rule_stops_start_up_naming_the_file_rule_and_position(tmp_path):
    path = write_config(
        tmp_path,
        """
        [[outreach.rules]]
        name = "repeat-reader"
        schedule = "0 9 * * *"
        subject = "Hi"
        body = "Hello"
        [outreach.rules.audience]
        all = [ { fact = "max_views_same_article_7dd", op = "gte", value = 3 } ]
        """,
    )
    with pytest.raises(ConditionError) as caught:
        load_config(path)
    text = str(caught.value)
    assert str(path) in text and 'outreach.rules[0] "repeat-reader"' in text
    assert "audience.all[0].fact" in text and 'did you mean "max_views_same_article_7d"' in text


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"schedule": "every day"}, "schedule"),
        ({"channel": "sms"}, "channel"),
        ({"template": "nope", "body": None}, "template"),
        ({"channel": "webhook"}, "url"),
        ({"cooldown": 3}, "unknown key"),
    ],
)
def test_rule_mistakes_are_named(rule, problem):
    base = {"name": "r", "schedule": "0 9 * * *", "subject": "s", "body": "b"}
    definition = {k: v for k, v in {**base, **rule}.items() if v is not None}
    with pytest.raises(ConditionError, match=problem):
        load_rules({"rules": [definition]}, file="config.toml")


def test_the_shipped_rules_are_disabled_and_each_has_an_audience_on_the_demo(seeded_demo):
    rules = load_rules({}, file="x").rules
    assert len(rules) == 5 and not any(r.enabled for r in rules)
    for rule in rules:
        plan = preview_rule(seeded_demo, rule.name)
        assert plan.matched > 0 and not plan.refused, rule.name
        assert plan.sendable[0].rendered.subject, rule.name


def test_a_saved_version_wins_over_the_config_file(tmp_path, seeded_demo, smtp_sink):
    config = outreach_config(tmp_path, seeded_demo, port=smtp_sink.port)
    with open_store(config.database_path) as db:
        assert load_active_rules(db, config).origin == "config"
        definitions = dict(config.outreach)
        definitions["rules"] = [{**definitions["rules"][0], "cooldown_days": 30}]
        save_rules(db, definitions, created_by="admin", note="longer cooldown", now=1)
        active = load_active_rules(db, config)
    assert active.origin == "admin" and active.version_number == 1
    assert active.rules.rule("repeat-reader").cooldown_days == 30
    report = run_outreach(config)
    with open_store(config.database_path) as db:
        from plugin.store.outbox import list_messages

        assert {m["rule_version"] for m in list_messages(db)} == {1}
    assert report.delivery.sent > 0


def test_the_sandbox_refuses_a_template_reaching_for_internals(tmp_path, seeded_demo, smtp_sink):
    rules = """
    [[outreach.rules]]
    name = "sneaky"
    enabled = true
    schedule = "0 9 * * *"
    subject = "Hello"
    body = "{{ ''.__class__.__mro__ }}"
    """
    config = outreach_config(tmp_path, seeded_demo, port=smtp_sink.port, rules=rules)
    plan = preview_rule(config, "sneaky")
    assert plan.refused and not plan.sendable
    assert "refused" in plan.refused[0].error and "sneaky" in plan.refused[0].error

    report = run_outreach(config)

    assert report.claimed == {"sneaky": 0} and smtp_sink.messages == []
    with open_store(config.database_path) as db:
        assert list(status_counts(db)) == ["refused"]  # recorded, never sent (test_refused)


def test_html_escapes_what_customers_wrote(tmp_path, seeded_demo, smtp_sink):
    from plugin.outreach.rules import Rule
    from plugin.outreach.templates import render_message, shipped_templates

    assert "repeat_reader" in shipped_templates()
    rule = load_rules({}, file="x").rule("repeat-reader")
    assert isinstance(rule, Rule)
    context = {
        "customer": {"first_name": "<script>x</script>", "locale": "en-US"},
        "article": {"title": "<b>SSO</b>", "url": "https://h/a", "views": 4},
        "company": "Acme",
    }
    rendered = render_message(rule, context)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "<script>x</script>" in rendered.text  # the text part is plain text


def candidate(cid: int, zone: str | None = None, **facts) -> Candidate:
    return Candidate(cid, "N", f"c{cid}@x.example", "en", zone, "retention", (), facts)


def test_limits_cooldown_cap_quiet_hours_and_opt_out():
    rule = load_rules(
        {
            "rules": [
                {
                    "name": "r",
                    "schedule": "0 9 * * *",
                    "subject": "s",
                    "body": "b",
                    "cooldown_days": 10,
                    "skip_if_open_ticket": True,
                }
            ]
        },
        file="x",
    ).rules[0]
    settings = OutreachRules(
        timezone="UTC", quiet_hours=QuietHours(20 * 60, 8 * 60), global_cap=GlobalCap(1, 3)
    )
    now = int(datetime(2026, 11, 20, 21, 30, tzinfo=UTC).timestamp())  # 21:30 UTC
    people = [
        candidate(1, open_tickets=0),
        candidate(2, open_tickets=1),
        candidate(3, open_tickets=0),
        candidate(4, open_tickets=0),
        candidate(5, "Asia/Tokyo", open_tickets=0),  # 06:30 there: still quiet
        candidate(6, "America/Los_Angeles", open_tickets=0),  # 13:30 there: send now
    ]
    limits = Limits(
        suppressed=frozenset({"c1@x.example"}),
        recent=(
            {"rule": "r", "customer_id": 3, "at": now - 5 * 86_400},
            {"rule": "other", "customer_id": 4, "at": now - 86_400},
        ),
        claimed=frozenset(),
    )
    decisions = {
        d.candidate.customer_id: d
        for d in decide(rule, settings, [(p, ()) for p in people], limits, now=now)
    }
    assert decisions[1].skipped == "suppressed"
    assert decisions[2].skipped == "open_ticket"
    assert decisions[3].skipped == "cooldown"
    assert decisions[4].skipped == "global_cap"
    tokyo = decisions[5]
    assert tokyo.deferred and tokyo.send_at == int(
        datetime(2026, 11, 20, 23, 0, tzinfo=UTC).timestamp()  # 08:00 in Tokyo
    )
    assert not decisions[6].deferred and decisions[6].send_at == now
    assert quiet_until(settings.quiet_hours, "UTC", now) == int(
        datetime(2026, 11, 21, 8, 0, tzinfo=UTC).timestamp()
    )


def test_the_period_key_spans_the_cooldown():
    rule = load_rules(
        {
            "rules": [
                {
                    "name": "r",
                    "schedule": "0 9 * * *",
                    "subject": "s",
                    "body": "b",
                    "cooldown_days": 14,
                }
            ]
        },
        file="x",
    ).rules[0]
    day = 86_400
    start = 20_412 * day  # a multiple of 14 days
    assert start // day % 14 == 0
    assert period_of(rule, start) == period_of(rule, start + 13 * day + 5)
    assert period_of(rule, start) != period_of(rule, start + 14 * day)


def test_the_worker_schedules_each_enabled_rule_and_the_delivery(tmp_path, seeded_demo, smtp_sink):
    from plugin.background import jobs
    from plugin.background.scheduler import build_scheduler, schedule_outreach
    from tests.outreach.conftest import SILENT

    config = outreach_config(tmp_path, seeded_demo, port=smtp_sink.port)
    scheduler = build_scheduler(config, background=True)
    by_id = {job.id: job for job in scheduler.get_jobs()}
    assert by_id["outreach:repeat-reader"].func is jobs.scheduled_outreach
    assert "hour='9'" in str(by_id["outreach:repeat-reader"].trigger)
    assert by_id["outreach-deliver"].func is jobs.scheduled_delivery

    import tomllib

    with open_store(config.database_path) as db:  # an admin saves: silent-customer only
        silent = tomllib.loads(SILENT)["outreach"]["rules"]
        save_rules(db, {"rules": silent}, created_by="admin", note="", now=1)
    schedule_outreach(scheduler, config)
    ids = {job.id for job in scheduler.get_jobs() if job.id.startswith("outreach:")}
    assert ids == {"outreach:silent-customer"}
