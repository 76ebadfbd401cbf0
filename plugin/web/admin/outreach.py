"""Outreach: the rules with their last run and counts, the rule editor and its live preview,
versions and restore, the outbox (requeue / discard), and "why did / didn't this customer
get this message?". Thin: parse the form, call plugin.outreach, render.

The editing machinery is the journey model's: TOML in a textarea, Preview, Save as a new
version (kind "outreach") with the base-version check, versions restored by saving again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from plugin.background.threads import start_in_thread
from plugin.clock import now_epoch
from plugin.journey.conditions import ConditionError
from plugin.journey.editing import EDITOR
from plugin.journey.model import reason_from_dict
from plugin.journey.reasons import render_reasons
from plugin.outreach.active_rules import (
    KIND,
    ActiveRules,
    config_origin,
    load_active_rules,
    restore_version,
    save_rules,
)
from plugin.outreach.audience import SKIP_REASONS
from plugin.outreach.editing import (
    candidate_table,
    describe_schedule,
    full_definitions,
    rule_to_toml,
    table_to_toml,
    with_enabled,
    with_template_copied,
)
from plugin.outreach.engine import run_quietly
from plugin.outreach.explain import VERDICTS, explain
from plugin.outreach.planning import RulePlan, template_refusal, trial_plans
from plugin.outreach.rules import cron_trigger, load_rules
from plugin.outreach.templates import (
    copied_body,
    shipped_templates,
    template_catalogue,
)
from plugin.store.customers import get_customer
from plugin.store.outbox import (
    STATUSES,
    discard_message,
    get_message,
    list_messages,
    requeue_message,
    rule_activity,
    status_counts,
)
from plugin.store.rule_sets import get_rule_set, latest_rule_set_id, list_rule_sets
from plugin.web.admin import bp
from plugin.web.admin.customers import _find as find_customer
from plugin.web.admin.formatting import text_diff
from plugin.web.context import db, state

SAMPLE_SIZE = 8
OUTBOX_PAGE = 100


# --------------------------------------------------------------------------- rules


@bp.get("/outreach")
def outreach():
    active = _active()
    now = now_epoch()
    activity = rule_activity(db())
    rows = []
    for rule in active.rules.rules:
        trigger = cron_trigger(rule, active.rules)
        upcoming = trigger.get_next_fire_time(None, datetime.fromtimestamp(now, UTC))
        rows.append(
            {
                "rule": rule,
                "schedule": describe_schedule(rule.schedule),
                "next_at": int(upcoming.timestamp()) if upcoming else None,
                "counts": activity.get(rule.name, {}).get("counts", {}),
                "last_at": activity.get(rule.name, {}).get("last_at"),
            }
        )
    return render_template(
        "admin/outreach.html",
        active=active,
        rows=rows,
        statuses=STATUSES,
        versions=list_rule_sets(db(), KIND),
        base_origin=config_origin(state().config),
        base_version=_base_version(),
        totals=status_counts(db()),
    )


@bp.get("/outreach/edit")
def outreach_edit():
    active = _active()
    name = request.args.get("rule") or None
    table = _current(active)
    if name is None:
        return _editor(active, None, table_to_toml(table))
    item = next((r for r in table["rules"] if r.get("name") == name), None)
    if item is None:
        abort(404, description=f"There is no outreach rule {name}.")
    template = request.args.get("copy_template")
    if template is None:
        return _editor(active, name, rule_to_toml(item))
    if template not in shipped_templates():
        abort(404, description=f"There is no shipped template {template}.")
    text = rule_to_toml(with_template_copied(item, copied_body(template)))
    return _editor(active, name, text, copied=template)


@bp.post("/outreach/edit")
def outreach_edit_post():
    active = _active()
    name = request.form.get("rule") or None
    text = request.form.get("text", "")
    try:
        candidate = candidate_table(text, _current(active), name)
    except ConditionError as exc:
        return _editor(active, name, text, error=str(exc)), 422
    if request.form.get("action") == "save":
        refused = _refused(candidate, name)
        if refused:
            return _editor(active, name, text, error=refused), 422
        return _save(active, name, text, candidate)
    return _editor(active, name, text, previews=_previews(active, candidate, name))


@bp.post("/outreach/rules/<name>/enabled")
def outreach_enabled(name: str):
    active = _active()
    if active.rules.rule(name) is None:
        abort(404, description=f"There is no outreach rule {name}.")
    enabled = request.form.get("enabled") == "1"
    if request.form.get("base_version", type=int) != _base_version():
        flash("The rules changed since you opened this page; check them and try again.", "error")
        return redirect(url_for("admin.outreach"))
    try:
        table = with_enabled(_current(active), name, enabled)
        saved = save_rules(
            db(),
            table,
            created_by=g.admin_name,
            note=f"{'enabled' if enabled else 'disabled'} {name}",
            now=now_epoch(),
        )
    except ConditionError as exc:
        flash(f"Nothing was saved: {exc}", "error")
        return redirect(url_for("admin.outreach"))
    flash(
        f"Saved version {saved.version}: {name} is {'enabled' if enabled else 'disabled'}."
        + (" The worker runs it on its schedule." if enabled else "")
    )
    return redirect(url_for("admin.outreach"))


@bp.post("/outreach/rules/<name>/run")
def outreach_run(name: str):
    rule = _active().rules.rule(name)
    if rule is None:
        abort(404, description=f"There is no outreach rule {name}.")
    if not rule.enabled:
        flash(f"{name} is disabled: enable it first (Preview shows what it would send).", "error")
        return redirect(url_for("admin.outreach"))
    start_in_thread(run_quietly, state().config, name, name="journeydesk-outreach-run")
    flash(
        f"Running {name} now: its messages appear below as they are claimed and sent "
        "(reload to follow)."
    )
    return redirect(url_for("admin.outreach_outbox", rule=name))


@bp.get("/outreach/versions/<int:number>")
def outreach_version(number: int):
    active = _active()
    table = _version_table(number)
    latest = latest_rule_set_id(db(), KIND)
    saved = get_rule_set(db(), KIND, number) if number else None
    in_force = (saved.id if saved else None) == latest
    return render_template(
        "admin/outreach_version.html",
        number=number,
        saved=saved,
        base_origin=config_origin(state().config),
        in_force=in_force,
        text=table_to_toml(table),
        changes=(
            text_diff(table_to_toml(_version_table(number - 1)), table_to_toml(table))
            if number
            else None
        ),
        active=active,
        base_version=_base_version(),
    )


@bp.post("/outreach/versions/<int:number>/restore")
def outreach_restore(number: int):
    _version_table(number)  # 404 for a version that does not exist
    if request.form.get("base_version", type=int) != _base_version():
        flash("The rules changed since you opened this page; check again.", "error")
        return redirect(url_for("admin.outreach_version", number=number))
    saved = restore_version(db(), state().config, number, created_by=g.admin_name, now=now_epoch())
    flash(f"Saved version {saved.version}: {saved.note}.")
    return redirect(url_for("admin.outreach"))


@bp.get("/outreach/templates")
def outreach_templates():
    active = _active()
    return render_template(
        "admin/outreach_templates.html",
        active=active,
        templates=template_catalogue(active.rules),
        rules=[r.name for r in active.rules.rules],
    )


# --------------------------------------------------------------------------- outbox


@bp.get("/outreach/outbox")
def outreach_outbox():
    status = request.args.get("status") or None
    rule = request.args.get("rule") or None
    if status is not None and status not in STATUSES:
        status = None
    return render_template(
        "admin/outreach_outbox.html",
        messages=list_messages(db(), status=status, rule=rule, limit=OUTBOX_PAGE),
        counts=status_counts(db(), rule=rule),
        status=status,
        rule=rule,
        statuses=STATUSES,
        rules=[r.name for r in _active().rules.rules],
        page_size=OUTBOX_PAGE,
    )


@bp.get("/outreach/outbox/<int:message_id>")
def outreach_message(message_id: int):
    message = get_message(db(), message_id)
    if message is None:
        abort(404, description=f"There is no outbox message {message_id}.")
    return render_template(
        "admin/outreach_message.html",
        message=message,
        reasons=render_reasons([reason_from_dict(r) for r in message["reasons"]]),
        customer=get_customer(db(), message["customer_id"]) or {},
    )


@bp.post("/outreach/outbox/<int:message_id>/requeue")
def outreach_requeue(message_id: int):
    return _decide_message(message_id, "requeue")


@bp.post("/outreach/outbox/<int:message_id>/discard")
def outreach_discard(message_id: int):
    return _decide_message(message_id, "discard")


def _decide_message(message_id: int, action: str):
    if get_message(db(), message_id) is None:
        abort(404, description=f"There is no outbox message {message_id}.")
    if action == "requeue":
        done = requeue_message(db(), message_id, now=now_epoch())
        text = f"Message #{message_id} is queued again: the next delivery (every minute) sends it."
    else:
        done = discard_message(db(), message_id, now=now_epoch())
        text = f"Message #{message_id} is discarded: it will not be sent."
    if not done:
        text = f"Message #{message_id} is not uncertain or failed any more; nothing changed."
    flash(text, None if done else "error")
    back = request.form.get("back") or ""
    if back.startswith("/admin/outreach/"):
        return redirect(back)
    return redirect(url_for("admin.outreach_message", message_id=message_id))


# --------------------------------------------------------------------------- why


@bp.get("/outreach/why")
def outreach_why():
    active = _active()
    query = request.args.get("customer", "").strip()
    name = request.args.get("rule", "")
    rule = active.rules.rule(name)
    answer, problem, customer_id = None, None, None
    if query:
        customer_id = find_customer(query)
        if customer_id is None:
            problem = f"Nobody found for “{query}”. Search by the exact email or the customer id."
        elif rule is None:
            problem = "Choose a rule."
        else:
            merged = (get_customer(db(), customer_id) or {}).get("merged_into")
            customer_id = merged or customer_id
            answer = explain(db(), state().config, active, rule, customer_id, now=now_epoch())
    return render_template(
        "admin/outreach_why.html",
        active=active,
        query=query,
        rule=rule,
        rule_name=name,
        problem=problem,
        answer=answer,
        verdicts=VERDICTS,
        profile=get_customer(db(), customer_id) if customer_id else None,
        reasons=render_reasons(answer.matched) if answer else [],
    )


# --------------------------------------------------------------------------- helpers


def _active() -> ActiveRules:
    return load_active_rules(db(), state().config)


def _base_version() -> int:
    """The newest saved version's id (0: none): a form carries it to detect a save meanwhile."""
    return latest_rule_set_id(db(), KIND) or 0


