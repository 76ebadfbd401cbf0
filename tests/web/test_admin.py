"""The admin over HTTP: access, CSRF, the stages editor and its preview, versions, workers."""

from __future__ import annotations

import dataclasses
import html
import re
import time

import pytest
from flask import url_for

from plugin.app import create_app
from plugin.background import jobs
from plugin.journey.active_model import config_model
from plugin.journey.recompute import recompute
from plugin.security import Secret, mint_agent_token
from plugin.store import open_db, open_store
from plugin.store.journeys import stage_counts
from plugin.store.rule_sets import list_rule_sets
from plugin.web import context
from plugin.web.errors import RETRY_AFTER_SECONDS
from tests.helpers.copies import private_copy

pytestmark = pytest.mark.usefixtures("backend")

PASSWORD = "correct horse battery staple"
SERVICE = "/admin/journey/edit?kind=stages&key=service"


@pytest.fixture
def admin_config(seeded_demo, tmp_path):
    return private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD))


@pytest.fixture
def admin_app(admin_config):
    return create_app(admin_config)


@pytest.fixture
def anonymous(admin_app):
    return admin_app.test_client()


@pytest.fixture
def admin(admin_app):
    client = admin_app.test_client()
    response = login(client)
    assert response.status_code == 302, response.text
    return client


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, password: str = PASSWORD, name: str = "Ana"):
    token = csrf_of(client.get("/admin/login").text)
    return client.post(
        "/admin/login", data={"password": password, "name": name, "csrf_token": token}
    )


def editor_text(page: str) -> str:
    return html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S).group(1))


def post_edit(client, text: str, action: str = "preview", kind="stages", key="service", **extra):
    page = client.get(f"/admin/journey/edit?kind={kind}" + (f"&key={key}" if key else "")).text
    data = {
        "csrf_token": csrf_of(page),
        "kind": kind,
        "text": text,
        "action": action,
        "base_version": re.search(r'name="base_version" value="(\d+)"', page).group(1),
        **({"key": key} if key else {}),
        **extra,
    }
    return client.post("/admin/journey/edit", data=data)


def table_counts(page: str, table_id: str, column: str) -> dict[str, int]:
    """{key: number} of one column ("before"/"after") of a preview table."""
    body = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', body, re.S)
    counts = {}
    for key, row in rows:
        cell = re.search(rf'class="num {column}">([\d,]+)<', row).group(1)
        counts[key] = int(cell.replace(",", ""))
    return counts


def stored_stage_counts(config) -> dict[str, int]:
    db = open_db(config.database_path, migrate=False)
    try:
        return stage_counts(db)
    finally:
        db.conn.close()


def versions(config) -> list:
    db = open_db(config.database_path, migrate=False)
    try:
        return list_rule_sets(db, "journey")
    finally:
        db.conn.close()


# --------------------------------------------------------------------------- access


def test_every_admin_route_refuses_an_anonymous_request(admin_app, anonymous):
    with admin_app.test_request_context():
        routes = [
            (rule, url_for(rule.endpoint, **{arg: 1 for arg in rule.arguments}))
            for rule in admin_app.url_map.iter_rules()
            if rule.rule.startswith("/admin")
        ]
    endpoints = {rule.endpoint for rule, _ in routes}
    assert {"admin.dashboard", "admin.journey", "admin.edit_post", "admin.restore"} <= endpoints
    for rule, url in routes:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = anonymous.open(url, method=method)
            where = f"{method} {url}"
            if rule.endpoint == "admin.login" and method == "GET":
                assert response.status_code == 200 and 'type="password"' in response.text
            elif method == "GET":
                assert response.status_code == 302, where
                assert response.headers["Location"].startswith("/admin/login"), where
            else:
                assert response.status_code in (401, 403), where
            assert ".example" not in response.text, where  # no customer's email leaks


