"""More of the portal snippet in real headless Chromium: the consent flag, retries when
journeydesk answers 429, and a visitor who never signs in but writes through the desk's
request form (their earlier anonymous reads then belong to that email).

Two live servers on 127.0.0.1: journeydesk and a small help center whose pages include
the snippet. The ingest key here has no identity secret (the default for a portal whose
templates cannot sign anything, such as Freshdesk's), so a typed-in email is trusted as
claimed (docs/portal.md §2).
"""

from __future__ import annotations

import html
import json
import time

import pytest
from flask import Flask, make_response, request

from plugin.app import create_app
from plugin.config import load_config
from tests.browser.test_portal_snippet import serve, views, wait_for
from tests.helpers.config import SECRET, write_config

KEY = "portal-key-forms-0123456789"
TITLES = {"601": "Reset your password", "602": "Change the billing email"}


def help_center(journeydesk: dict[str, str]) -> Flask:
    """Article pages and a request form, each with the snippet; `?consent=0` withholds
    consent until the page calls `grantConsent()` (a consent banner's button)."""
    app = Flask("help_center_forms")

    def page(title: str, body: str) -> str:
        config = {"endpoint": journeydesk["url"], "key": KEY}
        consent = "false" if request.args.get("consent") == "0" else "true"
        return f"""<!doctype html><html lang="en-us"><head><meta charset="utf-8">
            <title>{html.escape(title)}</title>
            <style>body{{font:16px system-ui;margin:40px auto;max-width:640px}}</style>
            <script>
              window.acmeConsent = {consent};
              window.journeydeskPortal = Object.assign({json.dumps(config)},
                {{consent: function () {{ return window.acmeConsent; }}}});
              function grantConsent() {{ window.acmeConsent = true; journeydeskPortal.page(); }}
            </script>
            <script src="{journeydesk["url"]}/static/journeydesk-portal.js" defer></script>
            </head><body>{body}</body></html>"""

    @app.get("/hc/en-us/articles/<slug>")
    def article(slug: str):
        title = TITLES[slug.split("-", 1)[0]]
        return make_response(page(title, f'<h1 class="article-title">{title}</h1>'))

    @app.get("/hc/en-us/requests/new")
    def request_form():
        form = """<h1>Submit a request</h1>
            <form id="new_request" method="post" action="/hc/en-us/requests">
              <label>Your email <input type="email" name="request[anonymous_requester_email]">
              </label><label>Description
              <textarea name="request[description]">I cannot log in</textarea></label>
              <button type="submit">Submit</button></form>"""
        return make_response(page("Submit a request", form))

    @app.post("/hc/en-us/requests")
    def submitted():
        return make_response(page("Request received", "<h1>Thanks, we got it.</h1>"))

    return app


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    journeydesk: dict[str, str] = {}
    hc_server, hc_port = serve(help_center(journeydesk))
    hc = f"http://127.0.0.1:{hc_port}"
    body = f"""
        [[ingest.keys]]
        name = "portal"
        key_env = "JD_FORMS_KEY"
        source = "demo"
        allowed_origins = ["{hc}"]
        """
    env = {"JOURNEYDESK_SECRET": SECRET, "JD_FORMS_KEY": KEY}
    config = load_config(write_config(tmp_path_factory.mktemp("forms"), body, customers=5), env=env)
    app = create_app(config)
    busy: list[int] = []  # POSTs still to answer 429 (Playwright cannot route keepalive fetches)
    answered: list[int] = []  # the status of every ingest POST
    wsgi = app.wsgi_app

    def sometimes_busy(environ, start_response):
        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/api/v1/events":
            return wsgi(environ, start_response)
        if busy:
            busy.pop()
            answered.append(429)
            start_response(
                "429 Too Many Requests",
                [
                    ("Content-Type", "application/json"),
                    ("Retry-After", "1"),
                    ("Access-Control-Allow-Origin", environ.get("HTTP_ORIGIN", "")),
                    ("Access-Control-Expose-Headers", "Retry-After"),
                ],
            )
            return [b'{"error": {"code": "rate_limited", "message": "Slow down."}}']
        answered.append(200)
        return wsgi(environ, start_response)

    app.wsgi_app = sometimes_busy
    jd_server, jd_port = serve(app)
    journeydesk["url"] = f"http://127.0.0.1:{jd_port}"
    yield {"config": config, "hc": hc, "busy": busy, "answered": answered}
    jd_server.shutdown()
    hc_server.shutdown()


def ingest_calls(page) -> list[str]:
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.method) if "/api/v1/events" in r.url else None)
    return calls


def test_without_consent_nothing_is_stored_or_sent_until_the_visitor_agrees(page, portal):
    calls = ingest_calls(page)
    page.goto(f"{portal['hc']}/hc/en-us/articles/601-reset?consent=0")
    page.wait_for_load_state("networkidle")
    time.sleep(0.5)  # longer than the snippet's batching delay
    assert calls == []
    stored = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('journeydesk'))")
    assert stored == []

    page.evaluate("grantConsent()")  # the visitor accepts the banner on this page

    visitor = wait_for(lambda: page.evaluate("localStorage.getItem('journeydesk.vid')"))
    assert visitor and wait_for(lambda: views(portal["config"], anonymous_id=visitor))
    assert [v["article_id"] for v in views(portal["config"], anonymous_id=visitor)] == ["601"]


def test_a_429_is_retried_after_the_retry_after_and_stored_once(page, portal):
    portal["busy"].append(1)
    portal["answered"].clear()
    started = time.monotonic()
    page.goto(f"{portal['hc']}/hc/en-us/articles/602-billing")
    visitor = page.evaluate("localStorage.getItem('journeydesk.vid')")

    assert wait_for(lambda: views(portal["config"], anonymous_id=visitor), timeout=8)
    assert portal["answered"][:2] == [429, 200]
    assert time.monotonic() - started >= 1  # it waited the Retry-After first
    time.sleep(1.5)  # no second delivery of the same event
    assert len(views(portal["config"], anonymous_id=visitor)) == 1
    assert portal["answered"] == [429, 200]


def test_reads_before_writing_through_the_request_form_join_that_email(page, portal):
    hc = portal["hc"]
    page.goto(f"{hc}/hc/en-us/articles/601-reset")
    page.goto(f"{hc}/hc/en-us/articles/602-billing")
    page.goto(f"{hc}/hc/en-us/requests/new")
    visitor = page.evaluate("localStorage.getItem('journeydesk.vid')")
    assert wait_for(lambda: len(views(portal["config"], anonymous_id=visitor)) == 2)
    assert views(portal["config"], email="cleo@example.com") == []

    page.fill("input[type=email]", "Cleo@Example.com")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")

    read = wait_for(lambda: views(portal["config"], email="cleo@example.com"))
    assert read, "the anonymous reads were not attributed to the request form's email"
    assert sorted(v["article_id"] for v in read) == ["601", "602"]
