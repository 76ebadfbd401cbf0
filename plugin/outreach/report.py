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
    if plan.desk_without_history is not None:
        lines.append(
            f"  no reading history synced: {plan.without_history} of this audience (their "
            f"reading facts may be missing), {plan.desk_without_history} of the desk's users "
            "(they cannot enter an audience that tests reading; docs/connectors.md: whose "
            "history is read)"
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


TIMELINE_LIMITS = {**SKIP_REASONS, "quiet_hours": "deferred to the end of quiet hours"}


def describe_timeline(timeline, *, limit: int = 50) -> str:
    """The dry-run timeline: the days with their counts, then the first entries."""
    first, last = timeline.start, timeline.end
    lines = [
        f"Dry-run timeline of {', '.join(timeline.rules) or 'no enabled rule'}, "
        f"{iso(first)} to {iso(last)} (days in {timeline.timezone}); nothing is sent.",
        "Audiences are today's: the timeline does not predict how customers' facts change.",
    ]
    if set(timeline.simulated) - set(timeline.rules):
        others = ", ".join(sorted(set(timeline.simulated) - set(timeline.rules)))
        lines.append(f"Simulated with the enabled rules it shares the global cap with: {others}.")
    for name, size in timeline.audiences.items():
        runs = sum(1 for _, rule in timeline.runs if rule == name)
        lines.append(f"  {name}: {size} in the audience today, {runs} runs")
    lines.append("day         messages  held out  limits")
    for day in timeline.day_rows:
        limits = ", ".join(f"{key} {n}" for key, n in sorted(day.limits.items()))
        lines.append(f"{day.date}  {day.messages:>8}  {day.held_out:>8}  {limits}")
    totals = timeline.totals()
    lines.append(
        f"Total: {totals['messages']} messages, {totals['held_out']} held out"
        + "".join(
            f"; {n} {TIMELINE_LIMITS[key]}"
            for key, n in sorted(totals.items())
            if key not in ("messages", "held_out")
        )
    )
    for entry in timeline.entries[:limit]:
        c = entry.candidate
        when = iso(entry.at) + (" (after quiet hours)" if entry.deferred else "")
        held = " [held out: control group, not sent]" if entry.held_out else ""
        lines.append(f"- {when} {entry.rule} → {c.name or '?'} <{c.email or '-'}>{held}")
        if entry.subject is not None:
            lines.append(f"    subject [{entry.language}]: {entry.subject}")
        if entry.refused:
            lines.append(f"    REFUSED: {entry.refused}")
        lines.append(f"    why: {describe_reasons(entry.reasons) or 'everyone matches'}")
    if len(timeline.entries) > limit:
        lines.append(f"... and {len(timeline.entries) - limit} more (--limit)")
    return "\n".join(lines)
