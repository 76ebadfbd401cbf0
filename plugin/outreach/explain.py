"""Why did (or didn't) a customer get a rule's message? The answer names what decided it.

In the engine's own order: this period's outbox entry (they have it, or it is on its way);
else the audience (which condition they fail, with their value); else the limits as
`audience.decide` applies them (opt-out, no address, open ticket, cooldown since a date,
the global cap, quiet hours until a time); else they would receive it now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from plugin.config import Config
from plugin.journey.conditions import Condition, Leaf, Reason, evaluate
from plugin.journey.editing import describe_condition
from plugin.journey.reasons import format_value
from plugin.outreach.active_rules import ActiveRules
from plugin.outreach.audience import DAY, SKIP_REASONS, Candidate, decide, period_of
from plugin.outreach.planning import limits_for, load_candidates, render_for
from plugin.outreach.rules import Rule
from plugin.outreach.templates import Rendered, TemplateRefused
from plugin.store.outbox import customer_messages
from plugin.store.suppressions import suppression_of

VERDICTS = {
    "claimed": "has this period's message",
    "not_in_audience": "not in the audience",
    "limit": "left out by a limit",
    "deferred": "would receive it after quiet hours",
    "would_send": "would receive it now",
    "refused": "the template is refused",
    "unknown": "not a current customer",
}
CLAIMED_WORDS = {
    "pending": "is waiting to be sent",
    "sending": "is being sent",
    "sent": "was sent",
    "failed": "failed to send",
    "uncertain": "may or may not have arrived (uncertain: an admin decides)",
    "held_out": "was held out (control group): nothing was sent",
    "discarded": "was discarded by an admin: nothing more will be sent",
}


@dataclass(frozen=True)
class Failed:
    """A condition the customer does not meet, with their value."""

    condition: str
    actual: str
    one_of: bool = False
    """Part of an `any` group none of whose branches matched."""


@dataclass
class Answer:
    verdict: str
    """A key of VERDICTS."""
    headline: str
    details: list[str] = field(default_factory=list)
    matched: tuple[Reason, ...] = ()
    failed: list[Failed] = field(default_factory=list)
    message: dict[str, Any] | None = None
    """The outbox entry that decided it (this period's, or the one the cooldown counts)."""
    rendered: Rendered | None = None
    notes: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    """The customer's recent messages from any rule."""
    customer: Candidate | None = None


def failing(condition: Condition, facts: dict[str, Any], *, one_of: bool = False) -> list[Failed]:
    """The conditions of `condition` that `facts` do not meet (empty when it matches)."""
    if evaluate(condition, facts).matched:
        return []
    if isinstance(condition, Leaf):
        actual = facts.get(condition.fact)
        return [Failed(describe_condition(condition), format_value(actual), one_of)]
    if condition.kind == "all":
        return [f for child in condition.children for f in failing(child, facts, one_of=one_of)]
    if not condition.children:
        return [Failed("an empty any = [] (never matches)", "—", one_of)]
    return [f for child in condition.children for f in failing(child, facts, one_of=True)]


def explain(
    db: Database, config: Config, active: ActiveRules, rule: Rule, customer_id: int, *, now: int
) -> Answer:
    found = load_candidates(db, config, now=now, customer_ids=[customer_id])
    history = customer_messages(db, customer_id, limit=20)
    if not found:
        return Answer("unknown", f"There is no current customer {customer_id}.")
    candidate = found[0]
    answer = _decide(db, config, active, rule, candidate, history, now=now)
    answer.history, answer.customer = history, candidate
    if not rule.enabled:
        answer.notes.append("The rule is disabled: it sends nothing until it is enabled.")
    elif rule.dry_run:
        answer.notes.append("The rule is a dry run (dry_run = true): its runs send nothing.")
    return answer


def _decide(db, config, active, rule, candidate, history, *, now) -> Answer:
    period = period_of(rule, now)
    mine = [m for m in history if m["rule"] == rule.name]
    current = next((m for m in mine if m["period"] == period), None)
    if current is not None:
        what = CLAIMED_WORDS.get(current["status"], current["status"])
        at = current["sent_at"] or current["next_attempt_at"]
        return Answer(
            "claimed",
            f"This period's message (#{current['id']}, period from {period}) {what}.",
            [
                f"{'Sent' if current['sent_at'] else 'Due'} {_when(at)}; nobody gets a rule's "
                "message twice in one period (its cooldown window)."
            ],
            message=current,
        )
    result = evaluate(rule.audience, candidate.facts)
    if not result.matched:
        return Answer(
            "not_in_audience",
            "Not in the audience: they do not meet the rule's conditions.",
            failed=failing(rule.audience, dict(candidate.facts)),
        )
    limits = limits_for(db, rule, active.rules, now=now)
    (decision,) = decide(rule, active.rules, [(candidate, result.reasons)], limits, now=now)
    if decision.skipped:
        answer = Answer("limit", _limit_headline(decision.skipped), matched=result.reasons)
        _limit_details(db, rule, active, candidate, decision.skipped, mine, history, answer, now)
        return answer
    try:
        rendered = render_for(db, config, rule, candidate, now=now)
    except TemplateRefused as exc:
        return Answer(
            "refused",
            "In the audience, but the template is refused: nothing would be sent.",
            [exc.message],
            matched=result.reasons,
        )
    if decision.deferred:
        zone = candidate.time_zone or active.rules.timezone
        return Answer(
            "deferred",
            f"Would receive it at {_when(decision.send_at)}: quiet hours in {zone} until then.",
            ["Quiet hours defer a message, they never drop it."],
            matched=result.reasons,
            rendered=rendered,
        )
    return Answer(
        "would_send",
        "Would receive it now: in the audience, and no limit stops it.",
        matched=result.reasons,
        rendered=rendered,
    )


def _limit_headline(key: str) -> str:
    return f"In the audience, but left out: {SKIP_REASONS[key]}."


def _limit_details(db, rule, active, candidate, key, mine, history, answer: Answer, now) -> None:
    if key == "suppressed":
        opt_out = suppression_of(db, candidate.email) or {}
        answer.headline = (
            f"In the audience, but {candidate.email} opted out of proactive messages"
            + (f" on {_when(opt_out['created_at'])}." if opt_out else ".")
        )
    elif key == "open_ticket":
        count = candidate.facts.get("open_tickets") or 0
        answer.details.append(
            f"They have {count} unsolved ticket{'s' if count != 1 else ''}; the rule has "
            "skip_if_open_ticket = true."
        )
    elif key == "cooldown":
        since = now - rule.cooldown_days * DAY
        last = next((m for m in mine if _at(m) >= since and _live(m)), None)
        if last:
            answer.message = last
            answer.headline = (
                f"In the audience, but the rule wrote to them on {_when(_at(last))} "
                f"(#{last['id']}): its cooldown of {rule.cooldown_days} days lasts until "
                f"{_when(_at(last) + rule.cooldown_days * DAY)}."
            )
    elif key == "global_cap":
        cap = active.rules.global_cap
        recent = [m for m in history if _live(m) and _at(m) >= now - cap.days * DAY]
        answer.headline = (
            f"In the audience, but the global cap is reached: {len(recent)} message"
            f"{'s' if len(recent) != 1 else ''} in the last {cap.days} days (at most "
            f"{cap.messages} per customer across rules)."
        )
        answer.details += [f"#{m['id']} {m['rule']}, {_when(_at(m))}" for m in recent]
        if recent:
            first = min(_at(m) for m in recent)
            answer.details.append(f"The cap frees up on {_when(first + cap.days * DAY)}.")
    elif key == "alerted":
        last = next((m for m in mine if m["status"] != "refused"), None)
        if last:
            answer.message = last
            answer.headline = (
                f"In the audience, but the team was alerted on {_when(_at(last))} "
                f"(#{last['id']}) for the same reason, and it still holds."
            )
        answer.details.append(
            "An internal alert is sent once per customer while the reason holds: again only "
            "after a run finds them outside the audience, or when other conditions match."
        )
    elif key == "no_address":
        answer.details.append("The customer has no email address in the desk.")
    elif key == "no_desk_user":
        answer.details.append("No help desk that sends outbound messages knows this customer.")


def _at(message: dict[str, Any]) -> int:
    return message["sent_at"] or message["next_attempt_at"]


def _live(message: dict[str, Any]) -> bool:
    return message["status"] in ("pending", "sending", "sent", "uncertain")


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
