"""The Freshdesk and Chatwoot apps end to end in real headless Chromium, and the agent's
language picked from the agent's own settings.

- Freshdesk: the built package (apps/build.py) is served as Freshworks would serve it; a
  stand-in of the Freshworks client plays the host, and its request proxy renders the
  package's own config/requests.json templates (iparams, context) and calls journeydesk over
  HTTP, as Freshworks' servers do. The panel shows the sidebar, and `ticket.sendReply` is held
  back (`event.helper.fail`) for an already-read article until the agent confirms.
- Chatwoot: a stand-in of Chatwoot's conversation page, on the fake Chatwoot's origin, frames
  /chatwoot/app and answers its `chatwoot-dashboard-app:fetch-info` with `appContext`, as
  Chatwoot's Frame.vue does; journeydesk confirms the conversation through the fake Chatwoot
  API before it shows the journey.
- Language: the page follows the browser's language, the Zendesk app the agent's Zendesk
  locale, and error pages speak it too.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sqlite3
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import expect
from werkzeug import Request, Response
from werkzeug.serving import make_server

from plugin.app import create_app
from plugin.security import mint_agent_token
from plugin.web import desks
from plugin.web.desks import ZAF_SDK_URL
from tests.browser.folds import unfold
from tests.browser.test_sidebar_guard import (
    ZAF_STAND_IN,
    reading_ticket,
    save,
    type_draft,
    wait_for,
    wait_verdict,
)
from tests.fakes.chatwoot import ACCOUNT_ID, Contact, FakeChatwoot
from tests.fakes.serving import serving
from tests.helpers.config import SECRET
from tests.helpers.desk_app import (
    CHATWOOT_APP_KEY,
    FRESHDESK_APP_SECRET,
    add_desk_ticket,
    desk_config,
    rsa_key_pair,
    zaf_jwt,
)

ROOT = Path(__file__).resolve().parents[2]


# --- fixtures --------------------------------------------------------------------------------


class ChatwootWithDashboard(FakeChatwoot):
    """The fake Chatwoot API, plus its conversation page with a dashboard app tab."""

    app_url = ""

    def handle(self, request: Request) -> Response:
        found = re.fullmatch(r"/app/accounts/\d+/conversations/(\d+)", request.path)
        if found is None:
            return super().handle(request)
        shown = self.conversations.get((ACCOUNT_ID, int(found[1])))
        contact = int(request.args.get("as_contact", shown.contact.id if shown else 0))
        page = CHATWOOT_PAGE.replace("{{APP_URL}}", html.escape(self.app_url)).replace(
            "{{CONTEXT}}", html.escape(json.dumps(app_context(int(found[1]), contact)))
        )
        return Response(page, content_type="text/html; charset=utf-8")


def app_context(conversation: int, contact: int) -> dict:
    """What Chatwoot's Frame.vue posts: the conversation (meta.sender) and the contact."""
    return {
        "event": "appContext",
        "data": {
            "conversation": {"id": conversation, "meta": {"sender": {"id": contact}}},
            "contact": {"id": contact},
            "currentAgent": {"id": 1, "name": "Agent", "email": "agent@acme.example"},
        },
    }


