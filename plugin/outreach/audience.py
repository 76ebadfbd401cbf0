"""Who a rule writes to, and when: the audience (the journey's condition engine, with its
reasons), then the limits, in order: opt-out, no address, an open ticket, the rule's
cooldown, a webhook alert that still stands for the same reason, the global cap across
rules, and quiet hours (which defer, never drop).

Pure: candidates, the recent outbox and the suppression list in; decisions out.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plugin.journey.conditions import Reason, evaluate
from plugin.outreach.rules import OutreachRules, QuietHours, Rule

DAY = 86_400

SKIP_REASONS = {
    "suppressed": "opted out of proactive messages",
    "no_address": "no email address to write to",
    "no_desk_user": "not a user of a help desk that can send outbound messages",
    "open_ticket": "has an unsolved ticket (the rule skips those)",
    "cooldown": "the rule wrote to them within its cooldown",
    "global_cap": "reached the global cap of messages across rules",
    "claimed": "already has this rule's message for this period",
    "alerted": "the team was alerted already and the same reason still holds",
}


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    name: str | None
    email: str | None
    locale: str | None
    time_zone: str | None
    stage: str | None
    signals: tuple[str, ...]
    facts: Mapping[str, Any]
    """Catalogue facts plus `stage` and `signal:<key>` (what audiences test)."""
    desk_user: str | None = None
    """`<source>:<user id>` when a desk that sends outbound messages knows them."""


@dataclass(frozen=True)
class Decision:
    candidate: Candidate
    reasons: tuple[Reason, ...]
    send_at: int | None
    """When to send (now, or the end of quiet hours); None when skipped."""
    skipped: str | None = None
    """A key of SKIP_REASONS when the limits stop this message."""
    deferred: bool = False
    held_out: bool = False
    """In the rule's control group: claimed (it counts for the period and the cooldown),
    recorded as `held_out`, never sent."""
    notes: list[str] = field(default_factory=list)

    @property
    def why(self) -> str:
        return SKIP_REASONS.get(self.skipped or "", "")


def candidate_facts(
    facts: Mapping[str, Any], stage: str | None, signals: Iterable[str]
) -> dict[str, Any]:
    """The facts an audience tests: the catalogue's, the stored stage and its signals."""
    merged = dict(facts)
    merged["stage"] = stage
    for key in signals:
        merged[f"signal:{key}"] = True
    return merged


def matching(rule: Rule, candidates: Iterable[Candidate]) -> list[tuple[Candidate, tuple]]:
    """The candidates in the rule's audience, each with the reasons it matched."""
    found = []
    for candidate in candidates:
        result = evaluate(rule.audience, candidate.facts)
        if result.matched:
            found.append((candidate, result.reasons))
    return found


