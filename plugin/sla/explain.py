"""A stored SLA decision in words: "priority raised to urgent: stage is purchase, renewal in
12 days" — what the admin's list of decisions shows (and what an agent can read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugin.journey.model import reason_from_dict
from plugin.journey.reasons import render_reasons
from plugin.sla.rules import PRIORITIES


def priority_change(before: str | None, after: str | None) -> str:
    """ "priority raised to urgent", "lowered to low", "kept at high", "set to normal"."""
    if after is None or after == before:
        return f"priority kept at {before}" if before else "priority left unset"
    if before not in PRIORITIES or after not in PRIORITIES:
        return f"priority set to {after}"
    raised = PRIORITIES.index(after) > PRIORITIES.index(before)
    return f"priority {'raised' if raised else 'lowered'} to {after}"


def decision_reasons(decision: Mapping[str, Any]) -> list[str]:
    """The reasons a stored decision keeps, as phrases."""
    return render_reasons([reason_from_dict(r) for r in decision.get("reasons") or []])


def decision_summary(decision: Mapping[str, Any]) -> str:
    """One line: what changed, then why (a decision row of `store/sla_decisions.py`)."""
    if decision.get("rule") is None:
        return "no rule matched: the desk's priority stays"
    changes = [priority_change(decision.get("priority_before"), decision.get("priority_after"))]
    tags = decision.get("tags_added") or []
    if tags:
        changes.append("tagged " + ", ".join(tags))
    reasons = decision_reasons(decision)
    why = ", ".join(reasons) if reasons else "the rule matches every ticket"
    return f"{'; '.join(changes)}: {why}"
