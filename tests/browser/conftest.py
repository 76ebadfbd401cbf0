"""Browser tests: the page's clock is the suite's clock.

Pages stamp what they send with the browser's own time (the portal snippet's
`occurred_at`); journeydesk judges it on its clock (plugin/clock.py), which the suite sets.
Playwright's clock makes the two agree: it starts at the suite's "now" and runs on."""

from __future__ import annotations

import pytest

from plugin import clock


@pytest.fixture
def context(context):
    context.clock.install(time=clock.now())
    return context