def _current(active: ActiveRules) -> dict[str, Any]:
    """The `[outreach]` table in force, rules spelled out."""
    if active.version is not None:
        return full_definitions(active.version.definitions)
    return full_definitions(state().config.outreach)


def _version_table(number: int) -> dict[str, Any]:
    if number == 0:
        return full_definitions(state().config.outreach)
    saved = get_rule_set(db(), KIND, number)
    if saved is None:
        abort(404, description=f"There is no version {number} of the outreach rules.")
    return full_definitions(saved.definitions)


def _editor(
    active: ActiveRules,
    name: str | None,
    text: str,
    *,
    error: str | None = None,
    previews: list[dict[str, Any]] | None = None,
    copied: str | None = None,
) -> str:
    rule = active.rules.rule(name) if name else None
    copied = copied or request.form.get("copied") or None
    return render_template(
        "admin/outreach_edit.html",
        active=active,
        name=name,
        rule=rule,
        text=text,
        error=error,
        previews=previews,
        copied=copied,
        note=request.form.get("note") or (f"own copy of the template {copied}" if copied else ""),
        base_version=_base_version(),
        skip_reasons=SKIP_REASONS,
    )


def _save(active: ActiveRules, name: str | None, text: str, candidate: dict[str, Any]):
    if request.form.get("base_version", type=int) != _base_version():
        who = f" by {active.version.created_by}" if active.version else ""
        message = (
            f"The rules changed since you opened this editor (now {active.describe()}{who}). "
            "Preview again to see your change against them, then save."
        )
        return _editor(active, name, text, error=message), 409
    if candidate == _current(active):
        message = "Nothing to save: this text is what is in force already."
        return _editor(active, name, text, error=message), 422
    note = request.form.get("note", "").strip()[:200] or (f"edited {name}" if name else "")
    saved = save_rules(db(), candidate, created_by=g.admin_name, note=note, now=now_epoch())
    flash(f"Saved version {saved.version}.")
    return redirect(url_for("admin.outreach"))


