"""SLA rules: the ordered rules in force (move up / down), the editor with its what-if on
the last days of real tickets, versions and restore, the last decisions with their
reasons and the pushes still waiting or failed. Thin: parse the form, call plugin.sla and
plugin.journey.versions, render.

The editing machinery is the journey model's and the outreach rules': TOML in a textarea,
Preview (never saves), Save as a new version (kind "sla") with the base-version check,
versions restored by saving them again.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from plugin.clock import now_epoch
from plugin.journey import versions
from plugin.journey.active_model import load_active_model
from plugin.journey.conditions import ConditionError
from plugin.journey.editing import EDITOR
from plugin.journey.versions import InForce, in_force
from plugin.sla.active_rules import KIND, SLA
from plugin.sla.editing import (
    EXAMPLE,
    candidate_table,
    rule_to_toml,
    table_of,
    table_to_toml,
    with_rule_moved,
)
from plugin.sla.explain import explain_decision
from plugin.sla.rules import SlaRules, load_sla_rules, sla_fact_specs
from plugin.sla.what_if import WhatIf, what_if
from plugin.store.rule_sets import get_rule_set, list_rule_sets
from plugin.store.sla_decisions import recent_decisions
from plugin.store.sla_pushes import list_pushes, push_counts
from plugin.store.tickets import get_ticket
from plugin.web.admin import bp
from plugin.web.context import db, state

DECISIONS_SHOWN = 30
PUSHES_SHOWN = 50
DAYS_CHOICES = (7, 30, 90)
DEFAULT_DAYS = 30
MOVES = {"up": -1, "down": 1}
SAMPLES = 12
"""Tickets the what-if shows that would change."""


# --------------------------------------------------------------------------- the rules


@bp.get("/sla")
def sla():
    active = _active()
    return render_template(
        "admin/sla.html",
        active=active,
        versions=list_rule_sets(db(), KIND),
        base_origin=versions.config_origin(state().config, SLA),
        base_version=_base_version(active),
        decisions=_decisions(),
        pushes=_unsent_pushes(),
        push_totals=push_counts(db()),
        example=EXAMPLE,
    )


@bp.post("/sla/rules/<name>/move")
def sla_move(name: str):
    active = _active()
    offset = MOVES.get(request.form.get("direction", ""))
    if offset is None:
        abort(400, description="Move a rule up or down.")
    if active.value.rule(name) is None:
        abort(404, description=f"There is no SLA rule {name}.")
    if request.form.get("base_version", type=int) != _base_version(active):
        flash("The rules changed since you opened this page; check the order again.", "error")
        return redirect(url_for("admin.sla"))
    direction = request.form["direction"]
    try:
        table = with_rule_moved(table_of(active.value), name, offset)
        note = f"moved {name} {direction}"
        saved = versions.save(db(), SLA, table, created_by=g.admin_name, note=note, now=now_epoch())
    except ConditionError as exc:
        flash(f"Nothing was saved: {exc}", "error")
        return redirect(url_for("admin.sla"))
    names = [item["name"] for item in table["rules"]]
    flash(
        f"Saved version {saved.version}: {name} moved {direction}, now rule "
        f"{names.index(name) + 1} of {len(names)}."
    )
    return redirect(url_for("admin.sla", _anchor=f"rule-{name}"))


# --------------------------------------------------------------------------- the editor


@bp.get("/sla/edit")
def sla_edit():
    active = _active()
    name = request.args.get("rule") or None
    table = table_of(active.value)
    if name is None:
        text = table_to_toml(table) if table["rules"] else EXAMPLE
        return _editor(active, None, text, example=not table["rules"])
    item = next((r for r in table["rules"] if r.get("name") == name), None)
    if item is None:
        abort(404, description=f"There is no SLA rule {name}.")
    return _editor(active, name, rule_to_toml(item))


@bp.post("/sla/edit")
def sla_edit_post():
    active = _active()
    name = request.form.get("rule") or None
    text = request.form.get("text", "")
    try:
        candidate = candidate_table(text, table_of(active.value), name)
    except ConditionError as exc:
        return _editor(active, name, text, error=str(exc)), 422
    if request.form.get("action") == "save":
        return _save(active, name, text, candidate)
    draft = load_sla_rules(candidate, file=EDITOR)
    impact = _impact(active, draft, _days(request.form))
    return _editor(active, name, text, draft=draft, impact=impact)


# --------------------------------------------------------------------------- versions


@bp.get("/sla/versions/<int:number>")
def sla_version(number: int):
    active = _active()
    saved, rules = _version(number)
    in_force_now = active.version_number == number and not active.problem
    days = _days(request.args)
    impact = None if in_force_now else _impact(active, rules, days)
    return render_template(
        "admin/sla_version.html",
        version_number=number,
        saved=saved,
        rules=rules,
        base_origin=versions.config_origin(state().config, SLA),
        in_force=in_force_now,
        text=table_to_toml(table_of(rules)),
        active=active,
        base_version=_base_version(active),
        impact=impact,
        model=_journey_model(),
        days=days,
        days_choices=DAYS_CHOICES,
    )


@bp.post("/sla/versions/<int:number>/restore")
def sla_restore(number: int):
    active = _active()
    _version(number)  # 404 for a version that does not exist
    if request.form.get("base_version", type=int) != _base_version(active):
        flash("The rules changed since you opened this page; check again.", "error")
        return redirect(url_for("admin.sla_version", number=number))
    saved = versions.restore(
        db(), state().config, SLA, number, created_by=g.admin_name, now=now_epoch()
    )
    if saved is None:
        abort(404, description=f"There is no version {number} of the SLA rules.")
    flash(f"Saved version {saved.version}: {saved.note}.")
    return redirect(url_for("admin.sla"))


# --------------------------------------------------------------------------- helpers


def _active() -> InForce[SlaRules]:
    return in_force(db(), state().config, SLA)


def _base_version(active: InForce[SlaRules]) -> int:
    """The newest saved version's id (0: none): a form carries it to detect a save meanwhile."""
    return active.latest_id or 0