def test_login_sets_a_protected_session_cookie_and_logout_ends_it(anonymous):
    assert login(anonymous, password="wrong").status_code == 401
    response = login(anonymous)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = anonymous.get("/admin/")
    assert page.status_code == 200 and "Signed in as <strong>Ana</strong>" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Frame-Options"] == "DENY"
    out = anonymous.post("/admin/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 302
    assert anonymous.get("/admin/").status_code == 302


def test_the_login_goes_back_to_the_page_asked_for_but_never_off_site(anonymous):
    first = anonymous.get("/admin/journey")
    assert first.headers["Location"] == "/admin/login?next=/admin/journey"
    token = csrf_of(anonymous.get(first.headers["Location"]).text)
    for target, expected in [("/admin/journey", "/admin/journey"), ("//evil.example", "/admin/")]:
        anonymous.post("/admin/logout", data={"csrf_token": token})
        token = csrf_of(anonymous.get("/admin/login").text)
        response = anonymous.post(
            "/admin/login", data={"password": PASSWORD, "csrf_token": token, "next": target}
        )
        assert response.headers["Location"] == expected
        token = csrf_of(anonymous.get("/admin/").text)


def test_forms_without_their_csrf_token_are_refused(admin, admin_config):
    page = admin.get(SERVICE).text
    text = editor_text(page)
    for token in (None, "", "forged.token", csrf_of(page)[:-2] + "xx"):
        data = {"kind": "stages", "key": "service", "text": text, "action": "save"}
        if token is not None:
            data["csrf_token"] = token
        response = admin.post("/admin/journey/edit", data=data)
        assert response.status_code == 403 and "expired" in response.text
    assert admin.post("/admin/logout").status_code == 403
    assert admin.get("/admin/").status_code == 200  # still signed in
    assert versions(admin_config) == []


def test_every_admin_form_refuses_a_post_without_its_csrf_token(admin, admin_app, admin_config):
    with admin_app.test_request_context():
        posts = [
            url_for(rule.endpoint, **{arg: 1 for arg in rule.arguments})
            for rule in admin_app.url_map.iter_rules()
            if rule.rule.startswith("/admin") and "POST" in rule.methods
        ]
    assert {"/admin/login", "/admin/logout", "/admin/journey/edit"} <= set(posts)
    assert "/admin/journey/versions/1/restore" in posts
    for url in posts:
        response = admin.post(url, data={"kind": "model", "text": "", "password": PASSWORD})
        assert response.status_code == 403, url  # signed in, yet no token: refused
    assert admin.get("/admin/").status_code == 200  # and still signed in
    assert versions(admin_config) == []


def test_a_token_from_another_session_is_refused(admin, admin_app):
    other = admin_app.test_client()
    login(other)
    stolen = csrf_of(other.get(SERVICE).text)
    response = admin.post(
        "/admin/journey/edit",
        data={"csrf_token": stolen, "kind": "stages", "key": "service", "text": "x"},
    )
    assert response.status_code == 403


def test_repeated_wrong_passwords_are_slowed_down(anonymous):
    for _ in range(5):
        assert login(anonymous, password="guess").status_code == 401
    response = login(anonymous)  # even the right one, for a while
    assert response.status_code == 429 and "Try again in" in response.text


def test_logout_kills_the_session_cookie_everywhere(admin, admin_app):
    copied = admin.get_cookie("session").value  # say, lifted from a shared machine
    thief = admin_app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/admin/").status_code == 200
    admin.post("/admin/logout", data={"csrf_token": csrf_of(admin.get("/admin/").text)})
    late = admin_app.test_client()
    late.set_cookie("session", copied)  # the very cookie that worked before the logout
    assert late.get("/admin/").status_code == 302
    assert thief.get("/admin/").status_code == 302


def test_a_changed_password_signs_every_session_out(admin, admin_config):
    assert admin.get("/admin/").status_code == 200
    changed = create_app(dataclasses.replace(admin_config, admin_password=Secret("new one")))
    moved = changed.test_client()
    moved.set_cookie("session", admin.get_cookie("session").value)
    assert moved.get("/admin/").status_code == 302


def test_a_guesser_on_the_same_address_does_not_lock_the_admins_out(admin_app):
    known = admin_app.test_client()  # an admin's browser that signed in before
    login(known)
    known.post("/admin/logout", data={"csrf_token": csrf_of(known.get("/admin/").text)})
    guesser = admin_app.test_client()  # same address (127.0.0.1), never signed in
    for _ in range(5):
        assert login(guesser, password="guess").status_code == 401
    assert login(guesser, password="one more").status_code == 429  # brute force refused...
    assert login(guesser).status_code == 429  # ...without checking what it sends
    response = login(known)  # while the admin still gets in
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    known.post("/admin/logout", data={"csrf_token": csrf_of(known.get("/admin/").text)})
    for _ in range(5):  # and a stolen device cookie buys no more guesses than an address
        assert login(known, password="guess").status_code == 401
    assert login(known).status_code == 429


@pytest.mark.parametrize("proxy_hops", [0, 1])
def test_the_login_limit_counts_the_address_the_trusted_proxy_saw(admin_config, proxy_hops):
    server = {**admin_config.server, "proxy_hops": proxy_hops}
    client = create_app(dataclasses.replace(admin_config, server=server)).test_client()

    def guess(address: str) -> int:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = address
        return login(client, password="guess").status_code

    assert [guess("203.0.113.7") for _ in range(5)] == [401] * 5
    assert guess("203.0.113.7") == 429
    # Behind nginx another client is another address; without a proxy the header is the
    # client's own word, and claiming a new address buys no more guesses.
    assert guess("198.51.100.2") == (401 if proxy_hops else 429)


def test_without_a_password_the_admin_names_the_variable_to_set(admin_config):
    closed = create_app(dataclasses.replace(admin_config, admin_password=None)).test_client()
    response = closed.get("/admin/journey")
    assert response.status_code == 503
    assert "JOURNEYDESK_ADMIN_PASSWORD" in response.text and "Stages" not in response.text
    assert closed.get("/admin/login").status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)  # as every 503