def _refused(candidate: dict[str, Any], name: str | None) -> str | None:
    rules = load_rules(candidate, file=EDITOR)
    return template_refusal(db(), state().config, rules, [name] if name else None, now=now_epoch())


def _previews(
    active: ActiveRules, candidate: dict[str, Any], name: str | None
) -> list[dict[str, Any]]:
    """What each rule edited (one, or all of them) would do now, sending nothing."""
    rules = load_rules(candidate, file=EDITOR)
    names = [name] if name else None
    plans = trial_plans(db(), state().config, active, rules, names, now=now_epoch())
    return [_preview(plan, detailed=name is not None) for plan in plans]


def _preview(plan: RulePlan, *, detailed: bool) -> dict[str, Any]:
    receiving = plan.receiving
    sample = _sample([p for p in receiving if p.rendered or p.error], SAMPLE_SIZE)
    examples: dict[str, Any] = {}
    for planned in sample:
        if planned.rendered and planned.rendered.language not in examples:
            examples[planned.rendered.language] = planned
    return {
        "plan": plan,
        "rule": plan.rule,
        "receiving": len(receiving),
        "deferred": plan.deferred,
        "skipped": sorted(plan.skipped().items(), key=lambda kv: -kv[1]),
        "refused": plan.refused[0].error if plan.refused else None,
        "sample": [{"planned": p, "reasons": render_reasons(p.decision.reasons)} for p in sample]
        if detailed
        else [],
        "examples": list(examples.values()) if detailed else [],
    }


def _sample(planned: list, size: int) -> list:
    """Up to `size`, taking each language in turn so the preview shows every one in use."""
    by_language: dict[str, list] = {}
    for p in planned:
        language = p.rendered.language if p.rendered else "?"
        by_language.setdefault(language, []).append(p)
    chosen: list = []
    while len(chosen) < size and any(by_language.values()):
        for queue in by_language.values():
            if queue and len(chosen) < size:
                chosen.append(queue.pop(0))
    return chosen
