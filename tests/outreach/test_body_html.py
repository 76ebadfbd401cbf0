"""A rule's own `body_html` (by language, like `body`): validated, rendered autoescaped in
the sandbox; and a shipped template copied into a rule renders as the shipped one does."""

from __future__ import annotations

import tomllib

import pytest

from plugin.journey.conditions import ConditionError
from plugin.outreach.editing import rule_to_toml, with_template_copied
from plugin.outreach.rules import load_rules
from plugin.outreach.templates import (
    TemplateRefused,
    copied_body,
    render_message,
    shipped_templates,
    template_catalogue,
)

BASE = {"name": "r", "schedule": "0 9 * * *", "subject": "Hi"}
CONTEXT = {
    "customer": {"name": "Ana <b>x</b>", "first_name": "Ana", "locale": "es-MX"},
    "article": {"title": "SSO & you", "url": "https://help.example/sso", "views": 4},
    "company": "Acme",
}


def rule(**keys):
    return load_rules({"rules": [{**BASE, **keys}]}, file="config.toml").rules[0]


def test_body_html_is_rendered_autoescaped_in_the_customers_language():
    r = rule(
        body={"en": "Hi {{ customer.name }}", "es": "Hola {{ customer.name }}"},
        body_html={"en": "<p>Hi {{ customer.name }}</p>", "es": "<p>Hola {{ customer.name }}</p>"},
    )
    rendered = render_message(r, CONTEXT)
    assert rendered.language == "es"
    assert rendered.text == "Hola Ana <b>x</b>"
    assert rendered.html == "<p>Hola Ana &lt;b&gt;x&lt;/b&gt;</p>"


def test_without_body_html_the_html_part_is_built_from_the_text():
    rendered = render_message(rule(body="Hi {{ customer.name }}"), CONTEXT)
    assert rendered.html == "<p>Hi Ana &lt;b&gt;x&lt;/b&gt;</p>"


def test_body_html_reaching_for_internals_is_refused():
    r = rule(body="ok", body_html="<p>{{ ''.__class__.__mro__ }}</p>")
    with pytest.raises(TemplateRefused, match="HTML was refused"):
        render_message(r, CONTEXT)


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"template": "repeat_reader", "body_html": "<p>x</p>"}, "write body too"),
        ({"body": {"en": "x"}, "body_html": {"en": "<p>x</p>", "es": "<p>y</p>"}}, "body.es"),
        ({"body": "x", "body_html": {"es": "<p>y</p>"}}, "body_html"),
        ({"body": "x", "body_html": ""}, "body_html"),
    ],
)
def test_body_html_mistakes_are_named(keys, problem):
    with pytest.raises(ConditionError, match=problem):
        load_rules({"rules": [{**BASE, **keys}]}, file="config.toml")


def test_the_catalogue_lists_each_shipped_template_its_languages_and_rules():
    rules = load_rules(None, file="config.toml")
    catalogue = {t["name"]: t for t in template_catalogue(rules)}
    assert set(catalogue) == set(shipped_templates())
    assert catalogue["repeat_reader"]["languages"] == ["en", "es"]
    assert catalogue["repeat_reader"]["rules"] == ["repeat-reader"]
    assert catalogue["renewal_alert"]["languages"] == ["en"]
    assert set(catalogue["repeat_reader"]["sources"]["es"]) == {"text", "html"}


def test_a_copied_template_renders_exactly_as_the_shipped_one():
    shipped = load_rules(None, file="config.toml").rule("repeat-reader")
    copy = with_template_copied(shipped.source, copied_body("repeat_reader"))
    assert "template" not in copy and set(copy["body_html"]) == {"en", "es"}
    # through the editor's TOML and back, as the admin saves it
    again = tomllib.loads(rule_to_toml(copy))["outreach"]["rules"][0]
    assert again["body"] == copy["body"] and again["body_html"] == copy["body_html"]
    copied = load_rules({"rules": [again]}, file="editor").rules[0]
    for locale in ("en", "es"):
        context = {**CONTEXT, "customer": {**CONTEXT["customer"], "locale": locale}}
        assert render_message(copied, context) == render_message(shipped, context)
    assert "body_html" not in copied_body("silent_checkin")
