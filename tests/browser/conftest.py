"""Browser tests: the page's clock is the suite's clock, and axe-core watches every state.

Pages stamp what they send with the browser's own time (the portal snippet's
`occurred_at`); journeydesk judges it on its clock (plugin/clock.py), which the suite sets.
Playwright's clock makes the two agree: it starts at the suite's "now" and runs on.

Every page state a test visits is checked by axe-core (tests/browser/accessibility.py):
Playwright's actions are wrapped so that each one first checks the state the previous step
left (and the test asserted), and the state a test ends in is checked when it returns. No
test has to remember to call it, and none can skip it.
"""

from __future__ import annotations

import functools

import pytest
from playwright.sync_api import BrowserContext, Locator, Page

from plugin import clock
from tests.browser import accessibility

STEPS = {
    Page: (
        "goto", "reload", "go_back", "go_forward", "set_content", "click", "dblclick", "fill",
        "type", "press", "check", "uncheck", "set_checked", "select_option", "tap", "hover",
        "focus", "set_viewport_size", "screenshot", "evaluate", "wait_for_timeout", "close",
    ),
    Locator: (
        "click", "dblclick", "fill", "clear", "type", "press", "press_sequentially", "check",
        "uncheck", "set_checked", "select_option", "tap", "hover", "focus", "blur",
        "screenshot", "evaluate", "dispatch_event", "scroll_into_view_if_needed",
    ),
}  # fmt: skip
"""Playwright's actions that change what a page shows or record it: each is a checkpoint."""

_watching = False
"""True while a test's own body runs: fixtures' set-up and tear-down are not checked."""


def _checkpoint(cls: type, name: str):
    action = getattr(cls, name)

    @functools.wraps(action)
    def checked(self, *args, **kwargs):
        if _watching:
            page = self if isinstance(self, Page) else self.page
            accessibility.check_unless_failing(page, f"the state before {cls.__name__}.{name}")
        return action(self, *args, **kwargs)

    return checked


def _closing(action):
    @functools.wraps(action)
    def close(self, *args, **kwargs):
        try:
            if _watching:
                for page in self.pages:
                    accessibility.check_unless_failing(page, "the state its context closed on")
        finally:
            action(self, *args, **kwargs)

    return close


@pytest.fixture(scope="session", autouse=True)
def _axe_on_every_step():
    with pytest.MonkeyPatch.context() as patch:
        for cls, names in STEPS.items():
            for name in names:
                patch.setattr(cls, name, _checkpoint(cls, name))
        patch.setattr(BrowserContext, "close", _closing(BrowserContext.close))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Watch the test's body; when it returns, check every page it left open."""
    global _watching
    _watching = True
    try:
        result = yield
        browser = item.funcargs.get("browser")
        for context in browser.contexts if browser else ():
            for page in context.pages:
                accessibility.check(page, "the state the test ended in")
        return result
    finally:
        _watching = False


@pytest.fixture
def context(context):
    context.clock.install(time=clock.now())
    return context