# Chatwoot's dashboard-app frame, reduced to what an app sees (Frame.vue): the context as a
# JSON string on every load of the iframe, and again on 'chatwoot-dashboard-app:fetch-info'.
# It is a well-formed page (a language, a named frame): axe-core checks it with the rest.
CHATWOOT_PAGE = """<!doctype html>
<html lang="en"><head><title>Chatwoot</title>
<style>body{margin:0;font:14px sans-serif;display:flex;height:100vh}
main{flex:1;padding:16px;background:#f5f7fb}
aside{width:340px;border-left:1px solid #ddd}
iframe{width:100%;height:100%;border:0}</style></head>
<body data-context="{{CONTEXT}}">
<main><h1>Conversation</h1><p>Hi, I cannot export my data to CSV</p></main>
<aside><iframe id="dashboard-app" title="journeydesk" src="{{APP_URL}}"></iframe></aside>
<script>
  var context = JSON.parse(document.body.dataset.context || '{}');
  var frame = document.getElementById('dashboard-app');
  window.__asked = 0;
  function send() { frame.contentWindow.postMessage(JSON.stringify(context), '*'); }
  frame.addEventListener('load', send);
  window.addEventListener('message', function (e) {
    if (e.data === 'chatwoot-dashboard-app:fetch-info') { window.__asked++; send(); }
  });
</script></body></html>"""


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def desks_live(seeded_demo, tmp_path_factory):
    """journeydesk wired to every desk, live, with a fake Chatwoot beside it."""
    patch = pytest.MonkeyPatch()
    key, pem = rsa_key_pair()
    with serving() as chatwoot_server:
        chatwoot = ChatwootWithDashboard(chatwoot_server)
        config = desk_config(
            tmp_path_factory.mktemp("desk-apps"),
            seeded_demo,
            patch,
            public_pem=pem,
            chatwoot_url=chatwoot.base_url,
        )
        reader = reading_ticket(config)
        created = add_desk_ticket(config, "freshdesk", "601", reader["customer_id"])
        add_desk_ticket(config, "zendesk", "501", reader["customer_id"])
        app = create_app(config)
        server, url = serve(app)
        chatwoot.app_url = f"{url}/chatwoot/app?key={quote(CHATWOOT_APP_KEY)}"
        yield {
            "url": url,
            "config": config,
            "key": key,
            "reader": reader,
            "created": created,
            "chatwoot": chatwoot,
            "app": app,
        }
        server.shutdown()
    patch.undo()


# --- Freshdesk -------------------------------------------------------------------------------