def in_holdout(rule: Rule, customer_id: int) -> bool:
    """Whether the customer is in the rule's control group: a hash of the rule's name and
    the customer id, so the same people are held out on every run (not drawn anew)."""
    if rule.holdout_percent <= 0:
        return False
    digest = hashlib.sha256(f"{rule.name}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < rule.holdout_percent * 100


def period_of(rule: Rule, now: int) -> str:
    """The outbox period key: the first day of the cooldown window `now` falls in, so a
    rule that runs again within it claims nothing new."""
    days = max(rule.cooldown_days, 1)
    day = now // DAY
    return (date(1970, 1, 1) + timedelta(days=day - day % days)).isoformat()


@dataclass(frozen=True)
class Limits:
    suppressed: frozenset[str]
    recent: tuple[Mapping[str, Any], ...]
    """Live outbox messages (rule, customer_id, status, at) recent enough to matter; a
    `held_out` one counts for its rule's cooldown, not for the global cap."""
    claimed: frozenset[int]
    """Customers already holding this rule's message for this period."""
    alerted: Mapping[int, frozenset] = field(default_factory=dict)
    """Webhook rules: the customers whose latest alert still stands (no run found them
    outside the audience since), with `reason_keys` of that alert's reasons."""


def reason_keys(reasons: Iterable[Any]) -> frozenset:
    """What makes two alerts "the same reason": the conditions matched (fact, operator,
    expected value) — not the customer's values, which move while the reason holds (one
    more day to renewal, a second open ticket). Reasons as `Reason`s or stored dicts."""
    keys = set()
    for r in reasons:
        fact, op, expected = (
            (r["fact"], r["op"], r["expected"])
            if isinstance(r, Mapping)
            else (r.fact, r.op, r.expected)
        )
        keys.add((fact, op, json.dumps(expected, sort_keys=True, default=str)))
    return frozenset(keys)


def decide(
    rule: Rule,
    settings: OutreachRules,
    matched: Iterable[tuple[Candidate, tuple]],
    limits: Limits,
    *,
    now: int,
) -> list[Decision]:
    """Apply the limits to the matched audience, in order; the first that applies decides."""
    cooldown_from = now - rule.cooldown_days * DAY
    cap = settings.global_cap
    cap_from = now - cap.days * DAY if cap else now
    cooled: set[int] = set()
    per_customer: Counter[int] = Counter()
    for message in limits.recent:
        cid = message["customer_id"]
        if message["rule"] == rule.name and message["at"] >= cooldown_from:
            cooled.add(cid)
        if cap and message["at"] >= cap_from and message.get("status") != "held_out":
            per_customer[cid] += 1
    decisions = []
    for candidate, reasons in matched:
        skipped = _skipped(rule, candidate, limits, cooled)
        if skipped is None and _still_alerted(rule, candidate, reasons, limits):
            skipped = "alerted"
        if skipped is None and cap and per_customer[candidate.customer_id] >= cap.messages:
            skipped = "global_cap"
        if skipped:
            decisions.append(Decision(candidate, reasons, None, skipped))
            continue
        at = quiet_until(settings.quiet_hours, candidate.time_zone or settings.timezone, now)
        held_out = in_holdout(rule, candidate.customer_id)
        decisions.append(
            Decision(candidate, reasons, at or now, deferred=at is not None, held_out=held_out)
        )
        if not held_out:  # the cap counts this rule's message too (a held-out one is not sent)
            per_customer[candidate.customer_id] += 1
    return decisions


def _skipped(rule: Rule, candidate: Candidate, limits: Limits, cooled: set[int]) -> str | None:
    if candidate.customer_id in limits.claimed:
        return "claimed"
    email = (candidate.email or "").strip().lower()
    if email and email in limits.suppressed:
        return "suppressed"
    if rule.channel == "email" and not email:
        return "no_address"
    if rule.channel == "helpdesk" and not candidate.desk_user:
        return "no_desk_user"
    if rule.skip_if_open_ticket and (candidate.facts.get("open_tickets") or 0) > 0:
        return "open_ticket"
    if candidate.customer_id in cooled:
        return "cooldown"
    return None


def _still_alerted(rule: Rule, candidate: Candidate, reasons: tuple, limits: Limits) -> bool:
    """A webhook rule's alert about this customer stands, for the same reasons."""
    if rule.channel != "webhook":
        return False
    standing = limits.alerted.get(candidate.customer_id)
    return standing is not None and standing == reason_keys(reasons)


def quiet_until(quiet: QuietHours | None, zone_name: str, now: int) -> int | None:
    """The end of the quiet hours `now` falls in (epoch seconds), in `zone_name` (UTC when
    unknown); None when it is not quiet time."""
    if quiet is None:
        return None
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = datetime.fromtimestamp(now, UTC).astimezone(zone)
    minute = local.hour * 60 + local.minute
    if not quiet.contains(minute):
        return None
    end_day = local.date()
    if quiet.start > quiet.end and minute >= quiet.start:
        end_day += timedelta(days=1)
    end = datetime(
        end_day.year, end_day.month, end_day.day, quiet.end // 60, quiet.end % 60, tzinfo=zone
    )
    return int(end.timestamp())
