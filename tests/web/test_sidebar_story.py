"""One story in every section of the sidebar, walked over the demo (issue 16, points 1-5).

Each walked sidebar is read as an agent reads it: the visible text, without what comes from
the desk or the customer (marked translate="no": names, subjects, titles, queries). Its
figures are checked against each other and against the store, in the window each names.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pytest

from plugin.app import create_app
from plugin.clock import now_epoch
from plugin.journey.conditions import Reason
from plugin.journey.reasons import render_reasons
from plugin.store import open_db
from plugin.store.history import effort_counts
from plugin.web.i18n import ago, translator

pytestmark = pytest.mark.usefixtures("backend")

DAY = 86_400
STAGES = ("awareness", "consideration", "purchase", "service", "retention", "advocacy")
SIGNALS = ("renewal_due", "churn_risk", "repeat_reader", "negative_csat", "high_value")


class VisibleText(HTMLParser):
    """The text a person sees: no script, no style, nothing marked translate="no"."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        hidden = tag in ("script", "style", "title") or ("translate", "no") in attrs
        self.stack.append(hidden or bool(self.stack and self.stack[-1]))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return re.sub(r"\s+", " ", " ".join(parser.parts)).strip()


def section(html: str, name: str) -> str:
    found = re.search(rf'<section class="{name}[ "].*?</section>', html, re.S)
    return found.group(0) if found else ""


@pytest.fixture(scope="module")
def demo(seeded_demo):
    app = create_app(dataclasses.replace(seeded_demo, demo_mode=True))
    return app.test_client()


@pytest.fixture(scope="module")
def walked(seeded_demo) -> list[str]:
    """The newest tickets of every stage and of every signal's customers, and the tickets
    of customers with the high-effort signal or a high-effort week without it."""
    conn = open_db(seeded_demo.database_path, migrate=False)
    ids: dict[str, None] = {}

    def add(sql: str, *params) -> None:
        for (ticket_id,) in conn.execute(sql, params):
            ids.setdefault(ticket_id, None)

    base = (
        "SELECT t.id FROM tickets t JOIN customer_journeys j ON j.customer_id = t.customer_id "
        "WHERE t.source = 'demo' AND t.deleted = 0 AND {} ORDER BY t.created_at DESC LIMIT {}"
    )
    for stage in STAGES:
        add(base.format("j.stage = ?", 8), stage)
    for signal in (*SIGNALS, "high_effort"):
        add(base.format("CAST(j.signals AS TEXT) LIKE ?", 8), f'%"{signal}"%')
    conn.conn.close()
    return list(ids)


def page(demo, ticket_id: str, lang: str = "en") -> str:
    response = demo.get(f"/sidebar/demo/{ticket_id}?lang={lang}")
    assert response.status_code == 200, ticket_id
    return response.get_data(as_text=True)


def journey(demo, ticket_id: str, lang: str = "en") -> dict:
    response = demo.get(f"/api/v1/tickets/demo/{ticket_id}/journey?lang={lang}")
    assert response.status_code == 200, ticket_id
    return response.get_json()


# ------------------------------------------------------------------ 1. a why for every stage


def test_every_stage_shown_has_reasons_the_fallback_included(demo, walked):
    stages_seen = set()
    for ticket_id in walked:
        for lang in ("en", "es"):
            body = journey(demo, ticket_id, lang)
            stages_seen.add(body["stage"]["key"])
            assert body["stage"]["reasons"], (ticket_id, body["stage"])
            assert 'class="why"' in page(demo, ticket_id, lang)
    assert stages_seen == set(STAGES)


def test_awareness_says_what_the_customer_has_and_has_not_done(demo, walked):
    aware = [t for t in walked if journey(demo, t)["stage"]["key"] == "awareness"]
    assert aware
    for ticket_id in aware:
        reasons = journey(demo, ticket_id)["stage"]["reasons"]
        assert "has not bought yet" in reasons, reasons
        assert any(r.startswith("on the ") and r.endswith(" plan") for r in reasons), reasons
        assert any("Plans & pricing in the 30 days before now" in r for r in reasons), reasons
        spanish = journey(demo, ticket_id, "es")["stage"]["reasons"]
        assert "todavía no ha comprado" in spanish, spanish


# ------------------------------------------------------------------ 2. one "high effort"


