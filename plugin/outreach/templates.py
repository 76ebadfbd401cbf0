"""Rendering outreach messages in Jinja's sandbox.

Shipped templates live beside this module as `templates/<name>.<lang>.txt` (the text part)
and `templates/<name>.<lang>.html` (the HTML part, autoescaped). A rule's `body` (and its
`body_html`) is rendered the same way; without `body_html` the HTML part is built from the
text. The customer's language is
chosen from their locale (`es-MX` → `es`), falling back to English.

A template that reaches for Python internals (`{{ ''.__class__.__mro__ }}`) or does not
parse is refused with `TemplateRefused`: shown in the preview, never sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from markupsafe import Markup, escape

from plugin.errors import JourneydeskError
from plugin.outreach.rules import DEFAULT_LANGUAGE, OutreachRules, Rule

LANGUAGES = ("en", "es")


class TemplateRefused(JourneydeskError):
    """A template that cannot be rendered safely (or at all); nothing is sent."""

    code = "template_refused"


@dataclass(frozen=True)
class Rendered:
    language: str
    subject: str
    text: str
    html: str


_TEXT = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_HTML = SandboxedEnvironment(autoescape=True, keep_trailing_newline=True)


@functools.cache
def shipped_templates() -> dict[str, dict[str, dict[str, str]]]:
    """{name: {language: {"text": source, "html": source}}} of the shipped templates."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for entry in resources.files("plugin.outreach").joinpath("templates").iterdir():
        parts = entry.name.split(".")
        if len(parts) != 3 or parts[2] not in ("txt", "html"):
            continue
        name, language, kind = parts
        part = "text" if kind == "txt" else "html"
        found.setdefault(name, {}).setdefault(language, {})[part] = entry.read_text("utf-8")
    return found


def language_of(locale: str | None, available: Any = LANGUAGES) -> str:
    """`es-MX` → `es` when available, else English."""
    head = (locale or "").replace("_", "-").split("-")[0].lower()
    return head if head in available else DEFAULT_LANGUAGE


def render_message(rule: Rule, context: Mapping[str, Any]) -> Rendered:
    """Subject, text and HTML of `rule` for one recipient; raises TemplateRefused."""
    customer = context.get("customer") or {}
    if rule.template:
        sources = shipped_templates()[rule.template]
        language = language_of(customer.get("locale"), sources)
        text_source = sources[language].get("text", "")
        html_source = sources[language].get("html")
    else:
        language = language_of(customer.get("locale"), rule.body)
        text_source, html_source = rule.body[language], rule.body_html.get(language)
    subject_language = language if language in rule.subject else DEFAULT_LANGUAGE
    where = f'rule "{rule.name}"'
    subject = _render(_TEXT, rule.subject[subject_language], context, f"{where} subject")
    text = _render(_TEXT, text_source, context, f"{where} text")
    if html_source is None:
        html = _paragraphs(text)
    else:
        html = _render(_HTML, html_source, context, f"{where} HTML")
    return Rendered(language, " ".join(subject.split()), text, html)


def _render(env: SandboxedEnvironment, source: str, context: Mapping[str, Any], where: str) -> str:
    try:
        return env.from_string(source).render(**context)
    except SecurityError as exc:
        raise TemplateRefused(
            f"{where} was refused: it reaches for something templates may not use ({exc}). "
            "Use only the customer, stage, signals, articles and links it is given."
        ) from None
    except TemplateSyntaxError as exc:
        raise TemplateRefused(f"{where}: line {exc.lineno}: {exc.message}") from None
    except TemplateError as exc:
        raise TemplateRefused(f"{where} cannot be rendered: {exc}") from None
    except Exception as exc:  # a filter called with the wrong values, a division by zero
        raise TemplateRefused(f"{where} cannot be rendered: {type(exc).__name__}: {exc}") from None


def _paragraphs(text: str) -> str:
    """A plain-text body as simple HTML: escaped, one <p> per paragraph."""
    blocks = [block.strip() for block in text.split("\n\n") if block.strip()]
    return "\n".join(
        str(
            Markup("<p>{}</p>").format(
                Markup("<br>\n").join(escape(line) for line in b.split("\n"))
            )
        )
        for b in blocks
    )


_FOOTER = {
    "en": ("You get this because you use our product.", "Unsubscribe"),
    "es": ("Recibe este mensaje porque usa nuestro producto.", "Darse de baja"),
}


def with_unsubscribe(rendered: Rendered, url: str) -> Rendered:
    """The message with a visible unsubscribe link in both parts (emails)."""
    sentence, link = _FOOTER.get(rendered.language, _FOOTER[DEFAULT_LANGUAGE])
    text = f"{rendered.text.rstrip()}\n\n--\n{sentence}\n{link}: {url}\n"
    html = str(
        Markup(
            '{}\n<hr>\n<p style="font-size:12px;color:#666">{} <a href="{}">{}</a></p>\n'
        ).format(Markup(rendered.html.rstrip()), sentence, url, link)
    )
    return Rendered(rendered.language, rendered.subject, text, html)


# --------------------------------------------------------------------------- the admin's view


def template_catalogue(rules: OutreachRules) -> list[dict[str, Any]]:
    """Each shipped template: its name, its sources by language, and the rules using it."""
    catalogue = []
    for name, sources in sorted(shipped_templates().items()):
        languages = sorted(sources, key=lambda lang: (lang != DEFAULT_LANGUAGE, lang))
        catalogue.append(
            {
                "name": name,
                "languages": languages,
                "sources": {lang: sources[lang] for lang in languages},
                "rules": [r.name for r in rules.rules if r.template == name],
            }
        )
    return catalogue


def copied_body(name: str) -> dict[str, dict[str, str]]:
    """The shipped template `name` as a rule's own `body` (and `body_html` when it has an
    HTML part), by language: what an admin edits instead of the shipped file."""
    sources = shipped_templates()[name]
    order = sorted(sources, key=lambda lang: (lang != DEFAULT_LANGUAGE, lang))
    copied: dict[str, dict[str, str]] = {"body": {}}
    for language in order:
        if "text" in sources[language]:
            copied["body"][language] = sources[language]["text"]
    html = {
        lang: sources[lang]["html"]
        for lang in order
        if "html" in sources[lang] and lang in copied["body"]
    }
    if html:
        copied["body_html"] = html
    return copied
