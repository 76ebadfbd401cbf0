"""The journey note's words: short, escaped, in the connector's language, with a marker."""

from __future__ import annotations

from plugin.notes.compose import compose_note, note_marker

JOURNEY = {
    "stage": {"key": "purchase", "label": "Purchase", "reasons": ["purchased 3 days ago (≤ 7)"]},
    "signals": [
        {"key": "renewal_due", "label": "Renewal due", "reasons": ["renewal in 12 days (≤ 30)"]},
        {"key": "high_value", "label": "High value", "reasons": []},
    ],
    "articles_before_ticket": [
        {
            "title": "Export <data> & CSV",
            "url": "https://help.example/a/1",
            "minutes_before_ticket": 12,
        },
        {"title": "Odd link", "url": "javascript:alert(1)", "minutes_before_ticket": 0},
    ],
}
DECISION = {
    "rule": "purchase-moment",
    "priority_before": "normal",
    "priority_after": "urgent",
    "tags_added": [],
    "targets": {"first_response_minutes": 60, "resolution_minutes": None},
    "reasons": [{"fact": "stage", "op": "eq", "expected": "purchase", "actual": "purchase"}],
}
MARKER = note_marker("zendesk", "101")


def test_the_note_says_stage_signals_reading_and_sla_in_html_and_text():
    note = compose_note(JOURNEY, DECISION, marker=MARKER)
    assert note.html.startswith(
        "<p><strong>Stage:</strong> Purchase — purchased 3 days ago (≤ 7)</p>"
        "<p><strong>Signals:</strong> Renewal due (renewal in 12 days (≤ 30)); High value</p>"
    )
    assert '<li><a href="https://help.example/a/1">Export &lt;data&gt; &amp; CSV</a>' in note.html
    assert "<li>Odd link (1 min before)</li>" in note.html  # no link but a web one
    assert "Priority raised to urgent: in the Purchase stage; first reply" in note.html
    assert note.text.splitlines() == [
        "Stage: Purchase — purchased 3 days ago (≤ 7)",
        "Signals: Renewal due (renewal in 12 days (≤ 30)); High value",
        "Read before the ticket:",
        "- Export <data> & CSV (12 min before) https://help.example/a/1",
        "- Odd link (1 min before)",
        "SLA: Priority raised to urgent: in the Purchase stage; first reply within 1 h",
        f"journeydesk note {MARKER}",
    ]
    assert MARKER in note.html and note.marker == MARKER


def test_no_sla_line_when_no_rule_matched_or_none_decided_and_spanish_words():
    quiet = {**JOURNEY, "signals": [], "articles_before_ticket": []}
    for decision in (None, {**DECISION, "rule": None}):
        note = compose_note(quiet, decision, marker=MARKER, lang="es", lookback_days=14)
        assert note.text.splitlines() == [
            "Etapa: Purchase — purchased 3 days ago (≤ 7)",
            "No leyó ningún artículo en los 14 días previos al ticket.",
            f"nota de journeydesk {MARKER}",
        ]