def test_high_effort_has_one_definition_one_number_one_place(demo, walked):
    seen = {True: 0, False: 0}
    for ticket_id in walked:
        body = journey(demo, ticket_id)
        signal = any(s["key"] == "high_effort" for s in body["signals"])
        seen[signal] += 1
        assert (body["effort"]["level"] == "high") == signal, ticket_id
        words = VisibleText.of(page(demo, ticket_id))
        assert words.count("High effort") == (1 if signal else 0), (ticket_id, words)
        if signal:  # its figures live in the signal; the activity line does not repeat them
            assert 'class="effort"' not in page(demo, ticket_id)
    assert seen[True] and seen[False], seen


# ------------------------------------------------------------------ 3. windows and counts


def test_every_figure_names_its_window_and_agrees_with_the_others(demo, walked, seeded_demo):
    db = open_db(seeded_demo.database_path)
    conn = db.conn
    lookback = seeded_demo.sidebar["lookback_days"]
    now = now_epoch()
    checked = 0
    try:
        for ticket_id in walked:
            html = page(demo, ticket_id)
            body = journey(demo, ticket_id)
            created, customer_id = conn.execute(
                "SELECT created_at, customer_id FROM tickets WHERE source = 'demo' AND id = ?",
                [ticket_id],
            ).fetchone()

            # the articles: the section names its window, each ×N counts in it
            articles = section(html, "articles")
            assert f"Read in the {lookback} days before the ticket" in VisibleText.of(articles)
            for item in body["articles_before_ticket"]:
                (views,) = conn.execute(
                    "SELECT count(*) FROM touchpoints WHERE customer_id = ? AND type = "
                    "'article_view' AND article_id = ? AND occurred_at BETWEEN ? AND ?",
                    [customer_id, item["article_id"], created - lookback * DAY, created],
                ).fetchone()
                assert item["views"] == views, (ticket_id, item)
                shown = re.search(
                    rf'data-article-id="{item["article_id"]}".*?</li>', articles, re.S
                ).group(0)
                if views > 1:
                    assert f"×{views}" in shown
                    assert f"Read {views} times in the {lookback} days before this ticket" in shown

            # the activity line: the 7 days before the ticket, as the store counts them
            counts = effort_counts(db, customer_id, start=created - 7 * DAY, end=created)
            line = re.search(r'<p class="effort".*?</p>', html, re.S)
            if line:
                words = VisibleText.of(line.group(0))
                assert "in the 7 days before this ticket" in words, words
                if counts["articles"]:
                    assert re.search(rf"\b{counts['articles']} articles? read\b", words), words
                if counts["contacts"]:
                    assert re.search(rf"\b{counts['contacts']} contacts?\b", words), words
                # sections against each other: the listed articles of those 7 days are
                # all counted, and all of them are listed when the list is not cut short
                recent = [
                    a
                    for a in body["articles_before_ticket"]
                    if a["minutes_before_ticket"] < 7 * 1440
                ]
                assert len(recent) <= counts["articles"], ticket_id
                if len(body["articles_before_ticket"]) < seeded_demo.sidebar["articles_shown"]:
                    assert len(recent) == counts["articles"], ticket_id

            # the signals: every count says it runs to now, and is the store's count
            for signal in body["signals"]:
                for reason in signal["reasons"]:
                    if re.search(r"\d+ (tickets?|articles?|times?)\b", reason):
                        assert "before now" in reason, reason
                if signal["key"] in ("repeat_reader", "high_effort"):
                    rows = conn.execute(
                        "SELECT count(*) FROM touchpoints WHERE customer_id = ? AND type = "
                        "'article_view' AND occurred_at >= ? GROUP BY article_id",
                        [customer_id, now - 7 * DAY],
                    ).fetchall()
                    text = " ".join(signal["reasons"])
                    if signal["key"] == "repeat_reader":
                        assert f"{max(n for (n,) in rows)} times in the 7 days" in text, text
                    else:
                        assert f"read {len(rows)} articles in the 7 days before now" in text
            checked += 1
    finally:
        conn.close()
    assert checked == len(walked) > 40


# ------------------------------------------------------------------ 4. written as a person


def test_reasons_read_as_a_person_writes_them(demo, walked):
    code = re.compile(r'["_]|[≤≥≠<>]|\(\s*[<>≤≥]')
    for ticket_id in walked:
        for lang in ("en", "es"):
            body = journey(demo, ticket_id, lang)
            lists = [body["stage"]["reasons"], *(s["reasons"] for s in body["signals"])]
            for reasons in lists:
                assert len(reasons) == len(set(reasons)), reasons
                for reason in reasons:
                    assert not code.search(reason), (ticket_id, lang, reason)
            words = VisibleText.of(page(demo, ticket_id, lang))
            assert not re.search(r"\d{4}-\d{2}-\d{2}", words), (ticket_id, words)


