"""The journey note's words (pure): a ticket's journey payload (`plugin/sidebar.py`, what
the sidebar shows) and its SLA decision, as a short private note in HTML (Zendesk,
Freshdesk) and in plain text (Chatwoot's Markdown, the record kept in the store).

It says, in a few lines: the stage and why, the signals (with theirs), the last articles
read before the ticket, and what SLA rules decided — then a marker that names the note,
so a retry can find it on the ticket instead of posting it twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from connectors.records import Note
from plugin.journey.reasons import DEFAULT_LANGUAGE, LANGUAGES
from plugin.sla.explain import duration, explain_decision

PHRASES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Journey",
        "stage": "Stage",
        "signals": "Signals",
        "read_before": "Read before the ticket",
        "before": "{time} before",
        "no_reading": "No articles read in the {days} days before the ticket.",
        "sla": "SLA",
        "ref": "journeydesk note {marker}",
    },
    "es": {
        "title": "Recorrido",
        "stage": "Etapa",
        "signals": "Señales",
        "read_before": "Leyó antes del ticket",
        "before": "{time} antes",
        "no_reading": "No leyó ningún artículo en los {days} días previos al ticket.",
        "sla": "SLA",
        "ref": "nota de journeydesk {marker}",
    },
}


def note_marker(source: str, ticket_id: str) -> str:
    """The text that names a ticket's journey note (one note per ticket, ever)."""
    return f"jd-note:{source}:{ticket_id}"


def compose_note(
    journey: Mapping[str, Any],
    decision: Mapping[str, Any] | None,
    *,
    marker: str,
    lang: str = DEFAULT_LANGUAGE,
    lookback_days: int = 30,
) -> Note:
    """The note of one ticket: `journey` is its payload in `lang`, `decision` its stored
    SLA decision (None, or no rule matched: the note says nothing of SLA)."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    words = PHRASES[lang]
    lines = _lines(journey, decision, words, lang, lookback_days)
    html = "".join(_html(line) for line in lines)
    html += f"<p><small>{escape(words['ref'].format(marker=marker))}</small></p>"
    text = "\n".join(_text(line) for line in lines)
    text += "\n" + words["ref"].format(marker=marker)
    return Note(html=html, text=text, marker=marker)


# A line is (label, lead, detail, items): "Stage: Purchase — purchased 3 days ago",
# items a list of (title, url, meta) shown as a list under it.
Line = tuple[str, str, str, list[tuple[str, str | None, str]]]


def _lines(
    journey: Mapping[str, Any],
    decision: Mapping[str, Any] | None,
    words: Mapping[str, str],
    lang: str,
    lookback_days: int,
) -> list[Line]:
    stage = journey["stage"]
    lines: list[Line] = [(words["stage"], stage["label"], ", ".join(stage["reasons"]), [])]
    if journey["signals"]:
        described = [
            f"{s['label']} ({', '.join(s['reasons'])})" if s["reasons"] else s["label"]
            for s in journey["signals"]
        ]
        lines.append((words["signals"], "; ".join(described), "", []))
    articles = journey["articles_before_ticket"]
    if articles:
        items = [
            (
                a["title"],
                a["url"],
                words["before"].format(time=duration(max(1, a["minutes_before_ticket"]), lang)),
            )
            for a in articles
        ]
        lines.append((words["read_before"], "", "", items))
    else:
        lines.append(("", words["no_reading"].format(days=lookback_days), "", []))
    if decision is not None and decision.get("rule") is not None:
        lines.append((words["sla"], explain_decision(decision, lang).sentence, "", []))
    return lines


def _html(line: Line) -> str:
    label, lead, detail, items = line
    head = f"<strong>{escape(label)}:</strong> " if label else ""
    body = escape(lead) + (f" — {escape(detail)}" if detail else "")
    if not items:
        return f"<p>{head}{body}</p>"
    entries = "".join(
        "<li>"
        + (f'<a href="{escape(url)}">{escape(title)}</a>' if _web(url) else escape(title))
        + f" ({escape(meta)})</li>"
        for title, url, meta in items
    )
    return f"<p>{head.rstrip()}</p><ul>{entries}</ul>"


def _text(line: Line) -> str:
    label, lead, detail, items = line
    head = f"{label}: " if label else ""
    body = lead + (f" — {detail}" if detail else "")
    if not items:
        return head + body
    entries = [
        f"- {title} ({meta})" + (f" {url}" if _web(url) else "") for title, url, meta in items
    ]
    return "\n".join([head.rstrip(), *entries])


def _web(url: str | None) -> bool:
    """Only web links are linked (a desk's article URL is data, not trusted markup)."""
    return bool(url) and url.startswith(("https://", "http://"))
