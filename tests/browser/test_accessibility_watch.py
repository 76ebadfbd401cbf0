"""The axe-core watch of tests/browser/conftest.py catches what a step leaves on the page.

A page served at a made-up address (Playwright answers for it), with the Content Security
Policy journeydesk's own pages send: axe still runs, and a violation that appears only
after a click fails the step that follows, naming the rule, the element and the width.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

ADDRESS = "http://journeydesk.test/watched"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Watched</title>
<script src="/reveal.js" defer></script></head>
<body><main><h1>Watched page</h1><button id="reveal" type="button">Show the logo</button>
<div id="logo"></div></main></body></html>"""
REVEAL = """document.getElementById('reveal').addEventListener('click', function () {
  var logo = document.createElement('img');
  logo.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';
  document.getElementById('logo').appendChild(logo);
});"""
CSP = "default-src 'self'; img-src 'self' data:; script-src 'self'"


def serve_watched_page(route) -> None:
    if route.request.url.endswith("/reveal.js"):
        route.fulfill(body=REVEAL, content_type="text/javascript")
    else:
        route.fulfill(body=PAGE, content_type="text/html", headers={"Content-Security-Policy": CSP})


def test_a_violation_a_click_reveals_fails_the_next_step(page):
    page.route("http://journeydesk.test/**", serve_watched_page)
    page.set_viewport_size({"width": 320, "height": 600})
    page.goto(ADDRESS)
    page.click("#reveal")  # the page as loaded is clean: no complaint here
    expect(page.locator("#logo img")).to_have_count(1)

    with pytest.raises(AssertionError) as failure:
        page.screenshot()  # the next step: the image without a text alternative is found
    report = str(failure.value)
    assert "the state before Page.screenshot" in report
    assert f"{ADDRESS} at 320 px" in report
    assert "image-alt (critical): Images must have alternative text — img" in report

    # named, the image passes; the frame's own evaluate is no step, so nothing runs before it
    page.main_frame.evaluate("document.querySelector('#logo img').alt = 'Acme logo'")
    page.screenshot()
