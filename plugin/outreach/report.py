"""Outreach plans, runs and the outbox as plain text (the CLI's output)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from plugin.clock import iso
from plugin.journey.conditions import Reason
from plugin.outreach.audience import SKIP_REASONS


def describe_reasons(reasons: Iterable[Reason]) -> str:
    return "; ".join(f"{r.fact} {r.op} {r.expected!r} (is {r.actual!r})" for r in reasons)


def describe_plan(plan, *, limit: int = 10) -> str:
    rule = plan.rule
    state = "enabled" if rule.enabled else "disabled"
    lines = [
        f"{rule.name} ({state}, {rule.channel}, {rule.schedule}): {plan.matched} in the audience, "
        f"{len([p for p in plan.planned if not p.decision.skipped and not p.decision.held_out])}"
        " would receive it "
        f"(period {plan.period})"
    ]
    held_out = len(plan.held_out)
    if held_out:
        lines.append(
            f"  held out {held_out} ({rule.holdout_percent} % control group: recorded, not sent)"
        )
    if plan.without_history:
        lines.append(
            f"  {plan.without_history} of the audience have no reading history synced from "
            "their desk (docs/connectors.md: whose history is read)"
        )
    for key, count in sorted(plan.skipped().items()):
        lines.append(f"  skipped {count}: {SKIP_REASONS[key]}")
    for planned in plan.refused[:3]:
        lines.append(f"  REFUSED: {planned.error}")
    shown = [p for p in plan.planned if not p.decision.skipped][:limit]
    for planned in shown:
        d = planned.decision
        c = d.candidate
        when = f" at {iso(d.send_at)} (after quiet hours)" if d.deferred else ""
        held = " [held out: control group]" if d.held_out else ""
        lines.append(f"- {c.name or '?'} <{c.email or '-'}>{when}{held}")
        lines.append(f"    why: {describe_reasons(d.reasons) or 'everyone matches'}")
        if planned.rendered:
            lines.append(f"    subject [{planned.rendered.language}]: {planned.rendered.subject}")
    return "\n".join(lines)


def describe_run(report) -> str:
    lines = []
    for plan in report.plans:
        if report.dry_run or plan.rule.dry_run:
            lines.append("(dry run) " + describe_plan(plan, limit=5))
        else:
            lines.append(
                f"{plan.rule.name}: {plan.matched} in the audience, "
                f"{report.claimed.get(plan.rule.name, 0)} new messages claimed"
                + (f" ({len(plan.held_out)} of them held out)" if plan.held_out else "")
                + "".join(f", {n} {k}" for k, n in sorted(plan.skipped().items()))
            )
            for planned in plan.refused[:3]:
                lines.append(f"  REFUSED: {planned.error}")
    if not report.plans:
        lines.append("No enabled outreach rule.")
    delivery = report.delivery
    if delivery is not None:
        if delivery.busy:
            lines.append(
                "Another process is still delivering; the next delivery (the worker's, every "
                "minute) sends what was claimed here."
            )
        else:
            lines.append(
                f"Delivered: {delivery.sent} sent, {delivery.retrying} to retry, "
                f"{delivery.failed} failed"
                + (f", {delivery.uncertain} marked uncertain" if delivery.uncertain else "")
            )
        lines += [f"  {error}" for error in delivery.errors[:5]]
    return "\n".join(lines)


def describe_outbox(rows: list[dict[str, Any]], counts: dict[str, int]) -> str:
    lines = [", ".join(f"{status}: {n}" for status, n in sorted(counts.items())) or "empty"]
    for row in rows:
        lines.append(
            f"#{row['id']} {row['status']:<9} {row['rule']} → {row['recipient']} "
            f"[{row['period']}] attempts {row['attempts']}"
            + (f" — {row['error']}" if row["error"] else "")
        )
    return "\n".join(lines)
