"""Customer lookup: one customer's stage and why, their facts now, and their stage history."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from plugin.clock import now_epoch
from plugin.journey.facts import compute_facts
from plugin.journey.model import reason_from_dict
from plugin.journey.reasons import render_reasons
from plugin.sidebar import build_customer_journey
from plugin.store.customers import get_customer, get_customer_by_email
from plugin.store.history import customer_aggregates
from plugin.store.journeys import recent_transitions, stage_history
from plugin.web.admin import bp
from plugin.web.context import db, state
from plugin.web.strict import MAX_ROW_ID


@bp.get("/customers")
def customers():
    query = request.args.get("q", "").strip()
    if query:
        found = _find(query)
        if found is not None:
            return redirect(url_for("admin.customer", customer_id=found))
    return render_template(
        "admin/customers.html",
        query=query,
        not_found=bool(query),
        recent=recent_transitions(db()),
        model=state().model,
    )


@bp.get("/customers/<int:customer_id>")
def customer(customer_id: int):
    profile = get_customer(db(), customer_id)
    if profile is None:
        abort(404, description=f"There is no customer {customer_id}.")
    if profile.get("merged_into"):
        return redirect(url_for("admin.customer", customer_id=profile["merged_into"]))
    now = now_epoch()
    aggregates = customer_aggregates(db(), [customer_id], now=now).get(customer_id, {})
    history = stage_history(db(), customer_id, limit=20)
    for row in history:
        row["reasons"] = render_reasons([reason_from_dict(r) for r in row["reasons"]])
    return render_template(
        "admin/customer.html",
        profile=profile,
        journey=build_customer_journey(db(), state().model, customer_id, now=now),
        facts=sorted(compute_facts(aggregates, now).items()),
        history=history,
        model=state().model,
    )


def _find(query: str) -> int | None:
    if "@" in query:
        return get_customer_by_email(db(), query)
    number = query.lstrip("#")
    # ASCII digits only, and an id SQLite can bind: "²" or 2^64 are simply not customers
    if number.isascii() and number.isdigit() and int(number) <= MAX_ROW_ID:
        if get_customer(db(), int(number)) is not None:
            return int(number)
    return None