def _journey_model():
    """The journey model in force: the what-if names stages by their labels."""
    return load_active_model(db(), state().config).model


def _days(values: Any) -> int:
    days = values.get("days", type=int)
    return days if days in DAYS_CHOICES else DEFAULT_DAYS


def _version(number: int) -> tuple[Any, SlaRules]:
    """A saved version and its rules; 0 is the config file's rules (or none)."""
    if number == 0:
        return None, versions.from_config(state().config, SLA)
    saved = get_rule_set(db(), KIND, number)
    if saved is None:
        abort(404, description=f"There is no version {number} of the SLA rules.")
    try:
        return saved, versions.of_version(SLA, saved)
    except ConditionError as exc:
        abort(409, description=f"Version {number} cannot be used by this release: {exc}")


def _impact(active: InForce[SlaRules], draft: SlaRules, days: int) -> WhatIf:
    """What `draft` would have done, instead of the rules in force, to the tickets of the
    last `days` days (nothing is saved or pushed)."""
    config = state().config
    return what_if(db(), config, draft, days=days, current=active.value, samples=SAMPLES)


def _editor(
    active: InForce[SlaRules],
    name: str | None,
    text: str,
    *,
    error: str | None = None,
    draft: SlaRules | None = None,
    impact: WhatIf | None = None,
    example: bool = False,
) -> str:
    return render_template(
        "admin/sla_edit.html",
        active=active,
        name=name,
        rule=active.value.rule(name) if name else None,
        text=text,
        error=error,
        draft=draft,
        changes=_changes(active.value, draft) if draft else {},
        impact=impact,
        model=_journey_model(),
        example=example,
        note=request.form.get("note", ""),
        base_version=_base_version(active),
        days=_days(request.form if request.method == "POST" else request.args),
        days_choices=DAYS_CHOICES,
        ticket_facts=[s for s in sla_fact_specs().values() if s.name.startswith("ticket.")],
    )


def _changes(before: SlaRules, after: SlaRules) -> dict[str, str]:
    """{rule name: "new" | "changed"} of the rules `after` adds or changes."""
    changes = {}
    for rule in after.rules:
        old = before.rule(rule.name)
        if old is None:
            changes[rule.name] = "new"
        elif old.source != rule.source:
            changes[rule.name] = "changed"
    return changes


def _save(active: InForce[SlaRules], name: str | None, text: str, candidate: dict[str, Any]):
    if request.form.get("base_version", type=int) != _base_version(active):
        who = f" by {active.version.created_by}" if active.version else ""
        message = (
            f"The rules changed since you opened this editor (now "
            f"{SLA.describe(active.origin, active.version)}{who}). "
            "Preview again to see your change against them, then save."
        )
        return _editor(active, name, text, error=message), 409
    if candidate == table_of(active.value):
        message = "Nothing to save: this text is what is in force already."
        return _editor(active, name, text, error=message), 422
    note = request.form.get("note", "").strip()[:200] or (f"edited {name}" if name else "")
    saved = versions.save(db(), SLA, candidate, created_by=g.admin_name, note=note, now=now_epoch())
    flash(f"Saved version {saved.version}: new tickets get these rules from now on.")
    return redirect(url_for("admin.sla"))


def _decisions() -> list[dict[str, Any]]:
    """The last decisions, each with its ticket's subject and, in the sidebar's words, what
    it did and why."""
    rows = []
    for decision in recent_decisions(db(), limit=DECISIONS_SHOWN):
        ticket = get_ticket(db(), decision["source"], decision["ticket_id"]) or {}
        rows.append(
            {**decision, "subject": ticket.get("subject"), "said": explain_decision(decision)}
        )
    return rows


def _unsent_pushes() -> list[dict[str, Any]]:
    """Pushes not at the desk yet (pending, being sent) and those that failed for good."""
    rows = [
        push
        for status in ("failed", "sending", "pending")
        for push in list_pushes(db(), status=status, limit=PUSHES_SHOWN)
    ]
    return rows[:PUSHES_SHOWN]