def test_the_open_demo_admin_says_it_is_open(admin_config):
    demo = dataclasses.replace(admin_config, admin_password=None, demo_mode=True)
    client = create_app(demo).test_client()
    response = client.get("/admin/journey")
    assert response.status_code == 200 and "Open demo admin" in response.text
    assert "JOURNEYDESK_ADMIN_PASSWORD" in response.text
    # Open, yet still protected from cross-site forms.
    assert client.post("/admin/journey/edit", data={"kind": "model"}).status_code == 403


# --------------------------------------------------------------------------- pages


def test_the_dashboard_shows_customers_per_stage_and_signal_and_the_syncs(admin, admin_config):
    page = admin.get("/admin/").text
    for key, count in stored_stage_counts(admin_config).items():
        assert re.search(rf'data-key="{key}">.*?<td class="num">{count}</td>', page, re.S), key
    assert 'id="signal-counts"' in page and "Repeat reader" in page
    assert "<code>demo</code>" in page  # the last sync of the demo desk
    assert re.findall(r'class="admin-nav".*?</nav>', page, re.S)[0].count("<a ") == 6


def test_the_stages_page_lists_definitions_counts_and_the_fact_catalogue(admin, admin_config):
    page = admin.get("/admin/journey").text
    counts = stored_stage_counts(admin_config)
    for key in ("purchase", "service", "advocacy", "retention", "consideration", "awareness"):
        row = re.search(rf'<tr data-key="{key}">(.*?)</tr>', page, re.S).group(1)
        assert f'<strong class="count">{counts[key]}</strong>' in row
    assert "days_since_purchase ≤ 45" in page
    for fact in ("days_until_renewal", "read_category:&lt;name&gt;", "attribute:&lt;name&gt;"):
        assert f"<code>{fact}</code>" in page
    assert "Shipped default" in page and "in force" in page


# --------------------------------------------------------------------------- editor


