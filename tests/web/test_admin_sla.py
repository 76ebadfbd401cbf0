"""The SLA admin over HTTP: the ordered rules, moving one (a new version, a new order in
force), the editor (an invalid text saves nothing, a preview saves nothing), save and
restore, the last decisions with their reasons and the pushes still waiting or failed."""

from __future__ import annotations

import html
import re
import tomllib

import pytest

from plugin.app import create_app
from plugin.journey.versions import in_force
from plugin.security import mint_agent_token
from plugin.sla.active_rules import KIND, SLA
from plugin.sla.rules import load_sla_rules
from plugin.sla.what_if import what_if
from plugin.store import open_store
from plugin.store.rule_sets import list_rule_sets
from plugin.store.sla_decisions import record_decision
from plugin.store.sla_pushes import (
    list_pushes,
    queue_push,
    record_push_failed,
    record_push_retry,
    start_pushing,
)
from tests.helpers.copies import private_copy
from tests.web.test_admin import PASSWORD, csrf_of, editor_text, login

pytestmark = pytest.mark.usefixtures("backend")

RULES = """
[[sla.rules]]
name = "purchase-moment"
description = "A question while buying"
priority = "urgent"
add_tags = ["journey_purchase"]
first_response_minutes = 60
resolution_minutes = 480
[sla.rules.when]
any = [ { fact = "stage", op = "eq", value = "purchase" },
        { fact = "signal:renewal_due", op = "eq", value = true } ]

[[sla.rules]]
name = "chat-fast"
priority = "high"
first_response_minutes = 30
[sla.rules.when]
all = [ { fact = "ticket.channel", op = "eq", value = "chat" } ]

[[sla.rules]]
name = "everyone"
add_tags = ["journey_seen"]
resolution_minutes = 1440
[sla.rules.when]
all = []
"""
PURCHASE = "/admin/sla/edit?rule=purchase-moment"


@pytest.fixture
def config(seeded_demo, tmp_path):
    from plugin.security import Secret

    sla = tomllib.loads(RULES)["sla"]
    return private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD), sla=sla)


@pytest.fixture
def admin(config):
    client = create_app(config).test_client()
    assert login(client).status_code == 302
    return client


def base_of(page: str) -> str:
    return re.search(r'name="base_version" value="(\d+)"', page).group(1)


def rule_order(page: str, table: str = "rules") -> list[str]:
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr data-rule="([^"]+)"', body)


def in_force_names(config) -> list[str]:
    with open_store(config.database_path) as db:
        return [rule.name for rule in in_force(db, config, SLA).value.rules]


def saved_versions(config) -> list:
    with open_store(config.database_path) as db:
        return list_rule_sets(db, KIND)


def post_rule(client, text: str, action: str = "preview", rule: str | None = "purchase-moment"):
    page = client.get(PURCHASE if rule else "/admin/sla/edit").text
    data = {
        "csrf_token": csrf_of(page),
        "base_version": base_of(page),
        "text": text,
        "action": action,
        "days": "30",
        **({"rule": rule} if rule else {}),
    }
    return client.post("/admin/sla/edit", data=data)


def move(client, name: str, direction: str, **override):
    page = client.get("/admin/sla").text
    data = {"csrf_token": csrf_of(page), "base_version": base_of(page), "direction": direction}
    return client.post(f"/admin/sla/rules/{name}/move", data={**data, **override})


# --------------------------------------------------------------------------- the list


def test_the_list_shows_each_rule_in_order_in_words(admin):
    page = admin.get("/admin/sla")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert rule_order(page.text) == ["purchase-moment", "chat-fast", "everyone"]
    assert '<a href="/admin/sla" class="active" aria-current="page">SLA rules</a>' in text
    row = text.split('data-rule="purchase-moment"', 1)[1].split("</tr>", 1)[0]
    assert "A question while buying" in row
    assert 'stage = "purchase" or signal:renewal_due = true' in row
    assert "priority-urgent" in row and "journey_purchase" in row
    assert "<dd>1 h</dd>" in row and "<dd>8 h</dd>" in row
    everyone = text.split('data-rule="everyone"', 1)[1].split("</tr>", 1)[0]
    assert "always (catch-all)" in everyone and "<dd>24 h</dd>" in everyone
    assert "In force: <strong" in text and "config.toml" in text
    # the first rule cannot move up, the last cannot move down
    first = page.text.split('data-rule="purchase-moment"', 1)[1].split("</tr>", 1)[0]
    assert re.search(r'move-up" type="submit" disabled', first)
    assert "No decision yet" in text and "Every update has reached its desk" in text
    dashboard = admin.get("/admin/").text
    assert "3 rules in force" in dashboard and 'href="/admin/sla"' in dashboard


