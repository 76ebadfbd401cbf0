"""The sidebar and the already-read guard in real headless Chromium, as an agent uses them.

- the demo sidebar: stage, reasons, five articles; the reply-draft checker warns for any URL
  form of an article the customer read and stays quiet for an unread one; the search marks
  read articles; English and Spanish screenshots (tests/artifacts/).
- the Zendesk app: Zendesk's signed POST opens the page; a stand-in of the ZAF SDK (served at
  the SDK's CDN address) plays the host: ticket id, resize, and the ticket.save hook — the
  save is cancelled unless the agent clicks "Send anyway" in the sidebar.
- hostile data: an article title, a customer name, a ticket subject and a search query with
  <script>/<img onerror> are shown as text and nothing runs.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from connectors.records import Article, Customer, CustomerRef, Ticket, Touchpoint
from plugin.app import create_app
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.articles import upsert_articles
from plugin.store.customers import upsert_customers
from plugin.store.tickets import upsert_tickets
from plugin.store.touchpoints import insert_touchpoints
from plugin.web.desks import ZAF_SDK_URL
from tests.browser.folds import unfold
from tests.helpers.config import SECRET
from tests.helpers.desk_app import add_desk_ticket, desk_config, rsa_key_pair, zaf_jwt

DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "sidebar.png"
XSS_TITLE = '<script>window.__pwned = "title"</script><img src=x onerror="window.__pwned=1">'
XSS_NAME = "<img src=x onerror=\"alert('name')\">Mallory"
XSS_SUBJECT = "<script>alert('subject')</script>Help"
XSS_QUERY = "<svg onload=alert('query')>"

# What the ZAF SDK does, reduced to what the page uses (npm zendesk_app_framework_sdk 2.0.11,
# lib/client.js and lib/utils.js): init() is false without origin and app_guid in the URL;
# get/invoke answer promises; a ticket.save handler cancels the save by returning false, a
# string or an Error, by throwing, or by returning a promise that rejects.
ZAF_STAND_IN = """
(function () {
  var state = window.__zaf = { handlers: {}, draft: '', type: 'publicReply', invoked: [],
                               saves: [], ticketId: 501, locale: 'en-US' };
  function values() {
    return { 'ticket.id': state.ticketId, 'currentUser.locale': state.locale,
             'comment.text': state.draft, 'comment.type': state.type };
  }
  window.ZAFClient = { init: function () {
    var query = new URLSearchParams(window.location.search);
    if (!query.get('origin') || !query.get('app_guid')) return false;
    return {
      get: function (paths) {
        var out = {}, all = values();
        [].concat(paths).forEach(function (p) { out[p] = all[p]; });
        return Promise.resolve(out);
      },
      on: function (name, fn) { (state.handlers[name] = state.handlers[name] || []).push(fn); },
      invoke: function (name, args) {
        state.invoked.push([name, args]);
        return Promise.resolve({});
      },
      context: function () { return Promise.resolve({ location: 'ticket_sidebar' }); }
    };
  } };
  function cancels(value) {
    return value === false || typeof value === 'string' || value instanceof Error;
  }
  window.__zafType = function (text, type) {
    state.draft = text;
    state.type = type || 'publicReply';
    (state.handlers['comment.text.changed'] || []).forEach(function (fn) { fn(text); });
  };
  window.__zafSave = function () {
    var verdict = { state: 'pending', reason: null };
    state.saves.push(verdict);
    var results = (state.handlers['ticket.save'] || []).map(function (fn) {
      try {
        var value = fn();
        return cancels(value) ? Promise.reject(value) : Promise.resolve(value);
      } catch (err) { return Promise.reject(err); }
    });
    Promise.all(results).then(function () { verdict.state = 'saved'; },
      function (reason) { verdict.state = 'cancelled'; verdict.reason = String(reason); });
    return state.saves.length - 1;
  };
})();
"""


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def desk(seeded_demo, tmp_path_factory):
    """A live app wired to every desk, on a copy of the demo DB (tests write to it)."""
    patch = pytest.MonkeyPatch()
    key, pem = rsa_key_pair()
    config = desk_config(
        tmp_path_factory.mktemp("browser-desk"),
        seeded_demo,
        patch,
        public_pem=pem,
        chatwoot_url="http://127.0.0.1:9",
    )
    reader = reading_ticket(config)
    add_desk_ticket(config, "zendesk", "501", reader["customer_id"])
    hostile = add_hostile_records(config)
    server, url = serve(create_app(config))
    yield {"url": url, "config": config, "key": key, "reader": reader, "hostile": hostile}
    server.shutdown()
    patch.undo()


def reading_ticket(config) -> dict:
    """A demo ticket with 5+ articles read before it; one article read, one never read."""
    conn = sqlite3.connect(config.database_path)
    ticket_id, customer = conn.execute(
        "SELECT t.id, t.customer_id FROM tickets t WHERE t.source = 'demo' AND "
        "(SELECT count(DISTINCT v.article_id) FROM touchpoints v "
        "WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
        "AND v.occurred_at BETWEEN t.created_at - 30 * 86400 AND t.created_at) >= 6 "
        "ORDER BY t.id LIMIT 1"
    ).fetchone()
    read_id = conn.execute(
        "SELECT article_id FROM touchpoints WHERE customer_id = ? AND type = 'article_view' "
        "ORDER BY occurred_at DESC LIMIT 1",
        [customer],
    ).fetchone()[0]
    urls = dict(conn.execute("SELECT locale, url FROM articles WHERE group_id = ?", [read_id]))
    title = conn.execute(
        "SELECT title FROM articles WHERE group_id = ? AND locale = 'en-us'", [read_id]
    ).fetchone()[0]
    unread = conn.execute(
        "SELECT url FROM articles WHERE locale = 'en-us' AND group_id NOT IN (SELECT article_id "
        "FROM touchpoints WHERE customer_id = ? AND type = 'article_view') LIMIT 1",
        [customer],
    ).fetchone()[0]
    conn.close()
    return {
        "ticket": ticket_id,
        "customer_id": customer,
        "read_id": read_id,
        "read_title": title,
        "read_urls": urls,
        "unread_url": unread,
    }


def add_hostile_records(config) -> dict:
    """A customer, ticket, article and search whose text is markup, through the store."""
    created = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    ref = CustomerRef(source_id="mallory")
    url = "http://127.0.0.1:8000/demo/hc/en-us/articles/999000001-hostile"
    db = open_db(config.database_path)
    with db.atomic():
        upsert_articles(
            db,
            "demo",
            [Article("999000001", "en-us", XSS_TITLE, url, section="Hostile", category="Hostile")],
        )
        upsert_customers(db, "demo", [Customer("mallory", "mallory@evil.example", XSS_NAME)])
        upsert_tickets(db, "demo", [Ticket("hostile-1", ref, XSS_SUBJECT, created)])
        insert_touchpoints(
            db,
            "demo",
            [
                Touchpoint(
                    "hostile-view",
                    "article_view",
                    created - timedelta(minutes=20),
                    ref,
                    article_id="999000001",
                    article_title=XSS_TITLE,
                    article_url=url,
                ),
                Touchpoint(
                    "hostile-search",
                    "search",
                    created - timedelta(minutes=25),
                    ref,
                    properties={"query": XSS_QUERY, "result_count": 0},
                ),
            ],
            article_source="demo",
        )
    db.conn.close()
    return {"ticket": "hostile-1", "url": url}


def token_page(desk, ticket_id: str, lang: str = "en") -> str:
    token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
    return f"{desk['url']}/sidebar/demo/{ticket_id}?token={token}&lang={lang}"


def type_draft(page, text: str) -> None:
    unfold(page, "guard")
    page.fill("#jd-draft", text)


# --- the sidebar page ------------------------------------------------------------------------


def test_the_sidebar_shows_the_journey_and_flags_read_articles(page, desk, artifacts):
    reader = desk["reader"]
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_viewport_size({"width": 320, "height": 900})
    page.goto(token_page(desk, reader["ticket"]))

    expect(page.locator(".stage-badge")).to_be_visible()
    expect(page.locator(".stage-details .reasons li").first).to_be_visible()
    expect(page.locator(".articles .article-title")).to_have_count(5)
    whens = page.locator(".article .when").all_inner_texts()
    assert all(re.fullmatch(r"(<1|\d+) (min|h|days?) before the ticket", w) for w in whens), whens
    expect(page.locator(".effort")).to_contain_text("in the 7 days before this ticket")

    en, es = reader["read_urls"]["en-us"], reader["read_urls"]["es"]
    result = page.locator("#jd-draft-result")
    for draft in (
        f"Hi, please follow {en}.",
        f'<p>Mira <a href="{es}?utm_source=support#paso-2">esta guía</a></p>',
        f"https://acme.zendesk.com/hc/en-us/articles/{reader['read_id']}",
    ):
        type_draft(page, draft)
        expect(result.locator(".warning")).to_have_count(1)
        expect(result.locator(".warning-article")).to_have_text(reader["read_title"])
    expect(result.locator(".warning-message")).to_contain_text("The customer already read")
    expect(result.locator(".alternatives li").first).to_be_visible()
    page.screenshot(path=artifacts / "sidebar-guard-en.png", full_page=True)

    type_draft(page, f"Could you try {reader['unread_url']} instead?")
    expect(result.locator(".guard-ok")).to_have_text(
        "1 article link checked: the customer has not read it."
    )
    expect(result.locator(".warning")).to_have_count(0)

    type_draft(page, f"Both {en} and {reader['unread_url']}")  # one read, one not
    expect(result.locator(".warning")).to_have_count(1)
    expect(result.locator(".guard-clear")).to_contain_text("Not read yet, fine to send:")
    expect(result.locator(".guard-clear a")).to_have_count(1)

    # while the next draft is checked, the last answer stays on screen, readable (axe-core
    # checks this state at the screenshot: it was faded below 4.5:1 contrast)
    held = []
    page.route("**/check-reply*", lambda route: held.append(route))
    type_draft(page, f"Only {reader['unread_url']} now")
    expect(result).to_have_attribute("aria-busy", "true")
    expect(result.locator(".guard-clear")).to_be_visible()
    page.screenshot(path=artifacts / "sidebar-guard-busy.png")
    held[-1].continue_()
    page.unroute("**/check-reply*")
    expect(result.locator(".guard-ok")).to_contain_text("the customer has not read it")

    pasted_log = "trace line with nothing in it\n" * 3_000  # twice: ~180 KB, over 100 KB
    page.locator("#jd-draft").evaluate(  # pasted in one go, as an agent pastes a log
        "(box, text) => { box.value = text; box.dispatchEvent(new Event('input')); }",
        f"{pasted_log}Please read {en}\n{pasted_log}",
    )
    expect(result.locator(".warning")).to_have_count(1)  # checked by its links, not refused
    expect(result.locator(".warning-article")).to_have_text(reader["read_title"])

    unfold(page, "search")
    page.fill("#jd-search", reader["read_title"])
    hit = page.locator(f'.search-list .result[data-article-id="{reader["read_id"]}"]')
    expect(hit.locator(".tag-read")).to_have_text("Already read")
    assert dialogs == []


def test_the_spanish_sidebar_and_the_readme_screenshot(page, browser, desk, artifacts):
    reader = desk["reader"]
    page.set_viewport_size({"width": 320, "height": 900})
    page.goto(token_page(desk, reader["ticket"], lang="es"))
    expect(page.locator("section.articles h2")).to_have_text(
        "Leído en los 30 días antes del ticket"
    )
    type_draft(page, f"Hola, revisa {reader['read_urls']['es']}")
    expect(page.locator("#jd-draft-result .warning-message")).to_contain_text("El cliente ya leyó")
    page.screenshot(path=artifacts / "sidebar-guard-es.png", full_page=True)

    ticket_id, url = showcase(desk["config"])
    sharp = browser.new_context(viewport={"width": 320, "height": 900}, device_scale_factor=2)
    page = sharp.new_page()
    page.goto(token_page(desk, ticket_id))
    type_draft(page, f"Try this guide: {url}")
    expect(page.locator("#jd-draft-result .warning")).to_have_count(1)
    page.locator("#jd-draft").blur()
    end = page.locator("section.kb-search").bounding_box()
    page.screenshot(
        path=artifacts / "sidebar-readme.png",
        full_page=True,
        clip={"x": 0, "y": 0, "width": 320, "height": end["y"] - 4},
    )
    sharp.close()
    DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifacts / "sidebar-readme.png", DOCS_IMAGE)


def showcase(config) -> tuple[str, str]:
    """For the README: a ticket whose customer shows signals and re-read an article before
    writing, and the URL of the article they read most."""
    conn = sqlite3.connect(config.database_path)
    ticket_id, url = conn.execute(
        "SELECT t.id, (SELECT v.article_url FROM touchpoints v WHERE v.customer_id = "
        "t.customer_id AND v.type = 'article_view' AND v.occurred_at <= t.created_at "
        "GROUP BY v.article_id ORDER BY count(*) DESC, max(v.occurred_at) DESC LIMIT 1) "
        "FROM tickets t JOIN customer_journeys j ON j.customer_id = t.customer_id "
        "WHERE t.source = 'demo' AND t.status IN ('new', 'open', 'pending') "
        "AND json_array_length(j.signals) >= 2 AND (SELECT count(DISTINCT v.article_id) "
        "FROM touchpoints v WHERE v.customer_id = t.customer_id AND v.type = 'article_view' "
        "AND v.occurred_at BETWEEN t.created_at - 30 * 86400 AND t.created_at) >= 5 "
        "ORDER BY (SELECT max(n) FROM (SELECT count(*) AS n FROM touchpoints v "
        "WHERE v.customer_id = t.customer_id AND v.type = 'article_view' AND v.occurred_at "
        "BETWEEN t.created_at - 30 * 86400 AND t.created_at GROUP BY v.article_id)) DESC, t.id "
        "LIMIT 1"
    ).fetchone()
    conn.close()
    return ticket_id, url


# --- the Zendesk app -------------------------------------------------------------------------


def open_zendesk_app(page, desk):
    """Zendesk's first request: a POST of the signed JWT to the app URL (auto-submitted)."""
    page.route(
        ZAF_SDK_URL, lambda route: route.fulfill(body=ZAF_STAND_IN, content_type="text/javascript")
    )
    action = f"{desk['url']}/zendesk/sidebar?origin=https://acme.zendesk.com&app_guid=abc-123"
    token = zaf_jwt(desk["key"])
    page.set_content(
        f'<form method="post" action="{action}"><input name="token" value="{token}"></form>'
    )
    with page.expect_navigation():
        page.locator("form").evaluate("form => form.submit()")