def test_an_invalid_definition_is_shown_in_the_form_and_nothing_is_saved(admin, admin_config):
    before = stored_stage_counts(admin_config)
    text = editor_text(admin.get(SERVICE).text).replace("days_since_purchase", "days_since_purchse")
    for action in ("preview", "save"):
        response = post_edit(admin, text, action=action)
        assert response.status_code == 422
        message = html.unescape(re.search(r"<pre>(.*?)</pre>", response.text, re.S).group(1))
        assert 'journey.stages[1] "service"' in message
        assert 'when.all[0].fact: unknown fact "days_since_purchse"' in message
        assert 'did you mean "days_since_purchase"' in message
        assert "nothing was saved" in response.text
        assert "days_since_purchse" in editor_text(response.text)  # the admin's text is kept
    broken = post_edit(admin, "[[journey.stages]\nkey =", action="save")
    assert broken.status_code == 422 and "not valid TOML" in broken.text
    leaf = '{ fact = "days_since_purchase", op = "lte", value = 45 }'
    deep = editor_text(admin.get(SERVICE).text).replace(
        leaf, "{ all = [" * 500 + leaf + "] }" * 500
    )
    nested = post_edit(admin, deep, action="save")
    assert nested.status_code == 422 and "nested too deeply" in nested.text
    assert versions(admin_config) == []
    assert stored_stage_counts(admin_config) == before


def test_the_preview_predicts_exactly_what_saving_does(admin, admin_config):
    # The demo's journeys were stored when the session began; time alone may have moved
    # a customer across a threshold since, which the preview would count as a change.
    bring_journeys_up_to_date(admin_config)
    before = stored_stage_counts(admin_config)
    text = editor_text(admin.get(SERVICE).text).replace("value = 45", "value = 20")
    preview = post_edit(admin, text)
    assert preview.status_code == 200
    now, after = (table_counts(preview.text, "preview-stages", c) for c in ("before", "after"))
    assert now == {key: before.get(key, 0) for key in now}
    assert sum(after.values()) == sum(now.values())
    assert after["service"] < now["service"]
    moved = int(re.search(r"<strong>(\d+)</strong> customers? would change stage", preview.text)[1])
    assert moved == now["service"] - after["service"] > 0
    sample = re.findall(r'href="/admin/customers/(\d+)"', preview.text)
    assert 0 < len(sample) <= 20 and "none of the stages above it matched" in preview.text
    assert versions(admin_config) == []  # a preview saves nothing

    saved = post_edit(admin, text, action="save", note="shorter onboarding")
    assert saved.status_code == 302
    assert stored_stage_counts(admin_config) == {k: v for k, v in after.items() if v}
    page = admin.get("/admin/journey").text
    assert "Saved version 1" in page and f"{moved} changed stage" in page
    [version] = versions(admin_config)
    assert (version.version, version.created_by, version.note) == (1, "Ana", "shorter onboarding")
    customer = admin.get(f"/admin/customers/{sample[0]}").text
    history = customer.split('id="history"')[1].split("</table>")[0]
    newest = re.findall(r"<tr>\s*<td.*?</tr>", history, re.S)[0]
    assert newest.index('data-stage="service"') < newest.index("→")  # moved out of onboarding


def bring_journeys_up_to_date(config) -> None:
    db = open_db(config.database_path)
    try:
        recompute(db, config_model(config), full=True)
    finally:
        db.conn.close()


