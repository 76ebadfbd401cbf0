"""The portal snippet in real headless Chromium, on a help center of another origin.

Two live servers on 127.0.0.1: journeydesk (ingest API + the snippet) and a tiny "help
center" whose article pages include the snippet, as a Zendesk Guide theme would. The help
center signs the signed-in customer's email with the ingest key's identity secret, as a
site does server-side. `http://localhost:<port>` is the same help center on an origin the
key does not allow.
"""

from __future__ import annotations

import html
import json
import threading
import time

import pytest
from flask import Flask, make_response, redirect, request
from werkzeug.serving import make_server

from connectors.records import CustomerRef
from plugin.app import create_app
from plugin.config import load_config
from plugin.security import customer_hmac
from plugin.store import open_db
from plugin.store.customers import find_customer
from plugin.store.history import article_views_of, timeline
from tests.helpers.config import SECRET, write_config

KEY = "portal-key-0123456789"
IDENTITY_SECRET = "identity-secret-for-the-browser-test"
LONG_TITLE = "a" * 499 + "\U0001f600 and more"  # the emoji spans UTF-16 units 500 and 501
TITLES = {"501": "Export your data to CSV", "502": "Invite your team", "503": "Reset 2FA",
          "504": "Billing cycles explained", "505": "Webhooks", "506": LONG_TITLE}  # fmt: skip


def serve(app: Flask) -> tuple[object, int]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_port


def help_center(journeydesk: dict[str, str]) -> Flask:
    """Article pages with the snippet; `?as=<email>` signs that customer in (a cookie)."""
    app = Flask("help_center")

    @app.get("/signin")
    def signin():
        response = redirect(request.args.get("next", "/hc/en-us"))
        response.set_cookie("user", request.args["as"])
        return response

    @app.get("/hc/en-us/articles/<slug>")
    def article(slug: str):
        article_id = slug.split("-", 1)[0]
        email = request.cookies.get("user")
        user = {"email": email, "hmac": customer_hmac(IDENTITY_SECRET, email)} if email else None
        config = {"endpoint": journeydesk["url"], "key": KEY, "consent": True, "user": user}
        if request.args.get("hold"):  # keep events queued until the page is left
            config["batchMs"] = 60_000
        links = "".join(
            f'<li><a href="/hc/en-us/articles/{i}-x">{html.escape(t)}</a></li>'
            for i, t in TITLES.items()
            if i != article_id
        )
        page = f"""<!doctype html><html lang="en-us"><head><meta charset="utf-8">
            <title>{TITLES[article_id]} – Acme Help Center</title>
            <style>body{{font:16px system-ui;margin:40px auto;max-width:640px;color:#222}}
            header{{display:flex;justify-content:space-between;border-bottom:1px solid #ccc}}
            </style>
            <script>window.journeydeskPortal = {json.dumps(config)};</script>
            <script src="{journeydesk["url"]}/static/journeydesk-portal.js" defer></script>
            </head><body><header><b>Acme Help Center</b>
            <span>{html.escape(email or "Sign in")}</span></header>
            <h1 class="article-title">{TITLES[article_id]}</h1>
            <p>How to get this done, step by step.</p><h2>Related</h2><ul>{links}</ul>
            </body></html>"""
        return make_response(page)

    return app


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    journeydesk: dict[str, str] = {}
    hc_server, hc_port = serve(help_center(journeydesk))
    allowed = f"http://127.0.0.1:{hc_port}"
    folder = tmp_path_factory.mktemp("portal")
    body = f"""
        [[ingest.keys]]
        name = "guide"
        key_env = "JD_PORTAL_KEY"
        source = "demo"
        allowed_origins = ["{allowed}"]
        identity_secret_env = "JD_PORTAL_IDENTITY"
        """
    env = {
        "JOURNEYDESK_SECRET": SECRET,
        "JD_PORTAL_KEY": KEY,
        "JD_PORTAL_IDENTITY": IDENTITY_SECRET,
    }
    config = load_config(write_config(folder, body, customers=5), env=env)
    app = create_app(config)
    posts: list[str] = []  # query strings of the ingest POSTs journeydesk received
    wsgi = app.wsgi_app

    def recording(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/api/v1/events":
            posts.append(environ.get("QUERY_STRING", ""))
        return wsgi(environ, start_response)

    app.wsgi_app = recording
    jd_server, jd_port = serve(app)
    journeydesk["url"] = f"http://127.0.0.1:{jd_port}"
    yield {
        "config": config,
        "allowed": allowed,
        "refused": f"http://localhost:{hc_port}",
        "posts": posts,
    }
    jd_server.shutdown()
    hc_server.shutdown()


def views(config, **ref: str) -> list[dict]:
    db = open_db(config.database_path, migrate=False)
    try:
        customer_id = find_customer(db, CustomerRef(**ref), "demo")
        return article_views_of(db, customer_id) if customer_id else []
    finally:
        db.conn.close()


def wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return result


def test_a_signed_in_customer_reading_two_articles(page, portal, artifacts):
    hc = portal["allowed"]
    sent = portal["posts"]
    sent.clear()
    page.goto(f"{hc}/signin?as=ana@example.com&next=/hc/en-us/articles/501-export?hold=1")
    # this page holds its events, so the first view leaves with navigator.sendBeacon on
    # pagehide (key in the query, no preflight); the second page sends by fetch
    page.click("text=Invite your team")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=artifacts / "portal-article.png")
    stored = wait_for(lambda: len(views(portal["config"], email="ana@example.com")) >= 2)
    assert stored, f"the two article views never reached the store (sent: {sent})"
    got = views(portal["config"], email="ana@example.com")
    assert [(v["article_id"], v["article_locale"]) for v in got] == [
        ("501", "en-us"),
        ("502", "en-us"),
    ]
    assert any(q.startswith("key=") for q in sent), "the first view did not leave by beacon"
    assert "" in sent, "the second view did not leave by fetch (Authorization header)"