def save(page) -> dict:
    index = page.evaluate("window.__zafSave()")
    return {"index": index}


def verdict(page, ticket: dict) -> dict:
    return page.evaluate(f"window.__zaf.saves[{ticket['index']}]")


def wait_for(page, expression: str, timeout: float = 5.0):
    """Poll `expression` with page.evaluate: the page's CSP (no eval) rules out
    wait_for_function's string predicates, and it must stay on to be tested."""
    deadline = time.monotonic() + timeout
    while not (value := page.evaluate(expression)):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(25)
    return value


def wait_verdict(page, ticket: dict, state: str) -> dict:
    wait_for(page, f"window.__zaf.saves[{ticket['index']}].state === '{state}'")
    return verdict(page, ticket)


def test_the_zendesk_save_hook_needs_a_confirmation(page, desk, artifacts):
    reader = desk["reader"]
    page.set_viewport_size({"width": 320, "height": 900})
    open_zendesk_app(page, desk)
    expect(page.locator(".stage-badge")).to_be_visible()
    expect(page.locator(".articles .article-title").first).to_be_visible()
    assert "origin=https://acme.zendesk.com" in page.url and "app_guid=abc-123" in page.url
    wait_for(page, "window.__zaf.invoked.some(c => c[0] === 'resize')")

    # a reply without an already-read article: saved at once
    page.evaluate(f"window.__zafType({reader['unread_url']!r})")
    assert wait_verdict(page, save(page), "saved")["reason"] is None

    # an internal note is never held back
    read_link = f'<p>Try <a href="{reader["read_urls"]["en-us"]}">this</a></p>'
    page.evaluate(f"window.__zafType({read_link!r}, 'internalNote')")
    wait_verdict(page, save(page), "saved")

    # a public reply linking an article the customer read: held until the agent decides
    page.evaluate(f"window.__zafType({read_link!r})")
    expect(page.locator("#jd-confirm")).to_be_visible()  # warned while typing already
    pending = save(page)
    expect(page.locator("#jd-send-anyway")).to_be_visible()
    page.wait_for_timeout(300)
    assert verdict(page, pending)["state"] == "pending"
    page.screenshot(path=artifacts / "zendesk-confirm.png", full_page=True)
    page.click("#jd-edit-reply")
    cancelled = wait_verdict(page, pending, "cancelled")
    assert reader["read_title"] in cancelled["reason"]

    again = save(page)
    expect(page.locator("#jd-send-anyway")).to_be_visible()
    page.click("#jd-send-anyway")
    wait_verdict(page, again, "saved")
    expect(page.locator("#jd-confirm")).to_be_hidden()

    # a reply over the 100 KB check-reply takes (a pasted log): checked by its links, held
    pasted = "trace line with nothing in it\n" * 4_000 + read_link  # ~120 KB
    page.evaluate("text => window.__zafType(text)", pasted)
    big = save(page)
    expect(page.locator("#jd-send-anyway")).to_be_visible()
    page.click("#jd-edit-reply")
    assert reader["read_title"] in wait_verdict(page, big, "cancelled")["reason"]

    # an agent who never answers: the hold ends before Zendesk's own limit, saying why
    forgotten = save(page)
    expect(page.locator("#jd-send-anyway")).to_be_visible()
    page.clock.run_for(24_000)
    assert verdict(page, forgotten)["state"] == "pending"
    page.clock.run_for(2_000)
    expired = wait_verdict(page, forgotten, "cancelled")
    assert expired["reason"].startswith("Not sent: journeydesk waited 25 s for your choice")
    expect(page.locator("#jd-send-anyway")).to_be_hidden()


