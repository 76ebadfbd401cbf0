"""A rules file's import as plain text (the CLI's output): per kind, whether it changes and
what the admin's preview of the change shows."""

from __future__ import annotations

from plugin.journey.editing import describe_condition
from plugin.journey.preview import CountRow, Preview
from plugin.journey.reasons import render_reasons
from plugin.outreach.audience import SKIP_REASONS
from plugin.outreach.planning import RulePlan
from plugin.rules_files import SPECS, ImportSaved, KindImport, RulesImport, describe_in_force
from plugin.sla.report import describe_what_if
from plugin.sla.rules import SlaRule

SAMPLE_LINES = 8


def describe_import(plan: RulesImport) -> str:
    changed = len(plan.changed)
    lines = [
        f"{plan.path}: {_count(len(plan.kinds), 'kind')} of rules, "
        + (f"{changed} to save as new versions." if changed else "none of them changes.")
    ]
    for item in plan.kinds:
        lines += ["", *_describe_kind(item, plan.path)]
    return "\n".join(lines)


def _describe_kind(item: KindImport, path: str) -> list[str]:
    label = item.spec.label
    in_force = describe_in_force(item.kind, item.current)
    if item.unchanged:
        return [f"{label}: unchanged (in force: {in_force}); not saved again."]
    lines = [f"{label}: changed (in force: {in_force})."]
    changes = [(name, what) for name, what in item.rule_changes() if what != "unchanged"]
    for name, what in changes:
        lines.append(f"  {what:<9} {name}")
        if item.kind == "sla" and what in ("new", "changed"):
            lines.append(f"            {describe_sla_rule(item.value.rule(name))}")
    if item.journey_preview is not None:
        lines += _journey_preview(item.journey_preview, item.people)
    for rule_plan in item.outreach_plans:
        lines += _outreach_plan(rule_plan)
    if item.sla_what_if is not None:
        rules_now = _count(len(item.current.value.rules), "rule")
        before = f"the rules in force ({rules_now}, version {item.current.version_number})"
        after = f"{path} ({_count(len(item.value.rules), 'rule')})"
        lines += ["", describe_what_if(item.sla_what_if, before=before, after=after).rstrip()]
    return lines


def describe_sla_rule(rule: SlaRule) -> str:
    """The rule in words: `urgent, +journey_purchase, first response 60 min when …`."""
    does = [rule.priority] if rule.priority else []
    does += [f"+{tag}" for tag in rule.add_tags]
    targets = rule.targets
    if targets.first_response_minutes:
        does.append(f"first response {targets.first_response_minutes} min")
    if targets.resolution_minutes:
        does.append(f"resolution {targets.resolution_minutes} min")
    return f"{', '.join(does)} when {describe_condition(rule.when)}"


def _journey_preview(preview: Preview, people: dict[int, dict]) -> list[str]:
    if preview.changed:
        summary = f"{preview.moved:,} would change stage"
        if preview.signal_changes:
            summary += f", {preview.signal_changes:,} more would gain or lose a signal"
    else:
        summary = "nobody would change stage or signals"
    lines = [f"  Preview on today's {preview.customers:,} customers: {summary}."]
    lines += _count_table("stage", preview.stages)
    lines += _count_table("signal", preview.signals)
    if preview.sample:
        shown = preview.sample[:SAMPLE_LINES]
        lines.append(f"  Who would change ({len(shown)} of {preview.changed:,}):")
        for change in shown:
            person = people.get(change.customer_id, {})
            who = person.get("name") or f"customer #{change.customer_id}"
            if person.get("email"):
                who += f" <{person['email']}>"
            if change.moves:
                what = f"{change.before.stage.key} → {change.after.stage.key}"
                why = render_reasons(change.after.stage.reasons)
                why = why or ["none of the stages above it matched"]
            else:
                what = f"stays {change.after.stage.key}"
                why = []
            what += "".join(f", +{key}" for key in change.gained)
            what += "".join(f", −{key}" for key in change.lost)
            lines.append(f"    {who}: {what}" + (f" ({'; '.join(why)})" if why else ""))
    return lines


def _count_table(word: str, rows: tuple[CountRow, ...]) -> list[str]:
    width = max([len(word), *(len(row.label) for row in rows)])
    lines = [f"    {word:<{width}}  {'now':>7}  {'after':>7}  change"]
    for row in rows:
        change = f"{row.change:+,}" if row.change else "—"
        lines.append(f"    {row.label:<{width}}  {row.before:>7,}  {row.after:>7,}  {change}")
    return lines


def _outreach_plan(plan: RulePlan) -> list[str]:
    state = "" if plan.rule.enabled else " (disabled: runs only once enabled)"
    text = (
        f"  {plan.rule.name}{state}: {plan.matched:,} in the audience now, "
        f"{len(plan.receiving):,} would receive it"
    )
    if plan.deferred:
        text += f" ({plan.deferred:,} after quiet hours)"
    lines = [text + "."]
    for key, count in plan.skipped().most_common():
        lines.append(f"    skipped {count:,}: {SKIP_REASONS.get(key, key)}")
    return lines


def describe_saved(saved: ImportSaved) -> str:
    lines = [f"Saved {SPECS[v.kind].label} version {v.version} ({v.note})." for v in saved.versions]
    if saved.recompute is not None and saved.recompute.report is not None:
        report = saved.recompute.report
        lines.append(
            f"Recomputed {report.customers:,} customers with the new journey model: "
            f"{report.moved:,} changed stage."
        )
    return "\n".join(lines)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
