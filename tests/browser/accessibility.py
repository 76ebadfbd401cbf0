"""axe-core on every page state the browser tests visit (issue 16).

A page a person uses must have no violation axe finds of the WCAG 2.x A and AA rules, and
none of any other rule axe runs by default (best practices: landmarks, headings...; WCAG
2.2's target size) rated serious or critical.

No test calls this: tests/browser/conftest.py wraps Playwright's actions (a navigation, a
click, a fill, a screenshot, a new viewport width, an `evaluate` that drives the page...)
so that, before each one and when the test ends, every frame of the page is checked in the
state the test has just asserted (a dialog open, a fold expanded, an error shown, 320 px
wide...). A state already found clean (same frame address, width and markup) is not
checked again, which keeps the suite fast.

axe is injected with `evaluate` (the DevTools protocol), so the pages' Content Security
Policy stays on: it is part of what the tests exercise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from playwright.sync_api import Error, Frame, Page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa")
FAILING_IMPACTS = ("serious", "critical")
"""Findings of these impacts fail a test whatever the rule; WCAG A/AA ones fail at any impact."""

FINGERPRINT = r"""() => {
  const markup = document.documentElement ? document.documentElement.outerHTML : '';
  const text = markup
    .replaceAll(' style=""', '')  // what a screenshot leaves behind
    .replace(/<script\b[^>]*>[^]*?<\/script>|<input type="hidden"[^>]*>/g, '');  // tokens
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return `${innerWidth}:${text.length}:${hash >>> 0}`;
}"""
"""One state of a frame: its width and its markup (attributes such as a fold's `open`
included; scripts and hidden fields, which hold per-load tokens, left out), hashed in the
page so the markup never crosses the wire."""

RUN = """async (wcag) => {
  const result = await axe.run(document, {resultTypes: ['violations'], iframes: false});
  return result.violations.map(v => ({
    line: `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map(n => n.target).join(', ')}`,
    impact: v.impact, wcag: v.tags.some(t => wcag.includes(t))}));
}"""
"""axe's default rules (all but the experimental ones and AAA). Each frame is checked on
its own (`iframes: false`): a frame from another server (a desk's page around
journeydesk's) has no axe of its own to answer."""

_source: str | None = None
_clean: set[tuple[str, str]] = set()
"""States found clean in this run: (frame address, fingerprint)."""
_busy = False
checked: list[str] = []
"""Every state axe-core ran on in this run, as "address at width" (the suite's summary)."""
seconds = 0.0
"""The time spent in axe-core and its checks, for the same summary."""


def _axe_source() -> str:
    global _source
    if _source is None:
        _source = AXE.read_text(encoding="utf-8")
    return _source


def violations(frame: Frame | Page) -> list[str]:
    """One line per failing violation: the rule, its impact, and the elements it names."""
    if not frame.evaluate("() => typeof window.axe !== 'undefined'"):
        frame.evaluate(_axe_source())
    found = frame.evaluate(RUN, list(WCAG))
    return [v["line"] for v in found if v["wcag"] or v["impact"] in FAILING_IMPACTS]


def _frame_problems(frame: Frame) -> list[str]:
    if not frame.url.startswith(("http://", "https://")) or frame.is_detached():
        return []  # about:blank before a first navigation, or gone
    try:
        state = (frame.url, frame.evaluate(FINGERPRINT))
        if state in _clean:
            return []
        started = time.monotonic()
        problems = violations(frame)
        took = time.monotonic() - started
        checked.append(f"{frame.url} at {state[1].split(':')[0]} px ({took:.2f} s)")
    except Error as error:
        if "navigat" in str(error) or "detached" in str(error) or "closed" in str(error):
            return []  # the frame moved on under us: its next state is checked next time
        raise
    if not problems:
        _clean.add(state)
    return problems


def check(page: Page, when: str = "") -> None:
    """Fail with every violation axe-core finds in any frame of `page` as it is now."""
    global _busy, seconds
    if _busy or page.is_closed():
        return
    _busy = True
    started = time.monotonic()
    try:
        report = []
        for frame in page.frames:
            problems = _frame_problems(frame)
            if problems:
                width = page.viewport_size["width"] if page.viewport_size else "?"
                report.append(f"{frame.url} at {width} px:\n  " + "\n  ".join(problems))
    finally:
        _busy = False
        seconds += time.monotonic() - started
    if report:
        where = f" ({when})" if when else ""
        raise AssertionError(
            f"axe-core found accessibility violations{where}:\n" + "\n".join(report)
        )


def check_unless_failing(page: Page, when: str) -> None:
    """`check`, except while an exception is already on its way up (a failing test's own
    error is the one to read, not the state it left the page in)."""
    if sys.exc_info()[0] is None:
        check(page, when)
