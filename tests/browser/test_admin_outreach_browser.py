"""The outreach admin in real headless Chromium: preview a shipped rule on the demo data,
enable it, run it against a real SMTP server, read the outbox and ask why."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from plugin.app import create_app
from plugin.security import Secret
from tests.outreach.conftest import outreach_config, smtp_sink  # noqa: F401 - a fixture

PASSWORD = "a long admin password"
WIDTHS = (1280, 768)


@pytest.fixture
def outreach_server(seeded_demo, tmp_path, smtp_sink):  # noqa: F811
    config = outreach_config(tmp_path, seeded_demo, port=smtp_sink.port, rules="")
    config = dataclasses.replace(config, admin_password=Secret(PASSWORD))
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def shots(page, artifacts, name: str) -> None:
    """The page at each width, checked by axe-core first."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for frame in page.locator("iframe").all():  # painted only once scrolled to
            frame.scroll_into_view_if_needed()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=artifacts / f"outreach-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_preview_enable_run_then_read_the_outbox_and_ask_why(
    page,
    outreach_server,
    smtp_sink,  # noqa: F811
    artifacts,
):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(outreach_server + "/admin/outreach")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=name]", "Ana")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Outreach")
    expect(page.locator("#rules tr[data-rule]")).to_have_count(5)
    shots(page, artifacts, "rules")

    # preview: audience, reasons, limits, the message in both languages
    page.click('#rules tr[data-rule="repeat-reader"] a:has-text("Preview & edit")')
    page.click("#preview-button")
    expect(page.locator("#preview-summary")).to_contain_text("match the audience")
    audience = int(page.locator("#preview-summary .audience-size").inner_text())
    assert audience > 0
    expect(page.locator("#preview-sample tr[data-customer]").first).to_be_visible()
    expect(page.locator("#example-es .mail-subject")).to_contain_text("¿Sigue atascado con")
    expect(page.locator("#example-en .mail-subject")).to_contain_text("Still stuck on")
    frame = page.frame_locator("#example-en iframe")
    expect(frame.locator("body")).to_contain_text("Unsubscribe")
    shots(page, artifacts, "preview")
    # a full-page shot leaves frames below the first screen unpainted: this one, in view
    page.locator("#example-es").scroll_into_view_if_needed()
    page.locator("#example-es").screenshot(path=artifacts / "outreach-preview-message-es.png")

    # a template reaching for internals: the sandbox's clear refusal
    editor = page.locator("textarea#text")
    original = editor.input_value()
    editor.fill(
        original.replace('template = "repeat_reader"', "body.en = \"{{ ''.__class__.__mro__ }}\"")
    )
    page.click("#preview-button")
    expect(page.locator("#preview-refused")).to_contain_text("was refused")
    shots(page, artifacts, "refused")

    # the shipped templates, readable before a rule takes a copy
    page.goto(outreach_server + "/admin/outreach/templates")
    expect(page.locator("body")).to_contain_text("repeat_reader")
    shots(page, artifacts, "templates")

    # its dry-run timeline: who would get what over the next 14 days
    page.goto(outreach_server + "/admin/outreach")
    page.click('#rules tr[data-rule="repeat-reader"] a:has-text("Timeline")')
    expect(page.locator("h1")).to_contain_text("Dry-run timeline: repeat-reader")
    expect(page.locator("body")).to_contain_text("Audiences are today's")
    shots(page, artifacts, "timeline")

    # enable it (a new version), then run it now
    page.goto(outreach_server + "/admin/outreach")
    page.click('#rules tr[data-rule="repeat-reader"] button:has-text("Enable")')
    expect(page.locator(".flash").first).to_contain_text("repeat-reader is enabled")
    expect(page.locator('#versions tr[data-version="1"]')).to_contain_text("in force")
    page.click('#rules tr[data-rule="repeat-reader"] button:has-text("Run now")')
    expect(page.locator("h1")).to_have_text("Outbox")
    deadline = time.monotonic() + 30
    while page.locator('#outbox tr[data-status="sent"]').count() < audience:
        assert time.monotonic() < deadline, "the run did not send its messages"
        time.sleep(0.3)
        page.reload()
    assert len(smtp_sink.messages) == audience
    shots(page, artifacts, "outbox")

    page.locator("#outbox tr[data-id] a").first.click()
    expect(page.locator("h1")).to_contain_text("Message #")
    expect(page.locator("#message-reasons li").first).to_be_visible()
    # the message names the article re-read, as often as the reasons say
    views = page.locator("#message-reasons li").first.inner_text().split(" times")[0].split()[-1]
    expect(page.locator(".mail-text")).to_contain_text(f" {views} ")
    shots(page, artifacts, "message")

    # why: a recipient has this period's message; the rule's counts on the list
    recipient = page.locator("#delivery tr:has-text('Recipient') td").inner_text()
    page.goto(outreach_server + "/admin/outreach/why")
    page.fill("#customer", recipient)
    page.select_option("#why-rule", "repeat-reader")
    page.click("#why-form button")
    expect(page.locator("#answer")).to_have_attribute("data-verdict", "claimed")
    expect(page.locator("#answer-headline")).to_contain_text("was sent")
    shots(page, artifacts, "why-claimed")

    page.fill("#customer", "1")
    page.select_option("#why-rule", "onboarding-guide")
    page.click("#why-form button")
    expect(page.locator("#answer")).to_be_visible()
    shots(page, artifacts, "why-other")

    page.goto(outreach_server + "/admin/outreach")
    row = page.locator('#rules tr[data-rule="repeat-reader"]')
    expect(row.locator(".count-chip.status-sent")).to_contain_text(str(audience))
    expect(row.locator(".last-run")).not_to_have_text("never")
