"""GET /admin/: customers per stage and signal, recent stage changes, the model in force,
the SLA rules in force and their pushes, the last syncs."""

from __future__ import annotations

from flask import render_template

from plugin.clock import now_epoch
from plugin.intake.sync_runs import last_runs
from plugin.journey.active_model import load_active_model, stale_customers
from plugin.journey.model import journey_position
from plugin.journey.versions import in_force
from plugin.sla.active_rules import SLA
from plugin.store.customers import count_customers
from plugin.store.journeys import (
    TransitionCount,
    signal_counts,
    stage_counts,
    transition_counts,
)
from plugin.store.sla_decisions import count_decisions
from plugin.store.sla_pushes import push_counts
from plugin.store.tickets import count_tickets
from plugin.web.admin import bp
from plugin.web.context import db, state

TRANSITION_DAYS = 30
TRANSITIONS_SHOWN = 12


@bp.get("/")
def dashboard():
    active = load_active_model(db(), state().config)
    stages = sorted(active.model.stages, key=lambda d: journey_position(d.key))
    return render_template(
        "admin/dashboard.html",
        active=active,
        stages=stages,
        stage_counts=stage_counts(db()),
        signal_counts=signal_counts(db()),
        customers=count_customers(db()),
        tickets=count_tickets(db()),
        stale=stale_customers(db(), active),
        syncs=last_runs(db()),
        transitions=recent_transition_counts(),
        transition_days=TRANSITION_DAYS,
        sla=in_force(db(), state().config, SLA),
        sla_decisions=count_decisions(db()),
        sla_pushes=push_counts(db()),
    )


def recent_transition_counts() -> list[TransitionCount]:
    now = now_epoch()
    # No upper bound in practice: a recompute right after a save dates its moves a second
    # past the save, which may be after this request began.
    counts = transition_counts(db(), since=now - TRANSITION_DAYS * 86_400, until=now + 86_400)
    return counts[:TRANSITIONS_SHOWN]
