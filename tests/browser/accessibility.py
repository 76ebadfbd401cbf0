"""axe-core in the browser tests: a page a person uses must have no accessibility violation
that axe finds of the WCAG 2.1 A and AA rules, and none of its best-practice rules rated
serious or critical (landmarks, headings...), in the state the test leaves it in."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
RULES = [*WCAG, "best-practice"]
FAILING_IMPACTS = ("serious", "critical")
"""Best-practice findings of these impacts fail a test too; WCAG ones fail at any impact."""


def violations(page: Page) -> list[str]:
    """One line per violation: the rule, its impact, and the first element it names."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({line: `${v.id} (${v.impact}): ${v.help} — ${v.nodes[0].target}`,"
        " impact: v.impact, wcag: v.tags.some(t => t.startsWith('wcag'))}))",
        RULES,
    )
    return [v["line"] for v in found if v["wcag"] or v["impact"] in FAILING_IMPACTS]


def assert_accessible(page: Page) -> None:
    problems = violations(page)
    assert problems == [], "\n".join(problems)