def test_the_zendesk_page_without_its_url_parameters_says_so(page, desk):
    page.route(
        ZAF_SDK_URL, lambda route: route.fulfill(body=ZAF_STAND_IN, content_type="text/javascript")
    )
    page.set_content(
        f'<form method="post" action="{desk["url"]}/zendesk/sidebar">'
        f'<input name="token" value="{zaf_jwt(desk["key"])}"></form>'
    )
    with page.expect_navigation():
        page.locator("form").evaluate("form => form.submit()")
    expect(page.locator("#jd-status")).to_have_text(
        "Open this page from the journeydesk app in Zendesk."
    )


# --- hostile data ----------------------------------------------------------------------------


def test_markup_from_desks_and_customers_is_shown_as_text(page, desk):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(token_page(desk, desk["hostile"]["ticket"]))
    expect(page.locator(".customer .name")).to_have_text(XSS_NAME)
    expect(page.locator(".articles .article-title")).to_have_text(XSS_TITLE)
    unfold(page, "timeline")
    expect(page.locator(".timeline .tp-search q")).to_have_text(XSS_QUERY)
    type_draft(page, f"See {desk['hostile']['url']}")
    expect(page.locator("#jd-draft-result .warning-article")).to_have_text(XSS_TITLE)
    unfold(page, "search")
    page.fill("#jd-search", "script pwned")
    expect(page.locator(".search-list .result-title").first).to_have_text(XSS_TITLE)
    page.wait_for_timeout(200)
    assert dialogs == []
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script:not([src]):not([type='application/json'])").count() == 0
