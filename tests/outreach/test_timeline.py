"""The dry-run timeline on a private copy of the demo, and the control group (holdout)."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from plugin import clock
from plugin.app import create_app
from plugin.clock import now_epoch
from plugin.config import load_config
from plugin.journey.conditions import ConditionError
from plugin.outreach.audience import DAY, in_holdout, quiet_until
from plugin.outreach.engine import run_outreach
from plugin.outreach.planning import preview_rule
from plugin.outreach.report import describe_plan
from plugin.outreach.rules import load_rules
from plugin.outreach.timeline import dry_run_timeline, occurrences
from plugin.security import Secret
from plugin.store import open_store
from plugin.store.outbox import claim_messages, list_messages
from plugin.store.suppressions import suppress
from tests.helpers.cli import journeydesk
from tests.helpers.config import write_config
from tests.outreach.conftest import REPEAT_READER, copy_of_demo, outreach_config

pytestmark = pytest.mark.usefixtures("backend")

SILENT_DAILY = """
[[outreach.rules]]
name = "{name}"
enabled = true
schedule = "{schedule}"
channel = "email"
subject = "Hello {{{{ customer.first_name }}}}"
body = "Hi {{{{ customer.first_name }}}}, how is it going?"
cooldown_days = {cooldown}
holdout_percent = {holdout}
[outreach.rules.audience]
all = [ {{ fact = "days_since_last_activity", op = "gte", value = 60 }} ]
"""


def silent(name: str, schedule: str, *, cooldown: int = 3, holdout: int = 0) -> str:
    return SILENT_DAILY.format(name=name, schedule=schedule, cooldown=cooldown, holdout=holdout)


def by_customer(timeline) -> dict[int, list]:
    found = defaultdict(list)
    for entry in timeline.entries:
        found[entry.candidate.customer_id].append(entry)
    return found


def test_cron_occurrences_are_the_schedulers_in_the_rules_time_zone():
    rules = load_rules(
        {"timezone": "Europe/Madrid", "rules": [_definition("0 9 * * 1-5")]}, file="x"
    )
    start = int(datetime(2026, 3, 23, tzinfo=UTC).timestamp())  # a Monday; DST starts the 29th
    fired = [
        datetime.fromtimestamp(at, UTC)
        for at in occurrences(rules.rules[0], rules, start, start + 14 * DAY)
    ]
    assert len(fired) == 10 and all(at.weekday() < 5 for at in fired)
    madrid = [at.astimezone(ZoneInfo("Europe/Madrid")) for at in fired]
    assert {(at.hour, at.minute) for at in madrid} == {(9, 0)}
    # 09:00 in Madrid is 08:00 UTC before the change to summer time and 07:00 UTC after
    assert [at.hour for at in fired] == [8] * 5 + [7] * 5


def test_a_rules_timeline_runs_at_its_occurrences_with_todays_audience(tmp_path, seeded_demo):
    body = '[outreach]\ntimezone = "America/New_York"\n' + REPEAT_READER
    config = load_config(write_config(tmp_path, body, database=copy_of_demo(seeded_demo, tmp_path)))
    timeline = dry_run_timeline(config, "repeat-reader", days=3)
    preview = preview_rule(config, "repeat-reader")
    assert [datetime.fromtimestamp(at, UTC).hour for at, _ in timeline.runs] == [14, 14, 14]
    assert timeline.audiences == {"repeat-reader": preview.matched}
    # the first run sends what a run now would (a 14-day cooldown: then nothing more)
    sent = {e.candidate.customer_id for e in timeline.entries}
    assert sent == {p.decision.candidate.customer_id for p in preview.sendable}
    assert all(e.run_at == timeline.runs[0][0] for e in timeline.entries)
    assert all(e.subject and e.language in ("en", "es") for e in timeline.entries)
    assert sum(d.limits["claimed"] for d in timeline.day_rows) == 2 * len(sent)


def test_cooldown_and_the_global_cap_across_rules_and_days(tmp_path, seeded_demo):
    config = outreach_config(
        tmp_path,
        seeded_demo,
        port=1,
        extra="global_cap = { messages = 1, days = 2 }",
        rules=silent("first", "0 9 * * *", cooldown=3) + silent("second", "0 10 * * *"),
    )
    with open_store(config.database_path) as db:  # a message already in the outbox
        audience = [p.decision.candidate for p in preview_rule(config, "first").sendable]
        earlier = audience[0]
        claim_messages(
            db,
            [
                {
                    "rule": "other",
                    "customer_id": earlier.customer_id,
                    "period": "x",
                    "status": "pending",
                    "channel": "email",
                    "next_attempt_at": now_epoch() - DAY // 2,
                }
            ],
            now=now_epoch(),
        )
    timeline = dry_run_timeline(config, days=14)
    assert len(audience) >= 5
    first_day = timeline.day_rows[0]
    # day 1: "first" writes to everyone but the one capped by the outbox; "second" to nobody
    assert first_day.messages == len(audience) - 1
    assert first_day.limits["global_cap"] == 1 + len(audience)
    for cid, entries in by_customer(timeline).items():
        times = sorted(e.at for e in entries)
        assert all(b - a >= 2 * DAY for a, b in zip(times, times[1:], strict=False)), cid
        for rule in ("first", "second"):
            own = sorted(e.at for e in entries if e.rule == rule)
            assert all(b - a >= 3 * DAY for a, b in zip(own, own[1:], strict=False)), cid
    rules_used = Counter(e.rule for e in timeline.entries)
    assert rules_used["first"] > len(audience) and rules_used["second"] > 0
    capped = by_customer(timeline)[earlier.customer_id]
    assert min(e.at for e in capped) >= now_epoch() - DAY // 2 + 2 * DAY
    totals = timeline.totals()
    assert totals["cooldown"] + totals["claimed"] > 0 and totals["global_cap"] > 0


def test_quiet_hours_defer_in_the_customers_zone(tmp_path, seeded_demo):
    config = outreach_config(
        tmp_path, seeded_demo, port=1, extra='quiet_hours = { start = "20:00", end = "10:00" }'
    )
    timeline = dry_run_timeline(config, "repeat-reader", days=2)
    deferred = [e for e in timeline.entries if e.deferred]
    on_time = [e for e in timeline.entries if not e.deferred]
    assert deferred and on_time
    for entry in deferred:
        zone = entry.candidate.time_zone or "UTC"
        assert entry.at == quiet_until(timeline_quiet(config), zone, entry.run_at)
        local = datetime.fromtimestamp(entry.at, UTC).astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (10, 0)
    for entry in on_time:
        local = datetime.fromtimestamp(entry.at, UTC).astimezone(
            ZoneInfo(entry.candidate.time_zone or "UTC")
        )
        assert 10 <= local.hour < 20
    assert timeline.day_rows[0].limits["quiet_hours"] == len(deferred)


def timeline_quiet(config):
    return load_rules(config.outreach, file="x").quiet_hours


def test_suppressed_customers_are_left_out(tmp_path, seeded_demo):
    config = outreach_config(tmp_path, seeded_demo, port=1)
    before = dry_run_timeline(config, "repeat-reader", days=1)
    gone = before.entries[0].candidate
    with open_store(config.database_path) as db:
        suppress(db, gone.email, reason="test", now=now_epoch())
    after = dry_run_timeline(config, "repeat-reader", days=1)
    assert gone.customer_id not in {e.candidate.customer_id for e in after.entries}
    assert len(after.entries) == len(before.entries) - 1
    assert after.day_rows[0].limits["suppressed"] == 1


def test_holdout_is_stable_recorded_held_out_and_never_sent(tmp_path, seeded_demo, smtp_sink):
    config = outreach_config(
        tmp_path, seeded_demo, port=smtp_sink.port, rules=silent("checkin", "0 9 * * *", holdout=50)
    )
    first = dry_run_timeline(config, "checkin", days=2)
    again = dry_run_timeline(config, "checkin", days=2)
    held = {e.candidate.customer_id for e in first.entries if e.held_out}
    assert held == {e.candidate.customer_id for e in again.entries if e.held_out}
    assert held and len(held) < len(first.entries)
    assert first.day_rows[0].held_out == len(held)
    rule = load_rules(config.outreach, file="x").rule("checkin")
    assert held == {
        e.candidate.customer_id for e in first.entries if in_holdout(rule, e.candidate.customer_id)
    }
    plan_text = describe_plan(preview_rule(config, "checkin"))
    assert f"held out {len(held)} (50 % control group" in plan_text

    with clock.moved_to(datetime.fromtimestamp(first.runs[0][0], UTC), frozen=True):
        run_outreach(config)
        run_outreach(config)  # again: nothing new, and the held-out ones still not sent
    with open_store(config.database_path) as db:
        rows = list_messages(db, rule="checkin", limit=1000)
    # the run at 09:00 sees 09:00's facts (the timeline: midnight's), the same people held out
    assert held <= {r["customer_id"] for r in rows if r["status"] == "held_out"}
    assert all((r["status"] == "held_out") == in_holdout(rule, r["customer_id"]) for r in rows)
    held_emails = {r["recipient"] for r in rows if r["status"] == "held_out"}
    assert held_emails and not held_emails & set(smtp_sink.recipients())
    assert len(smtp_sink.messages) == len(rows) - len(held_emails)
    # held-out messages count for the cooldown: the next days write to nobody
    later = dry_run_timeline(config, "checkin", days=2)
    assert not later.entries


@pytest.mark.parametrize("value", [-1, 51, True, "10"])
def test_holdout_percent_is_validated(value):
    definition = {**_definition("0 9 * * *"), "holdout_percent": value}
    with pytest.raises(ConditionError, match="holdout_percent"):
        load_rules({"rules": [definition]}, file="config.toml")


def test_the_cli_prints_the_timeline(tmp_path, seeded_demo):
    config = outreach_config(tmp_path, seeded_demo, port=1)
    result = journeydesk(
        "outreach", "timeline", "repeat-reader", "--days", "3", "--config", config.path
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Dry-run timeline of repeat-reader" in out and "does not predict" in out
    assert "2026-11-20" in out and "2026-11-22" in out and "claimed" in out
    assert "subject [" in out and "why: max_views_same_article_7d gte 3" in out
    bad = journeydesk("outreach", "timeline", "nope", "--config", config.path)
    assert bad.returncode != 0 and "no outreach rule named 'nope'" in bad.stderr


def test_the_admin_page_shows_the_days_and_entries(tmp_path, seeded_demo):
    from tests.web.test_admin import PASSWORD, login

    config = outreach_config(tmp_path, seeded_demo, port=1)
    config = dataclasses.replace(config, admin_password=Secret(PASSWORD))
    client = create_app(config).test_client()
    assert client.get("/admin/outreach/timeline").status_code == 302  # login first
    assert login(client).status_code == 302
    page = client.get("/admin/outreach/timeline?rule=repeat-reader&days=5")
    assert page.status_code == 200, page.text
    timeline = dry_run_timeline(config, "repeat-reader", days=5)
    assert timeline.entries
    for entry in timeline.entries:
        assert entry.candidate.email in page.text
    assert "does not predict how their facts change" in page.text
    assert page.text.count("<tr") >= 5
    assert client.get("/admin/outreach/timeline?rule=nope").status_code == 404
    assert client.get("/admin/outreach/timeline?days=999").status_code == 400
    everyone = client.get("/admin/outreach/timeline")
    assert everyone.status_code == 200 and "repeat-reader" in everyone.text


def _definition(schedule: str) -> dict:
    return {"name": "r", "schedule": schedule, "subject": "s", "body": "b"}