def test_reads_before_signing_in_end_up_on_the_customer(page, portal):
    hc = portal["allowed"]
    page.goto(f"{hc}/hc/en-us/articles/503-reset-2fa")
    page.wait_for_load_state("networkidle")
    visitor = page.evaluate("localStorage.getItem('journeydesk.vid')")
    assert visitor and visitor.startswith("v-")
    assert wait_for(lambda: views(portal["config"], anonymous_id=visitor))
    assert views(portal["config"], email="bea@example.com") == []

    page.goto(f"{hc}/signin?as=bea@example.com&next=/hc/en-us/articles/504-billing")
    page.wait_for_load_state("networkidle")
    read = wait_for(lambda: len(views(portal["config"], email="bea@example.com")) >= 2)
    assert read, "the anonymous read was not attributed after sign-in"
    articles = [v["article_id"] for v in views(portal["config"], email="bea@example.com")]
    assert articles == ["503", "504"]


def test_a_page_on_another_origin_is_refused(page, portal):
    def is_ingest(request) -> bool:
        return "/api/v1/events" in request.url

    with page.expect_event("requestfailed", predicate=is_ingest, timeout=10_000):
        page.goto(f"{portal['refused']}/hc/en-us/articles/505-webhooks")
    visitor = page.evaluate("localStorage.getItem('journeydesk.vid')")
    assert visitor, "the snippet did not run"
    time.sleep(0.5)
    assert views(portal["config"], anonymous_id=visitor) == []


def titles(config, **ref: str) -> list[str]:
    db = open_db(config.database_path, migrate=False)
    try:
        customer_id = find_customer(db, CustomerRef(**ref), "demo")
        rows = timeline(db, customer_id, until=2**40, limit=10) if customer_id else []
        return [row["article_title"] for row in rows]
    finally:
        db.conn.close()


def test_a_long_title_is_cut_on_code_points_never_inside_an_emoji(page, portal):
    """`.slice(0, 500)` cut the emoji in half, and the lone surrogate sank the batch."""
    page.goto(f"{portal['allowed']}/hc/en-us/articles/506-long")
    visitor = page.evaluate("localStorage.getItem('journeydesk.vid')")
    stored = wait_for(lambda: titles(portal["config"], anonymous_id=visitor))
    assert stored == ["a" * 499 + "\U0001f600"]


def test_a_batch_refused_as_invalid_is_dropped_and_counted_not_resent(page, portal):
    hc = portal["allowed"]
    posts: list[str] = []

    def answer(route) -> None:
        if route.request.method != "POST":
            route.continue_()  # the CORS preflight
            return
        posts.append(route.request.post_data or "")
        if len(posts) > 1:
            route.continue_()
            return
        route.fulfill(
            status=400,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": hc},
            body='{"error": {"code": "invalid_body", "message": "refused"}}',
        )

    def waiting(check):  # the page's events (and so `answer`) run only while Playwright waits
        for _ in range(100):
            if result := check():
                return result
            page.wait_for_timeout(100)
        return check()

    page.route("**/api/v1/events*", answer)
    page.goto(f"{hc}/hc/en-us/articles/505-webhooks")
    assert waiting(lambda: posts), "the first view was never sent"
    refused_id = json.loads(posts[0])["events"][0]["id"]
    assert waiting(lambda: page.evaluate("journeydeskPortal.dropped") == 1)
    page.evaluate(
        "journeydeskPortal.track('article_view', {article: {id: '503', url: location.href}})"
    )
    visitor = page.evaluate("localStorage.getItem('journeydesk.vid')")
    stored = waiting(lambda: views(portal["config"], anonymous_id=visitor))
    assert [v["article_id"] for v in stored] == ["503"]  # the later event is not held back
    assert len(posts) == 2 and refused_id not in posts[1]  # the refused batch was not resent
    assert page.evaluate("journeydeskPortal.dropped") == 1