def test_versions_can_be_restored_and_restoring_is_a_new_version(admin, admin_config):
    original = stored_stage_counts(admin_config)
    text = editor_text(admin.get(SERVICE).text)
    post_edit(admin, text.replace("value = 45", "value = 20"), action="save")
    after_v1 = stored_stage_counts(admin_config)
    post_edit(admin, text.replace("value = 45", "value = 60"), action="save")
    assert stored_stage_counts(admin_config) != after_v1

    page = admin.get("/admin/journey/versions/1").text
    assert 'id="preview-stages"' in page and "Restore as version 3" in page
    changes = html.unescape(page.split('id="changes"')[1].split("</section>")[0])
    assert re.search(r"<del>− .*value = 45", changes)
    assert re.search(r"<ins>\+ .*value = 20", changes)
    second = admin.get("/admin/journey/versions/2").text.split('id="changes"')[1]
    second = html.unescape(second.split("</section>")[0])
    assert re.search(r"<del>− .*value = 20", second) and "value = 45" not in second
    token, base = csrf_of(page), re.search(r'name="base_version" value="(\d+)"', page)[1]
    stale = admin.post("/admin/journey/versions/1/restore", data={"csrf_token": token})
    assert stale.status_code == 302 and versions(admin_config)[0].version == 2  # no base: refused
    restore = admin.post(
        "/admin/journey/versions/1/restore", data={"csrf_token": token, "base_version": base}
    )
    assert restore.status_code == 302
    latest = versions(admin_config)
    assert [v.version for v in latest] == [3, 2, 1]
    assert latest[0].definitions == latest[2].definitions and latest[0].note == "restored version 1"
    assert stored_stage_counts(admin_config) == after_v1

    base = admin.get("/admin/journey/versions/0").text
    admin.post(
        "/admin/journey/versions/0/restore",
        data={"csrf_token": csrf_of(base), "base_version": str(latest[0].id)},
    )
    assert versions(admin_config)[0].note == "restored the shipped default"
    assert stored_stage_counts(admin_config) == original
    assert admin.get("/admin/journey/versions/9").status_code == 404


def test_saving_over_a_newer_version_is_refused(admin, admin_app):
    page = admin.get(SERVICE).text
    text, token = editor_text(page), csrf_of(page)
    post_edit(admin, text.replace("value = 45", "value = 30"), action="save")  # someone else
    response = admin.post(
        "/admin/journey/edit",
        data={
            "csrf_token": token,
            "kind": "stages",
            "key": "service",
            "text": text.replace("value = 45", "value = 10"),
            "action": "save",
            "base_version": "0",
        },
    )
    assert response.status_code == 409 and "Preview again" in response.text


def test_the_whole_model_can_be_edited_and_must_keep_stages_and_signals(admin, admin_config):
    text = editor_text(admin.get("/admin/journey/edit?kind=model").text)
    assert text.count("[[journey.stages]]") == 6 and text.count("[[journey.signals]]") == 6
    no_signals = text.split("# Signals")[0]
    response = post_edit(admin, no_signals, kind="model", key=None)
    assert response.status_code == 422 and "at least one [[journey.signals]]" in response.text
    renamed = text.replace('label = "Churn risk"', 'label = "At risk <script>x()</script>"')
    assert post_edit(admin, renamed, action="save", kind="model", key=None).status_code == 302
    page = admin.get("/admin/journey").text
    assert "At risk &lt;script&gt;x()&lt;/script&gt;" in page and "<script>x()" not in page


def test_another_worker_picks_up_a_saved_version(admin, admin_config, monkeypatch):
    other = create_app(admin_config).test_client()  # a second worker: same database, own memory
    monkeypatch.setattr(context, "MODEL_CHECK_SECONDS", 0)
    with open_store(admin_config.database_path, migrate=False) as db:
        (customer,) = db.execute(
            "SELECT customer_id FROM customer_journeys WHERE stage = 'service' LIMIT 1"
        ).fetchone()
    token = mint_agent_token(admin_config.secret, source="demo", ticket_id=None)

    def label() -> str:
        response = other.get(
            f"/api/v1/customers/{customer}/journey", headers={"Authorization": f"Bearer {token}"}
        )
        return response.get_json()["stage"]["label"]

    assert label() == "Onboarding"
    text = editor_text(admin.get(SERVICE).text).replace('"Onboarding"', '"Getting started"')
    assert post_edit(admin, text, action="save").status_code == 302
    assert label() == "Getting started"


def test_a_large_desk_recomputes_in_the_background(admin, admin_config, monkeypatch):
    monkeypatch.setattr(jobs, "FOREGROUND_RECOMPUTE_LIMIT", 0)
    text = editor_text(admin.get(SERVICE).text).replace("value = 45", "value = 20")
    preview = post_edit(admin, text)
    expected = table_counts(preview.text, "preview-stages", "after")
    post_edit(admin, text, action="save")
    deadline = time.monotonic() + 20
    while "Recomputing" in admin.get("/admin/journey").text:
        assert time.monotonic() < deadline, "the background recompute did not finish"
        time.sleep(0.1)
    assert stored_stage_counts(admin_config) == {k: v for k, v in expected.items() if v}


