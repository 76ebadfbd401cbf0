"""The sidebar's folded sections (tools, timeline, other tickets) in browser tests."""

from __future__ import annotations


def unfold(page, name: str) -> None:
    """Open one fold of the sidebar as an agent's click would (page or frame locator)."""
    fold = page.locator(f"details.fold-{name}")
    if fold.get_attribute("open") is None:
        fold.locator("summary").click()
