"""The outreach admin over HTTP: rules, the editor's preview (and the sandbox's refusal),
saves as versions, enabling, the outbox with requeue/discard, and the "why" lookup — on
both store engines."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest

from plugin.app import create_app
from plugin.outreach.active_rules import KIND, load_active_rules
from plugin.outreach.engine import run_outreach
from plugin.outreach.planning import preview_rule
from plugin.security import Secret
from plugin.store import open_store
from plugin.store.outbox import get_message
from plugin.store.rule_sets import list_rule_sets
from tests.outreach.conftest import outreach_config, smtp_sink  # noqa: F401 - a fixture
from tests.web.test_admin import PASSWORD, csrf_of, editor_text, login

pytestmark = pytest.mark.usefixtures("backend")
REPEAT = "/admin/outreach/edit?rule=repeat-reader"


@pytest.fixture
def config(tmp_path, seeded_demo, smtp_sink):  # noqa: F811
    """The demo with the shipped rules (all disabled) and an SMTP sink, behind a password."""
    base = outreach_config(tmp_path, seeded_demo, port=smtp_sink.port, rules="")
    return dataclasses.replace(base, admin_password=Secret(PASSWORD))


@pytest.fixture
def admin(config):
    client = create_app(config).test_client()
    assert login(client).status_code == 302
    return client


def base_of(page: str) -> str:
    return re.search(r'name="base_version" value="(\d+)"', page).group(1)


def post_rule(client, text: str, action: str = "preview", rule="repeat-reader", **extra):
    page = client.get(f"/admin/outreach/edit?rule={rule}").text
    data = {"csrf_token": csrf_of(page), "rule": rule, "text": text, "action": action}
    return client.post(
        "/admin/outreach/edit", data={"base_version": base_of(page), **data, **extra}
    )


def set_enabled(client, rule: str, enabled: bool):
    page = client.get("/admin/outreach").text
    data = {
        "csrf_token": csrf_of(page),
        "base_version": base_of(page),
        "enabled": "1" if enabled else "0",
    }
    return client.post(f"/admin/outreach/rules/{rule}/enabled", data=data)


def test_the_rules_page_lists_each_rule_with_state_schedule_counts_and_links(admin):
    page = admin.get("/admin/outreach")
    assert page.status_code == 200
    text = page.text
    assert '<a href="/admin/outreach"' in text and ">Outreach</a>" in text  # in the menu
    for name in ("repeat-reader", "onboarding-guide", "renewal-open-ticket", "silent-customer"):
        assert f'data-rule="{name}"' in text
        assert f"/admin/outreach/timeline?rule={name}" in text
    assert text.count(">disabled</span>") == 5
    assert "every day at 09:00" in text and "weekdays at 10:00" in text
    assert "Shipped rules" in text and "none yet" in text


def test_the_preview_shows_audience_reasons_limits_and_the_message_in_each_language(admin):
    text = editor_text(admin.get(REPEAT).text)
    assert '[[outreach.rules]]\nname = "repeat-reader"' in text
    page = post_rule(admin, text).text
    plan = preview_rule(admin.application.extensions["journeydesk"].config, "repeat-reader")
    summary = re.search(r'id="preview-summary">(.*?)</p>', page, re.S).group(1)
    assert f'<strong class="audience-size">{plan.matched}</strong>' in summary
    # each sample recipient with their own values, and both languages in use
    assert "Read the same article" in page or "max_views_same_article_7d" in page
    assert 'id="example-en"' in page and 'id="example-es"' in page
    assert "¿Sigue atascado con" in html.unescape(page)
    assert '<iframe class="mail-frame" sandbox srcdoc="' in page
    onboarding = post_rule(
        admin,
        editor_text(admin.get("/admin/outreach/edit?rule=onboarding-guide").text),
        rule="onboarding-guide",
    ).text
    assert 'data-reason="open_ticket"' in onboarding  # who the limits leave out, counted
    assert rule_sets_of(admin) == []  # a preview saves nothing


def test_a_template_reaching_for_internals_is_refused_in_the_preview(admin):
    text = editor_text(admin.get(REPEAT).text).replace(
        'template = "repeat_reader"', "body.en = \"{{ ''.__class__.__mro__ }}\""
    )
    page = post_rule(admin, text)
    assert page.status_code == 200
    assert 'id="preview-refused"' in page.text
    assert "was refused: it reaches for something templates may not use" in page.text
    assert "__mro__" not in page.text.split('id="preview-refused"')[1].split("</pre>")[1]
    assert 'id="save-blocked"' in page.text and 'id="save-button"' not in page.text
    saved = post_rule(admin, text, action="save")
    assert saved.status_code == 422 and "was refused" in saved.text
    assert rule_sets_of(admin) == []


def test_an_invalid_rule_is_named_and_nothing_is_saved(admin):
    text = editor_text(admin.get(REPEAT).text).replace("tickets_last_7d", "tickets_last_7dd")
    page = post_rule(admin, text, action="save")
    assert page.status_code == 422
    assert 'unknown fact "tickets_last_7dd"' in html.unescape(page.text)
    assert rule_sets_of(admin) == []


def test_saving_makes_a_version_and_a_stale_editor_is_refused(admin, config):
    text = editor_text(admin.get(REPEAT).text).replace("cooldown_days = 14", "cooldown_days = 21")
    saved = post_rule(admin, text, action="save", note="three weeks")
    assert saved.status_code == 302
    (version,) = rule_sets_of(admin)
    assert version.version == 1 and version.note == "three weeks" and version.created_by == "Ana"
    with open_store(config.database_path) as db:
        active = load_active_rules(db, config)
    assert active.rules.rule("repeat-reader").cooldown_days == 21
    assert active.rules.rule("onboarding-guide").cooldown_days == 30  # the others unchanged
    stale = admin.post(
        "/admin/outreach/edit",
        data={
            "csrf_token": csrf_of(admin.get(REPEAT).text),
            "rule": "repeat-reader",
            "text": text.replace("= 21", "= 28"),
            "action": "save",
            "base_version": "0",
        },
    )
    assert stale.status_code == 409 and "changed since you opened" in stale.text
    page = admin.get("/admin/outreach").text
    assert 'data-version="1"' in page and "three weeks" in page
    changes = admin.get("/admin/outreach/versions/1").text.split('id="changes"')[1]
    changed = re.findall(r"<(ins|del)>[+−] ([^<]*)</", changes.split("</section>")[0])
    assert changed == [("del", "cooldown_days = 14"), ("ins", "cooldown_days = 21")]


def test_enabling_is_a_save_and_needs_the_csrf_token(admin, config):
    refused = admin.post("/admin/outreach/rules/repeat-reader/enabled", data={"enabled": "1"})
    assert refused.status_code == 403
    assert set_enabled(admin, "repeat-reader", True).status_code == 302
    page = admin.get("/admin/outreach").text
    assert "repeat-reader is enabled" in page
    row = page.split('data-rule="repeat-reader"')[1].split("</tr>")[0]
    assert ">enabled</span>" in row and "Run now" in row
    (version,) = rule_sets_of(admin)
    assert version.note == "enabled repeat-reader"
    # restore the shipped rules: a new version, the rule disabled again
    versions = admin.get("/admin/outreach/versions/0").text
    assert 'name = "repeat-reader"' in html.unescape(versions)
    out = admin.post(
        "/admin/outreach/versions/0/restore",
        data={"csrf_token": csrf_of(versions), "base_version": base_of(versions)},
    )
    assert out.status_code == 302
    with open_store(config.database_path) as db:
        assert not load_active_rules(db, config).rules.rule("repeat-reader").enabled
        assert load_active_rules(db, config).version_number == 2


def test_the_outbox_filters_and_requeues_or_discards_uncertain_messages(
    admin,
    config,
    smtp_sink,  # noqa: F811
):
    set_enabled(admin, "repeat-reader", True)
    report = run_outreach(config, "repeat-reader")
    sent = report.delivery.sent
    assert sent > 1 and len(smtp_sink.messages) == sent
    first, second = _uncertain(config, 2)

    page = admin.get("/admin/outreach/outbox?rule=repeat-reader").text
    assert page.count('data-status="sent"') == sent - 2
    only = admin.get("/admin/outreach/outbox?status=uncertain").text
    assert only.count("<tr data-id=") == 2 and "Requeue" in only
    assert admin.get("/admin/outreach/outbox?rule=silent-customer").text.count("<tr data-id=") == 0

    token = csrf_of(only)
    assert admin.post(f"/admin/outreach/outbox/{first}/requeue").status_code == 403
    assert (
        admin.post(f"/admin/outreach/outbox/{first}/requeue", data={"csrf_token": "x"}).status_code
        == 403
    )
    out = admin.post(f"/admin/outreach/outbox/{first}/requeue", data={"csrf_token": token})
    assert out.status_code == 302
    out = admin.post(f"/admin/outreach/outbox/{second}/discard", data={"csrf_token": token})
    assert out.status_code == 302
    with open_store(config.database_path) as db:
        assert get_message(db, first)["status"] == "pending"
        assert get_message(db, second)["status"] == "discarded"
    again = admin.post(f"/admin/outreach/outbox/{second}/requeue", data={"csrf_token": token})
    assert "not uncertain or failed" in admin.get(again.headers["Location"]).text

    detail = admin.get(f"/admin/outreach/outbox/{second}").text
    assert "Why they were in the audience" in detail and "srcdoc=" in detail
    assert "discarded" in detail and "Text part" in detail


def test_why_names_the_condition_the_limit_or_the_message(admin, config):
    plan = preview_rule(config, "repeat-reader")
    receiver = plan.sendable[0].decision.candidate
    not_in = _someone_outside(config, plan)
    page = _why(admin, not_in, "repeat-reader")
    assert 'data-verdict="not_in_audience"' in page
    assert "max_views_same_article_7d ≥ 3" in page  # the condition, with their value

    page = _why(admin, receiver.email, "repeat-reader")
    assert 'data-verdict="would_send"' in page and "The rule is disabled" in page

    onboarding = preview_rule(config, "onboarding-guide")
    busy = next(p for p in onboarding.planned if p.decision.skipped == "open_ticket")
    page = _why(admin, busy.decision.candidate.customer_id, "onboarding-guide")
    assert 'data-verdict="limit"' in page and "unsolved ticket" in page

    set_enabled(admin, "repeat-reader", True)
    run_outreach(config, "repeat-reader")
    page = _why(admin, receiver.customer_id, "repeat-reader")
    assert 'data-verdict="claimed"' in page and "was sent" in page

    assert "Nobody found" in _why(admin, "nobody@example.com", "repeat-reader")


# --------------------------------------------------------------------------- helpers


def rule_sets_of(client) -> list:
    from plugin.store import open_store

    with open_store(client.application.extensions["journeydesk"].config.database_path) as db:
        return list_rule_sets(db, KIND)


def _why(client, customer, rule) -> str:
    response = client.get("/admin/outreach/why", query_string={"customer": customer, "rule": rule})
    assert response.status_code == 200
    return html.unescape(response.text)


def _uncertain(config, count: int) -> list[int]:
    """Mark `count` sent messages uncertain, as a run killed mid-send leaves them."""
    with open_store(config.database_path) as db, db.atomic():
        ids = [row[0] for row in db.execute("SELECT id FROM outbox ORDER BY id LIMIT ?", [count])]
        db.conn.executemany(
            "UPDATE outbox SET status = 'uncertain', sent_at = NULL WHERE id = ?",
            [[i] for i in ids],
        )
    return ids


def _someone_outside(config, plan) -> int:
    inside = {p.decision.candidate.customer_id for p in plan.planned}
    with open_store(config.database_path) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM customers WHERE merged_into IS NULL")]
    return next(i for i in ids if i not in inside)


def test_the_templates_tab_shows_each_shipped_template_escaped_with_its_rules(admin):
    page = admin.get("/admin/outreach/templates")
    assert page.status_code == 200
    text = page.text
    assert 'href="/admin/outreach/templates" class="active"' in text
    for name in ("repeat_reader", "onboarding_guide", "renewal_alert", "silent_checkin"):
        assert f'data-template="{name}"' in text
    section = re.search(r'data-template="repeat_reader">(.*?)</section>', text, re.S).group(1)
    assert '<a href="/admin/outreach/edit?rule=repeat-reader"><code>repeat-reader</code>' in section
    assert 'data-part="es-text"' in section and 'data-part="es-html"' in section
    # the HTML source is shown as text (escaped), not rendered
    assert "&lt;p&gt;Hi {{ customer.first_name }},&lt;/p&gt;" in section
    assert "<p>Hi {{" not in section
    alert = re.search(r'data-template="renewal_alert">(.*?)</section>', text, re.S).group(1)
    assert "renewal-open-ticket" in alert and "none: built from the text" in alert


def test_editing_a_copy_of_a_shipped_template_saves_a_version_and_never_the_file(admin):
    from plugin.outreach.templates import shipped_templates

    before = {n: dict(v) for n, v in shipped_templates().items()}
    page = admin.get("/admin/outreach/edit?rule=repeat-reader&copy_template=repeat_reader")
    assert page.status_code == 200 and 'id="copied-notice"' in page.text
    text = editor_text(page.text)
    assert "template =" not in text and "body.es =" in text and "body_html.es =" in text
    edited = text.replace("a person can", "a person on our team can", 1)
    assert edited != text
    preview = post_rule(admin, edited, copied="repeat_reader").text
    assert 'id="save-box"' in preview and "a person on our team can" in html.unescape(preview)
    assert 'value="own copy of the template repeat_reader"' in preview
    saved = post_rule(admin, edited, action="save", note="own copy of repeat_reader")
    assert saved.status_code == 302
    config = admin.application.extensions["journeydesk"].config
    with open_store(config.database_path) as db:
        rule = load_active_rules(db, config).rules.rule("repeat-reader")
    assert rule.template is None and set(rule.body_html) == {"en", "es"}
    assert "a person on our team can" in rule.body["en"] + rule.body_html["en"]
    shipped_templates.cache_clear()
    assert shipped_templates() == before  # the shipped files are as they were
    refused = edited.replace("{{ company }}", "{{ ''.__class__.__mro__ }}", 1)
    assert refused != edited
    page = post_rule(admin, refused, action="save")
    assert page.status_code == 422 and "refused" in page.text


def test_copying_an_unknown_template_is_a_404(admin):
    page = admin.get("/admin/outreach/edit?rule=repeat-reader&copy_template=nope")
    assert page.status_code == 404