def _load_build():
    spec = importlib.util.spec_from_file_location(
        "journeydesk_apps_build_b", ROOT / "apps/build.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def freshdesk_package(public_url: str) -> dict[str, bytes]:
    """The Freshdesk app exactly as `make apps` builds it for this server."""
    build = _load_build()
    values = build.placeholder_values(build.parse_public_url(public_url), "1.0.0", None)
    return build.package_contents("freshdesk", values)


# The Freshworks client, reduced to what app.js uses (facts: helpdesk-apis.md §2.9). Template
# requests go to window.__freshworksProxy, which plays Freshworks' servers.
FRESHWORKS_CLIENT = """
(function () {
  var state = window.__fd = { handlers: {}, sends: [], notify: [],
                              language: window.__agentLanguage || 'en' };
  var client = {
    events: { on: function (name, fn, opts) { state.handlers[name] = { fn: fn, opts: opts }; } },
    data: { get: function (what) {
      if (what === 'ticket') return Promise.resolve({ ticket: { id: 601 } });
      if (what === 'loggedInUser') {
        return Promise.resolve({ loggedInUser: { contact: { language: state.language } } });
      }
      return Promise.reject(new Error('unexpected ' + what));
    } },
    iparams: { get: function () { return Promise.resolve(window.__iparams); } },
    request: { invokeTemplate: function (name, args) {
      return window.__freshworksProxy(name, JSON.stringify(args)).then(function (res) {
        return res.status < 400 ? res : Promise.reject(res);
      });
    } },
    interface: { trigger: function (name, args) {
      state.notify.push([name, args]);
      return Promise.resolve();
    } },
    instance: { resize: function () { return Promise.resolve(); } }
  };
  window.app = { initialized: function () { return Promise.resolve(client); } };
  window.__fdSend = function (data) {
    var verdict = { state: 'pending', message: null };
    state.sends.push(verdict);
    state.handlers['ticket.sendReply'].fn({ helper: {
      getData: function () { return data; },
      done: function () { verdict.state = 'done'; },
      fail: function (message) { verdict.state = 'failed'; verdict.message = message; }
    } });
    return state.sends.length - 1;
  };
})();
"""


def render_template(text: str, iparams: dict, context: dict) -> str:
    """Freshworks' `<%= iparam.x %>` / `<%= context.x %>` substitution."""

    def value(match: re.Match) -> str:
        scope, name = match[1], match[2]
        return str((iparams if scope == "iparam" else context)[name])

    return re.sub(r"<%=\s*(iparam|context)\.(\w+)\s*%>", value, text)


def freshworks_proxy(package: dict[str, bytes], iparams: dict):
    """Freshworks' server side of `invokeTemplate`: the package's templates, real HTTP."""
    templates = json.loads(package["config/requests.json"])

    def proxy(name: str, raw_args: str) -> dict:
        args = json.loads(raw_args)
        schema = templates[name]["schema"]
        context = args.get("context", {})
        path = render_template(schema["path"], iparams, context)
        url = f"{schema['protocol']}://{schema['host']}{path}"
        headers = {k: render_template(v, iparams, context) for k, v in schema["headers"].items()}
        answer = requests.request(
            schema["method"], url, headers=headers, data=args.get("body"), timeout=10
        )
        return {"status": answer.status_code, "response": answer.text}

    return proxy


def package_host(package: dict[str, bytes]):
    """Freshworks' app host, reduced to serving the package's files (and the client script
    where index.html asks for `{{{appclient}}}`), on its own origin."""
    kinds = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

    @Request.application
    def host(request: Request) -> Response:
        name = request.path.lstrip("/")
        if "appclient" in name:
            return Response(FRESHWORKS_CLIENT, content_type="text/javascript")
        if name not in package:
            return Response("", status=404)
        kind = kinds.get(Path(name).suffix, "image/svg+xml")
        return Response(package[name], content_type=kind)

    return host


@pytest.fixture(scope="module")
def freshdesk_app(desks_live):
    """The built Freshdesk package for this journeydesk, served on 127.0.0.1."""
    package = freshdesk_package(desks_live["url"])
    server, url = serve(package_host(package))
    yield {"url": url, "package": package}
    server.shutdown()


def open_freshdesk_app(page, live, app, language: str = "en") -> None:
    iparams = {"journeydesk_url": live["url"], "journeydesk_app_secret": FRESHDESK_APP_SECRET}
    page.expose_function("__freshworksProxy", freshworks_proxy(app["package"], iparams))
    page.add_init_script(
        f"window.__iparams = {json.dumps(iparams)}; window.__agentLanguage = '{language}';"
    )
    page.goto(f"{app['url']}/app/index.html")


def send_reply(page, body: str) -> int:
    return page.evaluate("body => window.__fdSend({ body: body })", body)


def reply_state(page, index: int, state: str) -> dict:
    wait_for(page, f"window.__fd.sends[{index}].state === '{state}'")
    return page.evaluate(f"window.__fd.sends[{index}]")


def test_the_freshdesk_app_shows_the_journey_and_holds_an_already_read_reply(
    page, desks_live, freshdesk_app, artifacts
):
    reader = desks_live["reader"]
    page.set_viewport_size({"width": 340, "height": 900})
    open_freshdesk_app(page, desks_live, freshdesk_app)
    sidebar = page.frame_locator("#jd-frame")
    expect(sidebar.locator(".stage-badge")).to_be_visible()
    expect(sidebar.locator(".articles .article-title")).to_have_count(5)
    assert page.evaluate("window.__fd.handlers['ticket.sendReply'].opts") == {"intercept": True}

    # an unread article: the reply goes out
    assert reply_state(page, send_reply(page, reader["unread_url"]), "done")["message"] is None

    # an already-read one (as Freshdesk's HTML editor writes it): held back, with the reason
    read_link = f'<p>Try <a href="{reader["read_urls"]["es"]}?utm_source=fd">this</a></p>'
    held = reply_state(page, send_reply(page, read_link), "failed")
    assert reader["read_title"] in held["message"]
    expect(page.locator("#jd-warnings")).to_be_visible()
    warning = page.locator("#jd-warning-list > li")
    expect(warning.locator(".jd-article")).to_have_text(reader["read_title"])
    expect(warning.locator(".jd-message")).to_contain_text("already read")
    expect(warning.locator(".jd-alternatives a").first).to_be_visible()  # something unread
    assert page.evaluate("window.__fd.notify[0][1].type") == "warning"
    page.screenshot(path=artifacts / "freshdesk-app-held.png", full_page=True)

    # the agent confirms, sends again: it goes out
    page.click("#jd-send-anyway")
    expect(page.locator("#jd-confirmed")).to_be_visible()
    reply_state(page, send_reply(page, read_link), "done")
    expect(page.locator("#jd-warnings")).to_be_hidden()


def test_the_freshdesk_app_speaks_the_agents_freshdesk_language(
    page, desks_live, freshdesk_app, artifacts
):
    reader = desks_live["reader"]
    page.set_viewport_size({"width": 340, "height": 900})
    open_freshdesk_app(page, desks_live, freshdesk_app, language="es")
    expect(page.frame_locator("#jd-frame").locator("section.articles h2")).to_have_text(
        "Leído en los 30 días antes del ticket"
    )
    held = reply_state(page, send_reply(page, reader["read_urls"]["en-us"]), "failed")
    assert held["message"].startswith("El cliente ya leyó")
    expect(page.locator("#jd-warning-list .jd-message")).to_contain_text("El cliente ya leyó")
    expect(page.locator("#jd-send-anyway")).to_have_text("Enviar igualmente")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#jd-frame")).to_have_attribute("title", "Recorrido del cliente")
    page.screenshot(path=artifacts / "freshdesk-app-held-es.png", full_page=True)


# --- Chatwoot --------------------------------------------------------------------------------


def chatwoot_conversation(live, conversation: int, contact: int) -> None:
    person = Contact(contact, "Conversation contact", reader_email(live))
    live["chatwoot"].add_conversation(conversation, person, created_at=live["created"] - 60)


def reader_email(live) -> str:
    conn = sqlite3.connect(live["config"].database_path)
    try:
        return conn.execute(
            "SELECT email FROM customers WHERE id = ?", [live["reader"]["customer_id"]]
        ).fetchone()[0]
    finally:
        conn.close()


def test_the_chatwoot_dashboard_app_shows_the_confirmed_conversation(page, desks_live, artifacts):
    desks.chatwoot_confirmations(desks_live["app"]).clear()
    reader = desks_live["reader"]
    chatwoot_conversation(desks_live, 71, 9701)
    page.set_viewport_size({"width": 1000, "height": 900})
    page.goto(f"{desks_live['chatwoot'].base_url}/app/accounts/{ACCOUNT_ID}/conversations/71")
    sidebar = page.frame_locator("#dashboard-app").frame_locator("#journeydesk-frame")
    expect(sidebar.locator(".stage-badge")).to_be_visible()
    expect(sidebar.locator(".articles .article-title").first).to_be_visible()
    assert page.evaluate("window.__asked") >= 1  # the app asked for the context itself
    assert desks_live["chatwoot"].calls(f"/accounts/{ACCOUNT_ID}/conversations/71") == 1

    # the page's agent token works for the reply check from inside the two frames
    unfold(sidebar, "guard")
    sidebar.locator("#jd-draft").fill(f"Mira {reader['read_urls']['es']}")
    expect(sidebar.locator("#jd-draft-result .warning-article")).to_have_text(reader["read_title"])
    page.screenshot(path=artifacts / "chatwoot-dashboard-app.png")


def test_the_chatwoot_app_shows_nothing_for_a_contact_chatwoot_does_not_confirm(page, desks_live):
    desks.chatwoot_confirmations(desks_live["app"]).clear()
    chatwoot_conversation(desks_live, 72, 9702)
    base = desks_live["chatwoot"].base_url
    page.goto(f"{base}/app/accounts/{ACCOUNT_ID}/conversations/72?as_contact=9999")
    inner = page.frame_locator("#dashboard-app").frame_locator("#journeydesk-frame")
    expect(inner.locator("main.error")).to_contain_text("No such conversation")
    expect(inner.locator(".journey")).to_have_count(0)
    assert reader_email(desks_live) not in inner.locator("body").inner_text()


# --- the agent's language --------------------------------------------------------------------


@pytest.fixture
def spanish_page(browser):
    context = browser.new_context(locale="es-ES", viewport={"width": 320, "height": 900})
    yield context.new_page()
    context.close()


def test_the_sidebar_speaks_the_language_of_the_agents_browser(spanish_page, desks_live):
    page, reader = spanish_page, desks_live["reader"]
    token = mint_agent_token(SECRET, source="demo", ticket_id=reader["ticket"])
    page.goto(f"{desks_live['url']}/sidebar/demo/{reader['ticket']}?token={token}")
    expect(page.locator("section.articles h2")).to_have_text(
        "Leído en los 30 días antes del ticket"
    )
    type_draft(page, reader["read_urls"]["en-us"])
    expect(page.locator("#jd-draft-result .warning-message")).to_contain_text("El cliente ya leyó")

    desks.chatwoot_confirmations(desks_live["app"]).clear()
    chatwoot_conversation(desks_live, 73, 9703)
    page.goto(f"{desks_live['chatwoot'].base_url}/app/accounts/{ACCOUNT_ID}/conversations/73")
    inner = page.frame_locator("#dashboard-app").frame_locator("#journeydesk-frame")
    expect(inner.locator("section.articles h2")).to_have_text(
        "Leído en los 30 días antes del ticket"
    )
    title = page.frame_locator("#dashboard-app").locator("#journeydesk-frame")
    expect(title).to_have_attribute("title", "Recorrido del cliente")

    expired = mint_agent_token(SECRET, source="demo", ticket_id=reader["ticket"], ttl=1, now=1)
    response = page.goto(f"{desks_live['url']}/sidebar/demo/{reader['ticket']}?token={expired}")
    assert response.status == 401
    expect(page.locator("main.error p.message")).to_have_text(
        "La sesión de esta barra lateral ha caducado. Recarga la app (o vuelve a abrir el "
        "ticket) para continuar."
    )


def test_the_zendesk_app_follows_the_agents_zendesk_locale(page, desks_live, artifacts):
    reader = desks_live["reader"]
    stand_in = ZAF_STAND_IN.replace("locale: 'en-US'", "locale: 'es-419'")
    assert stand_in != ZAF_STAND_IN
    page.route(ZAF_SDK_URL, lambda r: r.fulfill(body=stand_in, content_type="text/javascript"))
    page.set_viewport_size({"width": 320, "height": 900})
    action = f"{desks_live['url']}/zendesk/sidebar?origin=https://acme.zendesk.com&app_guid=g-1"
    page.set_content(
        f'<form method="post" action="{action}">'
        f'<input name="token" value="{zaf_jwt(desks_live["key"])}"></form>'
    )
    with page.expect_navigation():
        page.locator("form").evaluate("form => form.submit()")
    expect(page.locator("section.articles h2")).to_have_text(
        "Leído en los 30 días antes del ticket"
    )

    read_link = f'<p><a href="{reader["read_urls"]["en-us"]}">guía</a></p>'
    page.evaluate(f"window.__zafType({read_link!r})")
    pending = save(page)
    expect(page.locator("#jd-send-anyway")).to_have_text("Enviar igualmente")
    expect(page.locator("#jd-confirm-title")).to_have_text("¿Enviar un artículo que ya leyó?")
    page.screenshot(path=artifacts / "zendesk-confirm-es.png", full_page=True)
    page.click("#jd-edit-reply")
    assert wait_verdict(page, pending, "cancelled")["reason"].startswith("No se envió")


def test_the_sidebar_lists_the_customers_other_open_tickets(page, desks_live):
    """Open in any desk, this ticket left out, solved and closed ones left out."""
    reader = desks_live["reader"]
    conn = sqlite3.connect(desks_live["config"].database_path)
    statuses = dict(
        conn.execute(
            "SELECT source || '/' || id, status FROM tickets WHERE customer_id = ?",
            [reader["customer_id"]],
        )
    )
    conn.close()
    expected = sorted(
        key
        for key, status in statuses.items()
        if status in ("new", "open", "pending", "hold") and key != "freshdesk/601"
    )
    assert "zendesk/501" in expected and any(s in ("solved", "closed") for s in statuses.values())
    token = mint_agent_token(SECRET, source="freshdesk", ticket_id="601")
    journey = requests.get(
        f"{desks_live['url']}/api/v1/tickets/freshdesk/601/journey?token={token}", timeout=10
    ).json()
    assert sorted(f"{t['source']}/{t['id']}" for t in journey["open_tickets"]) == expected

    page.goto(f"{desks_live['url']}/sidebar/freshdesk/601?token={token}")
    shown = page.locator(".open-tickets li")
    expect(shown).to_have_count(len(expected))
    expect(page.locator(".open-tickets")).to_contain_text("#501 Cannot turn off single sign-on")
    expect(page.locator(".open-tickets")).not_to_contain_text("#601")


def test_spanish_error_pages_do_not_change_the_json_api(desks_live):
    url = f"{desks_live['url']}/sidebar/demo/1?token=garbage"
    page = requests.get(url, headers={"Accept-Language": "es-ES,es;q=0.9"}, timeout=10)
    assert page.status_code == 401 and '<html lang="es">' in page.text
    assert "El token de agente no es válido" in page.text
    api = requests.get(
        f"{desks_live['url']}/api/v1/tickets/demo/1/journey?token=garbage&lang=es", timeout=10
    )
    assert api.status_code == 401 and api.json()["error"]["code"].startswith("token_")
