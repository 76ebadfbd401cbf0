"""GET /admin/outreach/timeline?rule=&days=: the dry-run timeline of one rule (or of every
enabled rule): the days with their counts, then who would get what, when and why."""

from __future__ import annotations

from flask import render_template, request

from plugin.errors import InvalidInput
from plugin.outreach.active_rules import load_active_rules
from plugin.outreach.report import TIMELINE_LIMITS
from plugin.outreach.timeline import DEFAULT_DAYS, MAX_DAYS, RENDERED_ENTRIES, dry_run_timeline
from plugin.web.admin import bp
from plugin.web.context import db, state


@bp.get("/outreach/timeline")
def outreach_timeline():
    rule = request.args.get("rule", "").strip() or None
    days = _days(request.args.get("days", ""))
    config = state().config
    timeline = dry_run_timeline(config, rule, days=days)
    return render_template(
        "admin/outreach_timeline.html",
        timeline=timeline,
        rule=rule,
        days=days,
        max_days=MAX_DAYS,
        rules=load_active_rules(db(), config).rules.rules,
        entries=timeline.entries[:RENDERED_ENTRIES],
        limit_names=TIMELINE_LIMITS,
        limit_keys=sorted({key for day in timeline.day_rows for key in day.limits}),
    )


def _days(text: str) -> int:
    if not text.strip():
        return DEFAULT_DAYS
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DAYS:
        raise InvalidInput(f"days is a whole number from 1 to {MAX_DAYS}")
    return int(text)
