"""Stages & signals: the definitions with their customers, the editor and its preview,
versions and restore. Thin: parse the form, call plugin.journey.active_model, render."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from plugin.background.jobs import recompute_saved_model
from plugin.clock import now_epoch
from plugin.journey.active_model import (
    KIND,
    ActiveModel,
    config_model,
    config_origin,
    load_active_model,
    preview_change,
    restore_version,
    save_model,
    stale_customers,
    version_model,
)
from plugin.journey.conditions import ConditionError
from plugin.journey.editing import (
    EDITOR,
    KIND_WORDS,
    KINDS,
    Scope,
    candidate_definitions,
    definition_to_toml,
    definitions_of,
    fact_catalogue,
    find_definition,
    model_to_toml,
)
from plugin.journey.model import JourneyModel, load_model
from plugin.journey.preview import Preview
from plugin.store.customers import count_customers, get_customer
from plugin.store.journeys import signal_counts, stage_counts
from plugin.store.rule_sets import RuleSet, get_rule_set, list_rule_sets
from plugin.web.admin import bp
from plugin.web.admin.formatting import DiffLine, text_diff
from plugin.web.context import db, state


@bp.get("/journey")
def journey():
    config = state().config
    active = load_active_model(db(), config)
    return render_template(
        "admin/journey.html",
        active=active,
        stage_counts=stage_counts(db()),
        signal_counts=signal_counts(db()),
        customers=count_customers(db()),
        stale=stale_customers(db(), active),
        versions=list_rule_sets(db(), KIND),
        base_origin=config_origin(config),
        facts=fact_catalogue(),
    )


@bp.get("/journey/edit")
def edit():
    active = load_active_model(db(), state().config)
    scope = _scope(request.args)
    definitions = definitions_of(active.model)
    if scope.whole_model:
        return _editor(active, scope, model_to_toml(definitions))
    found = find_definition(definitions, scope.kind or "", scope.key or "")
    if found is None:
        abort(404, description=f"There is no {KIND_WORDS[scope.kind or 'stages']} {scope.key}.")
    return _editor(active, scope, definition_to_toml(scope.kind or "", found[1]))


@bp.post("/journey/edit")
def edit_post():
    active = load_active_model(db(), state().config)
    scope = _scope(request.form)
    text = request.form.get("text", "")
    try:
        candidate = candidate_definitions(text, scope, definitions_of(active.model))
    except ConditionError as exc:
        return _editor(active, scope, text, error=str(exc)), 422
    if request.form.get("action") == "save":
        return _save(active, scope, text, candidate)
    after = load_model(candidate, file=EDITOR)
    preview = preview_change(db(), active.model, after, now=now_epoch())
    return _editor(active, scope, text, preview=preview, after=after)


@bp.get("/journey/versions/<int:number>")
def version(number: int):
    active = load_active_model(db(), state().config)
    saved, model = _version(number)
    in_force = (active.version.version if active.version else 0) == number
    preview = None if in_force else preview_change(db(), active.model, model, now=now_epoch())
    return render_template(
        "admin/version.html",
        version_number=number,
        saved=saved,
        base_origin=config_origin(state().config),
        in_force=in_force,
        text=model_to_toml(definitions_of(model)),
        changes=_changes_from_previous(number, model),
        active=active,
        preview=preview,
        after=model,
        people=_people(preview),
    )


@bp.post("/journey/versions/<int:number>/restore")
def restore(number: int):
    config = state().config
    active = load_active_model(db(), config)
    _version(number)  # 404 for a version that does not exist
    if request.form.get("base_version", type=int) != (active.latest_id or 0):
        flash("The model changed since you opened this page; check the preview again.", "error")
        return redirect(url_for("admin.version", number=number))
    saved = restore_version(db(), config, number, created_by=g.admin_name, now=now_epoch())
    _put_in_force(saved)
    return redirect(url_for("admin.journey"))


# --------------------------------------------------------------------------- helpers


def _scope(values: Mapping[str, str]) -> Scope:
    kind = values.get("kind", "")
    if kind == "model":
        return Scope()
    if kind not in KINDS or not values.get("key"):
        abort(404, description="Choose a stage or signal to edit from Stages & signals.")
    return Scope(kind, values["key"])


def _editor(
    active: ActiveModel,
    scope: Scope,
    text: str,
    *,
    error: str | None = None,
    preview: Preview | None = None,
    after: JourneyModel | None = None,
) -> str:
    return render_template(
        "admin/edit.html",
        active=active,
        scope=scope,
        text=text,
        error=error,
        preview=preview,
        after=after,
        people=_people(preview),
        note=request.form.get("note", ""),
        kind_word=KIND_WORDS.get(scope.kind or "", "model"),
    )


def _save(active: ActiveModel, scope: Scope, text: str, candidate: dict[str, Any]):
    if request.form.get("base_version", type=int) != (active.latest_id or 0):
        latest = active.version
        who = f" by {latest.created_by}" if latest else ""
        message = (
            f"The model changed since you opened this editor (now {active.describe()}{who}). "
            "Preview again to see your change against it, then save."
        )
        return _editor(active, scope, text, error=message), 409
    if candidate == definitions_of(active.model):
        message = "Nothing to save: this text is the model in force already."
        return _editor(active, scope, text, error=message), 422
    note = request.form.get("note", "").strip()[:200]
    saved = save_model(db(), candidate, created_by=g.admin_name, note=note, now=now_epoch())
    _put_in_force(saved)
    return redirect(url_for("admin.journey"))


def _put_in_force(saved: RuleSet) -> None:
    """Use `saved` in this process now and recompute every customer with it."""
    app_state = state()
    app_state.model, app_state.model_version = version_model(saved), saved.id
    done = recompute_saved_model(app_state.config, db())
    if done.report is not None:
        flash(
            f"Saved version {saved.version}: {done.report.customers:,} customers recomputed, "
            f"{done.report.moved:,} changed stage."
        )
        return
    flash(
        f"Saved version {saved.version}. Recomputing {done.customers:,} customers in the "
        "background; the counts below follow as it goes."
    )


def _version(number: int) -> tuple[RuleSet | None, JourneyModel]:
    """A saved version and its model; 0 is the config file's model (or the default)."""
    if number == 0:
        return None, config_model(state().config)
    saved = get_rule_set(db(), KIND, number)
    if saved is None:
        abort(404, description=f"There is no version {number} of the journey model.")
    try:
        return saved, version_model(saved)
    except ConditionError as exc:
        abort(409, description=f"Version {number} cannot be used by this release: {exc}")


def _changes_from_previous(number: int, model: JourneyModel) -> list[DiffLine] | None:
    """What version `number` changed from the one before it (None for version 0)."""
    if number == 0:
        return None
    _, before = _version(number - 1)
    return text_diff(model_to_toml(definitions_of(before)), model_to_toml(definitions_of(model)))


def _people(preview: Preview | None) -> dict[int, dict[str, Any]]:
    """Name and email of the customers in a preview's sample."""
    if preview is None:
        return {}
    return {c.customer_id: get_customer(db(), c.customer_id) or {} for c in preview.sample}
