"""The unsubscribe page as a customer meets it, in Chromium: one click out, one click back,
in English and Spanish, with no accessibility violation axe can find."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from plugin.security import mint_unsubscribe_token
from tests.helpers.config import SECRET

WORDS = {
    "en": ("Unsubscribe", "will not receive proactive emails", "Subscribe again", "Welcome back"),
    "es": ("Darse de baja", "ya no recibirá", "Volver a suscribirse", "Bienvenido de nuevo"),
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_customer_opts_out_and_back_in(page, live_demo, artifacts, lang):
    # An address no demo customer has: the shared demo's own customers stay untouched.
    token = mint_unsubscribe_token(SECRET, f"reader-{lang}@example.com")
    leave, left, rejoin, rejoined = WORDS[lang]
    page.set_viewport_size({"width": 390, "height": 700})  # a phone, where most mail is read

    page.goto(f"{live_demo}/u/{token}?lang={lang}")
    expect(page.locator("h1")).to_be_visible()
    page.screenshot(path=artifacts / f"unsubscribe-{lang}.png", full_page=True)

    page.get_by_role("button", name=leave).click()
    expect(page.get_by_role("status")).to_contain_text(left)
    page.screenshot(path=artifacts / f"unsubscribe-done-{lang}.png", full_page=True)

    page.get_by_role("button", name=rejoin).click()
    expect(page.get_by_role("status")).to_contain_text(rejoined)
    expect(page.get_by_role("button", name=leave)).to_be_visible()


def test_a_link_not_made_by_us_gets_a_readable_page(page, live_demo):
    response = page.goto(f"{live_demo}/u/forged-token")
    assert response.status == 404
    expect(page.locator("body")).to_contain_text("not valid")