def dashboard_moves(admin) -> dict[tuple[str, str], list[int]]:
    table = admin.get("/admin/").text.split('id="transitions"')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-from="(\w+)" data-to="(\w+)">(.*?)</tr>', table, re.S)
    return {(a, b): [int(n) for n in re.findall(r'class="num">(\d+)<', row)] for a, b, row in rows}


def test_the_dashboard_counts_the_stage_changes_of_the_last_30_days(admin, admin_config):
    before = dashboard_moves(admin)  # the demo's replayed past (first placements left out)
    assert before and all(a != "None" for a, _ in before)
    text = editor_text(admin.get(SERVICE).text).replace("value = 45", "value = 20")
    preview = post_edit(admin, text).text
    moved = int(re.search(r"<strong>(\d+)</strong> customers? would", preview)[1])
    assert post_edit(admin, text, action="save").status_code == 302
    after = dashboard_moves(admin)
    added = {
        move: counts[0] - before.get(move, [0])[0]
        for move, counts in after.items()
        if counts != before.get(move)
    }
    assert {a for a, _ in added} == {"service"}
    assert sum(added.values()) == moved


def test_customers_can_be_looked_up_by_email_or_id(admin, admin_config):
    page = admin.get("/admin/customers/1")
    assert page.status_code == 200 and 'id="facts"' in page.text
    email = re.search(r'<p class="lead">([^ ]+@[^ ]+) ·', page.text)[1]
    found = admin.get(f"/admin/customers?q={email.upper()}")
    assert found.status_code == 302 and found.headers["Location"] == "/admin/customers/1"
    assert admin.get("/admin/customers?q=1").headers["Location"] == "/admin/customers/1"
    missing = admin.get("/admin/customers?q=nobody@example.com")
    assert missing.status_code == 200 and "Nobody found" in missing.text
    assert admin.get("/admin/customers/999999").status_code == 404


def test_customers_are_found_by_part_of_a_name_email_or_company(admin, admin_config):
    with open_store(admin_config.database_path) as db:
        name, email, company = db.execute(
            "SELECT name, email, "
            f"{db.dialect.json_text('attributes', 'company')} FROM customers WHERE id = 7"
        ).fetchone()
    last_name = name.split()[-1]
    by_name = admin.get(f"/admin/customers?q={last_name.lower()}")
    listed = by_name.text if by_name.status_code == 200 else ""
    if by_name.status_code == 302:  # the only one with that name
        assert by_name.headers["Location"] == "/admin/customers/7"
    else:
        assert 'href="/admin/customers/7"' in listed and 'id="matches"' in listed
    by_company = admin.get(f"/admin/customers?q={company[: len(company) // 2 + 1]}")
    assert by_company.status_code in (200, 302)
    assert "/admin/customers/7" in (by_company.headers.get("Location") or by_company.text)
    local_part = email.split("@")[0]
    assert admin.get(f"/admin/customers?q={local_part}").headers["Location"].endswith("/7")
    wildcard = admin.get("/admin/customers?q=%25")  # a LIKE wildcard is a plain character
    assert wildcard.status_code == 200 and "Nobody found" in wildcard.text


def test_a_customer_page_lists_their_tickets_each_opening_its_sidebar(admin, anonymous):
    page = admin.get("/admin/customers/7").text
    tickets = page.split('id="tickets"')[1].split("</section>")[0]
    links = re.findall(r'href="(/admin/tickets/[^/"]+/[^"]+)"', tickets)
    assert links, tickets
    sidebar = admin.get(links[0])
    assert sidebar.status_code == 200 and 'class="stage' in sidebar.text
    assert anonymous.get(links[0]).status_code in (302, 401)
    assert admin.get("/admin/tickets/nowhere/1").status_code == 404


def test_browsers_asking_for_favicon_ico_get_the_icon(admin):
    icon = admin.get("/favicon.ico")
    assert icon.status_code == 301
    assert admin.get(icon.headers["Location"]).mimetype == "image/svg+xml"
