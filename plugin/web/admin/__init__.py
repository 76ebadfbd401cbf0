"""The web admin under /admin: login, dashboard, stages & signals, customer lookup.

Every route sits behind `auth.require_admin_login` (login, CSRF on every form); the layout is
`templates/admin/base.html`. A later admin page (outreach, SLA, reports) adds its routes to
`bp` in a module imported below and one entry to `NAV` — the menu shows only pages that exist.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

NAV: list[tuple[str, str]] = [
    ("admin.dashboard", "Dashboard"),
    ("admin.journey", "Stages & signals"),
    ("admin.customers", "Customers"),
    ("admin.outreach", "Outreach"),
    ("admin.reports", "Reports"),
]
"""(endpoint, label) of the admin menu, in order."""

# The modules register their routes on `bp`; imported last because they import `bp`.
from plugin.web.admin import (  # noqa: E402, F401
    auth,
    customers,
    dashboard,
    journey,
    outreach,
    outreach_timeline,
    reports,
)
