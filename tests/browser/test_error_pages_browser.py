"""What an agent sees when the sidebar cannot show a journey, in Chromium at 320 px, in
English and Spanish (issue 16, point 8): what happened and what to do, never a bare code
nor a "reload in a moment" that cannot help. axe-core checks each page (conftest.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

WORDS = {
    "en": {
        "not_configured": ("Not found", "not connected to a help desk named “zendesk”"),
        "not_found": ("demo has no ticket 99999999", "The last sync of demo finished"),
        "no_page": "There is no page at this address.",
        "refused": "The agent token is not valid",
    },
    "es": {
        "not_configured": ("No encontrado", "ningún help desk llamado «zendesk»"),
        "not_found": ("demo no tiene el ticket 99999999", "La última sincronización de demo"),
        "no_page": "No hay ninguna página en esta dirección.",
        "refused": "El token de agente no es válido",
    },
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_error_pages_say_what_happened_and_what_to_do(page, live_demo, artifacts, lang):
    words = WORDS[lang]
    page.set_viewport_size({"width": 320, "height": 640})

    answer = page.goto(f"{live_demo}/sidebar/zendesk/1?lang={lang}")  # a desk not set up
    assert answer.status == 404
    title, what = words["not_configured"]
    expect(page.locator("main.error h1")).to_have_text(title)
    expect(page.locator("main.error")).to_contain_text(what)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.screenshot(path=artifacts / f"error-not-configured-{lang}.png", full_page=True)

    answer = page.goto(f"{live_demo}/sidebar/demo/99999999?lang={lang}")  # a ticket unknown
    assert answer.status == 404
    for said in words["not_found"]:
        expect(page.locator("main.error")).to_contain_text(said)
    page.screenshot(path=artifacts / f"error-ticket-not-found-{lang}.png", full_page=True)

    answer = page.goto(f"{live_demo}/nope?lang={lang}")
    assert answer.status == 404
    expect(page.locator("main.error .message")).to_have_text(words["no_page"])

    answer = page.goto(f"{live_demo}/sidebar/demo/1?token=garbage&lang={lang}")
    assert answer.status == 401
    expect(page.locator("main.error")).to_contain_text(words["refused"])
    page.screenshot(path=artifacts / f"error-token-refused-{lang}.png", full_page=True)