def test_without_rules_the_list_offers_an_example_to_start_from(seeded_demo, tmp_path):
    from plugin.security import Secret

    config = private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD))
    client = create_app(config).test_client()
    login(client)
    page = html.unescape(client.get("/admin/sla").text)
    assert "No SLA rules yet — tickets keep the priority the desk gives them" in page
    example = re.search(r'<pre class="toml" id="example">(.*?)</pre>', page, re.S).group(1)
    assert tomllib.loads(example)["sla"]["rules"][0]["name"] == "purchase-moment"
    editor = client.get("/admin/sla/edit").text
    assert 'id="example-notice"' in editor and editor_text(editor) == example
    assert post_rule(client, example, rule=None).status_code == 200  # a valid start


def test_moving_a_rule_saves_a_version_and_changes_the_order_in_force(admin, config):
    response = move(admin, "everyone", "up")
    assert response.status_code == 302 and response.headers["Location"].endswith("#rule-everyone")
    assert in_force_names(config) == ["purchase-moment", "everyone", "chat-fast"]
    [saved] = saved_versions(config)
    assert saved.note == "moved everyone up" and saved.created_by == "Ana"
    page = admin.get("/admin/sla").text
    assert "Saved version 1: everyone moved up, now rule 2 of 3." in page
    assert rule_order(page) == ["purchase-moment", "everyone", "chat-fast"]

    assert move(admin, "purchase-moment", "down").status_code == 302
    assert in_force_names(config) == ["everyone", "purchase-moment", "chat-fast"]
    # the first rule cannot go up; a stale page and a form without its token save nothing
    move(admin, "everyone", "up")
    assert "is the first rule already" in html.unescape(admin.get("/admin/sla").text)
    move(admin, "chat-fast", "up", base_version="0")
    assert "changed since you opened this page" in admin.get("/admin/sla").text
    assert move(admin, "chat-fast", "up", csrf_token="forged").status_code == 403
    assert move(admin, "chat-fast", "sideways").status_code == 400
    assert move(admin, "nobody", "up").status_code == 404
    assert len(saved_versions(config)) == 2
    assert in_force_names(config) == ["everyone", "purchase-moment", "chat-fast"]


# --------------------------------------------------------------------------- the editor


def test_an_invalid_rule_is_named_next_to_the_editor_and_nothing_is_saved(admin, config):
    text = editor_text(admin.get(PURCHASE).text)
    assert text.startswith('[[sla.rules]]\nname = "purchase-moment"')
    for broken, expected in [
        (
            text.replace('"urgent"', '"asap"'),
            "your text: sla.rules[0] \"purchase-moment\": priority: 'asap' is not a priority; "
            "write one of low",
        ),
        (text.replace('"stage"', '"stag"'), 'unknown fact "stag"'),
        (text.replace("[[sla.rules]]", "[[sla.rule]]"), "write exactly one [[sla.rules]]"),
        ("[[sla.rules", "this is not valid TOML"),
        (text.replace('name = "purchase-moment"', 'name = "other"'), "keep name"),
    ]:
        for action in ("preview", "save"):
            page = post_rule(admin, broken, action=action)
            assert page.status_code == 422, (broken, action)
            error = html.unescape(page.text.split('id="editor-error"', 1)[1].split("</div>", 1)[0])
            assert expected in error, (expected, error)
            assert "your text" in error and "nothing was saved" in error
            assert editor_text(page.text) == broken  # the text stays for fixing
            assert 'id="save-button"' not in page.text
    assert saved_versions(config) == []


def test_the_preview_shows_the_rules_after_the_change_and_saves_nothing(admin, config):
    text = editor_text(admin.get(PURCHASE).text).replace('"urgent"', '"high"')
    page = post_rule(admin, text)
    assert page.status_code == 200
    assert 'id="preview"' in page.text and 'id="save-button"' in page.text
    assert "Save as version 1" in page.text
    assert rule_order(page.text, "draft-rules") == ["purchase-moment", "chat-fast", "everyone"]
    assert 'id="draft-rules-purchase-moment" class="changed"' in page.text
    assert 'id="draft-rules-chat-fast">' in page.text  # unchanged, not highlighted
    assert saved_versions(config) == []
    assert in_force_names(config) == ["purchase-moment", "chat-fast", "everyone"]