def test_renewal_limits_merge_into_one_reason():
    both = [Reason("days_until_renewal", "lte", 30, 5), Reason("days_until_renewal", "gte", 0, 5)]
    assert render_reasons(both) == ["renews in 5 days"]
    assert render_reasons([Reason("plan", "eq", "trial", "trial")]) == ["on a trial"]


@pytest.mark.parametrize(
    ("minutes", "en", "es"),
    [
        (0, "<1 min", "<1 min"),
        (42, "42 min", "42 min"),
        (60, "1 h", "1 h"),
        (97, "1 h 37 min", "1 h 37 min"),
        (9 * 60 + 59, "9 h 59 min", "9 h 59 min"),
        (22 * 60 + 40, "23 h", "23 h"),
        (60 * 60, "3 days", "3 días"),  # 2.5 days: the nearest day, not the day before
        (36 * 60, "36 h", "36 h"),
    ],
)
def test_durations_are_rounded_honestly(minutes, en, es):
    assert ago(minutes, translator("en")) == en
    assert ago(minutes, translator("es")) == es


def test_one_date_style_per_language(demo, walked):
    for ticket_id in walked[:12]:
        english = VisibleText.of(page(demo, ticket_id, "en"))
        spanish = VisibleText.of(page(demo, ticket_id, "es"))
        assert re.search(r"Customer since [A-Z][a-z]{2} \d{1,2}, \d{4}", english), english
        assert re.search(r"Cliente desde el \d{1,2} [a-z]{3,4} \d{4}", spanish), spanish
        # recent moments relative, older ones absolute: never a bare "11-19 18:06"
        assert not re.search(r"\b\d{2}-\d{2} \d{2}:\d{2}\b", english + spanish)


# ------------------------------------------------------------------ 5. complete Spanish

ENGLISH_WORDS = (  # not "ago" or "plan": a Spanish month (agosto) and a Spanish word
    "the", "and", "read", "before", "days", "since", "why", "articles",
    "signal", "signals", "activity", "recent", "opened", "searched", "check", "find", "reply",
    "article", "customer", "high", "effort", "low", "some", "none", "bought", "renews", "last",
    "rated", "good", "bad", "trial", "free", "team", "business", "enterprise", "value",
    "this", "ticket solved", "signed", "other", "open tickets", "not found",
)  # fmt: skip
RAW_VALUES = (
    "awareness", "consideration", "purchase", "service", "retention", "advocacy",
    "renewal_due", "churn_risk", "repeat_reader", "negative_csat", "high_value", "high_effort",
    "medium", "article_view", "ticket_opened", "csat",
)  # fmt: skip


def english_in(words: str) -> list[str]:
    return [
        w
        for w in (*ENGLISH_WORDS, *RAW_VALUES)
        if re.search(rf"(?<![\w/.#-]){re.escape(w)}(?![\w/.-])", words, re.I)
    ]


def test_every_agent_page_in_spanish_has_no_english_and_no_raw_value(demo, walked):
    for ticket_id in walked:
        html = page(demo, ticket_id, "es")
        words = VisibleText.of(html)
        assert english_in(words) == [], (ticket_id, english_in(words), words)
        fragment = demo.get(f"/sidebar/demo/{ticket_id}?lang=es&fragment=1")
        fragment_words = VisibleText.of(fragment.get_data(as_text=True))
        assert english_in(fragment_words) == [], (ticket_id, fragment_words)
        # every timeline item and tooltip too: the folded sections are in the page
        for title in re.findall(r'title="([^"]*)"', html):
            if re.fullmatch(r"[\d :-]+UTC", title):
                continue
            assert english_in(title) == [], (ticket_id, title)
    for path in ("/nope", "/sidebar/demo/99999999", "/sidebar/zendesk/1"):
        body = demo.get(f"{path}?lang=es").get_data(as_text=True)
        words = VisibleText.of(body.split("HTTP ")[0])  # the status code line is for admins
        assert english_in(words) == [], (path, words)


def test_the_english_word_check_catches_what_the_issue_saw():
    assert english_in("última valoración CSAT good") == ["good", "csat"]
    assert english_in("el plan es trial") == ["trial"]  # "plan" is Spanish too
    assert english_in("Por qué ▾ con el plan Empresa") == []