def what_if_table(page: str, table: str) -> dict[str, tuple[int, ...]]:
    """{key: the numbers of its row} of one what-if table, as shown."""
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-key="([^"]+)"[^>]*>(.*?)</tr>', body, re.S)
    return {
        key: tuple(
            int(n.replace(",", ""))
            for n in re.findall(r'class="num (?:before|after|tickets)">([\d,]+)<', row)
        )
        for key, row in rows
    }


def test_the_what_if_shows_the_draft_against_the_rules_in_force_over_the_days_chosen(admin, config):
    text = editor_text(admin.get(PURCHASE).text)
    draft_text = text.replace('"urgent"', '"low"').replace("= 60", "= 5")
    page = admin.get(PURCHASE).text
    form = {"csrf_token": csrf_of(page), "base_version": base_of(page), "rule": "purchase-moment"}
    shown = admin.post("/admin/sla/edit", data={**form, "text": draft_text, "days": "90"}).text
    table = tomllib.loads(RULES)["sla"]
    table["rules"][0] = tomllib.loads(draft_text)["sla"]["rules"][0]
    with open_store(config.database_path) as db:
        current = in_force(db, config, SLA).value
        expected = what_if(db, config, load_sla_rules(table, file="t"), days=90, current=current)
    assert expected.changed > 0  # the demo's purchase tickets would change
    summary = html.unescape(shown.split('id="what-if-summary"', 1)[1].split("</p>", 1)[0])
    assert "last <strong>90 days</strong>" in summary
    assert f'<strong class="changed-count">{expected.changed:,}</strong>' in summary
    priority = what_if_table(shown, "what-if-priority")
    assert priority == {
        row.key: (row.before, row.after, row.breached_before, row.breached_after)
        for row in expected.by_priority
    }
    stage = what_if_table(shown, "what-if-stage")
    assert {key: numbers[-2:] for key, numbers in stage.items()} == {
        row.key: (row.breached_before, row.breached_after) for row in expected.by_stage
    }
    samples = shown.split('id="what-if-samples"', 1)[1].split("</table>", 1)[0]
    assert samples.count("<tr data-ticket=") == min(len(expected.samples), 12)
    assert "purchase-moment" in samples
    week = admin.post("/admin/sla/edit", data={**form, "text": draft_text, "days": "7"}).text
    assert "last <strong>7 days</strong>" in week
    assert saved_versions(config) == []  # previews save nothing


def test_save_then_restore_the_previous_version(admin, config):
    text = editor_text(admin.get(PURCHASE).text).replace('"urgent"', '"high"')
    saved = post_rule(admin, text, action="save")
    assert saved.status_code == 302
    with open_store(config.database_path) as db:
        assert in_force(db, config, SLA).value.rule("purchase-moment").priority == "high"
    [v1] = saved_versions(config)
    assert v1.note == "edited purchase-moment"
    assert "Saved version 1" in admin.get("/admin/sla").text
    again = post_rule(admin, text, action="save")  # the same text once more: nothing to save
    assert again.status_code == 422 and "Nothing to save" in again.text

    page = admin.get("/admin/sla/versions/0").text
    assert "config.toml SLA rules" in page and "Restore as version 2" in page
    assert rule_order(page, "version-rules") == ["purchase-moment", "chat-fast", "everyone"]
    stale = admin.post("/admin/sla/versions/0/restore", data={"csrf_token": csrf_of(page)})
    assert stale.status_code == 302 and len(saved_versions(config)) == 1  # no base: refused
    restored = admin.post(
        "/admin/sla/versions/0/restore",
        data={"csrf_token": csrf_of(page), "base_version": base_of(page)},
    )
    assert restored.status_code == 302
    latest = saved_versions(config)
    assert [v.version for v in latest] == [2, 1]
    assert latest[0].note == "restored the config file's SLA rules"
    with open_store(config.database_path) as db:
        assert in_force(db, config, SLA).value.rule("purchase-moment").priority == "urgent"
    assert "These are the rules in force" in admin.get("/admin/sla/versions/2").text
    assert admin.get("/admin/sla/versions/9").status_code == 404


def test_the_whole_table_can_reorder_rename_and_remove_rules(admin, config):
    text = editor_text(admin.get("/admin/sla/edit").text)
    assert text.startswith("# Tried from top to bottom")
    blocks = text.split("\n\n")[1:]
    reordered = "\n\n".join([blocks[1], blocks[0].replace("purchase-moment", "buying")])
    preview = post_rule(admin, reordered, rule=None).text
    assert rule_order(preview, "draft-rules") == ["chat-fast", "buying"]
    assert 'id="draft-rules-buying" class="changed"' in preview and ">new</span>" in preview
    removed = preview.split('id="removed-rules"', 1)[1].split("</p>", 1)[0]
    assert "<code>purchase-moment</code>" in removed and "<code>everyone</code>" in removed
    assert post_rule(admin, reordered, action="save", rule=None).status_code == 302
    assert in_force_names(config) == ["chat-fast", "buying"]


# --------------------------------------------------------------------------- decisions, pushes


def test_the_last_decisions_and_the_waiting_or_failed_pushes_are_listed(admin, config):
    with open_store(config.database_path) as db, db.atomic():
        record_decision(
            db,
            {
                "source": "demo",
                "ticket_id": "9001",
                "customer_id": 1,
                "rule": "purchase-moment",
                "rule_version": 0,
                "priority_before": "normal",
                "priority_after": "urgent",
                "tags_added": ["journey_purchase"],
                "targets": {"first_response_minutes": 60, "resolution_minutes": 480},
                "reasons": [
                    {"fact": "stage", "op": "eq", "expected": "purchase", "actual": "purchase"},
                    {"fact": "days_until_renewal", "op": "lte", "expected": 30, "actual": 12},
                ],
                "decided_at": 1_700_000_000,
            },
        )
        for ticket, now in (("9001", 1_700_000_000), ("9002", 1_700_000_100)):
            queue_push(db, "demo", ticket, priority="urgent", add_tags=["journey_x"], now=now)
        first, second = sorted(p["id"] for p in list_pushes(db))
        start_pushing(db, first, holder="test", now=1_700_000_010)
        record_push_retry(
            db, first, error="desk answered 503", retry_at=1_700_000_600, now=1_700_000_010
        )
        start_pushing(db, second, holder="test", now=1_700_000_110)
        record_push_failed(db, second, error="the ticket is gone (404)", now=1_700_000_110)
    page = html.unescape(admin.get("/admin/sla").text)
    decisions = page.split('id="decisions-table"', 1)[1].split("</table>", 1)[0]
    assert 'data-ticket="demo:9001"' in decisions
    assert "Priority raised to urgent" in decisions
    assert "first reply within 1 h, resolution within 8 h" in decisions
    assert "in the Purchase stage" in decisions and "renews in 12 days" in decisions
    assert "journey_purchase" in decisions
    pushes = page.split('id="pushes-table"', 1)[1].split("</table>", 1)[0]
    assert 'data-status="pending"' in pushes and "desk answered 503" in pushes
    assert 'data-status="failed"' in pushes and "the ticket is gone (404)" in pushes
    assert "1 waiting" in page and "1 failed" in page
    assert "1 failed" in admin.get("/admin/").text


# --------------------------------------------------------------------------- access


def test_nobody_but_a_signed_in_admin_reaches_the_sla_admin(config, admin):
    anonymous = create_app(config).test_client()
    for url in ("/admin/sla", PURCHASE, "/admin/sla/versions/0"):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    token = mint_agent_token(config.secret, source="demo", ticket_id=None)
    agent = anonymous.get("/admin/sla", headers={"Authorization": f"Bearer {token}"})
    assert agent.status_code == 302  # an agent's token is not an admin's session
    page = admin.get("/admin/sla").text
    for url, data in [
        ("/admin/sla/rules/everyone/move", {"direction": "up"}),
        ("/admin/sla/edit", {"text": RULES, "action": "save"}),
        ("/admin/sla/versions/0/restore", {}),
    ]:
        refused = anonymous.post(url, data={**data, "csrf_token": csrf_of(page)})
        assert refused.status_code in (401, 403), url
    assert saved_versions(config) == []
