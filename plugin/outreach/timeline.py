"""The dry-run timeline: who would get what, and when, over the next N days.

Each rule's cron occurrences (APScheduler's CronTrigger in the outreach time zone, as the
worker schedules them), merged in time order; at each one the same limits as a real run
(`audience.decide`: opt-outs, no address, an open ticket, the rule's cooldown, the global
cap across rules, quiet hours in the customer's zone, the control group) against the
messages already in the outbox *and* those the timeline sent earlier. Nothing is written.

Audiences are evaluated once, on today's facts: the timeline does not predict how facts
change (a customer who reads more tomorrow joins an audience tomorrow; it cannot know).

`simulate` is pure (rules, audiences, the outbox and the suppressions in; the timeline
out); `dry_run_timeline` reads those inputs from the store once, simulates, and renders
the subjects of the first entries in each recipient's language.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from plugin.clock import now_epoch
from plugin.config import Config
from plugin.errors import NotFound
from plugin.journey.conditions import Reason
from plugin.outreach.audience import DAY, Candidate, Limits, decide, period_of, reason_keys
from plugin.outreach.rules import OutreachRules, Rule, cron_trigger

DEFAULT_DAYS = 14
MAX_DAYS = 60
RENDERED_ENTRIES = 200
"""Entries whose subject is rendered (the ones a page or the CLI shows first)."""
DEFERRED = "quiet_hours"
"""The limit key of a message pushed to the end of quiet hours (not dropped)."""


@dataclass
class Entry:
    at: int
    """When it would go out (the end of quiet hours when deferred)."""
    run_at: int
    """The rule's cron occurrence that decided it."""
    rule: str
    channel: str
    candidate: Candidate
    reasons: tuple[Reason, ...]
    held_out: bool = False
    language: str = ""
    subject: str | None = None
    """Rendered for the first RENDERED_ENTRIES entries only."""
    refused: str | None = None

    @property
    def deferred(self) -> bool:
        return self.at != self.run_at


@dataclass
class Day:
    date: str
    """The day in the outreach time zone (ISO)."""
    messages: int = 0
    """Messages that would go out that day (held-out ones not counted)."""
    held_out: int = 0
    limits: Counter[str] = field(default_factory=Counter)
    """Per limit (a key of audience.SKIP_REASONS, or "quiet_hours"): how many messages
    the runs of that day dropped (or deferred)."""


@dataclass
class Timeline:
    start: int
    days: int
    timezone: str
    rules: tuple[str, ...]
    """The rules shown (one, or every enabled one)."""
    simulated: tuple[str, ...]
    """The rules run in the simulation (the enabled ones share the global cap)."""
    runs: list[tuple[int, str]]
    """(when, rule) of each cron occurrence of the rules shown."""
    audiences: dict[str, int]
    entries: list[Entry]
    day_rows: list[Day]

    @property
    def end(self) -> int:
        return self.start + self.days * DAY

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for day in self.day_rows:
            total["messages"] += day.messages
            total["held_out"] += day.held_out
            total.update(day.limits)
        return total


def occurrences(rule: Rule, settings: OutreachRules, start: int, end: int) -> list[int]:
    """The rule's cron fire times in [start, end), as the scheduler computes them."""
    trigger = cron_trigger(rule, settings)
    zone = ZoneInfo(settings.timezone)
    moment = datetime.fromtimestamp(start, UTC).astimezone(zone)
    found = []
    fire = trigger.get_next_fire_time(None, moment)
    while fire is not None and fire.timestamp() < end:
        found.append(int(fire.timestamp()))
        fire = trigger.get_next_fire_time(fire, fire)
    return found


def simulate(
    settings: OutreachRules,
    rules: Sequence[Rule],
    audiences: Mapping[str, Sequence[tuple[Candidate, tuple]]],
    outbox: Iterable[Mapping],
    claimed: Mapping[tuple[str, str], Iterable[int]],
    suppressed: frozenset[str],
    *,
    start: int,
    days: int,
    shown: Iterable[str] | None = None,
    alerted: Mapping[str, Mapping[int, frozenset]] | None = None,
) -> Timeline:
    """Run `rules` over the next `days` from `start`, in time order.

    `outbox`: the live and held-out messages (rule, customer_id, status, at) recent
    enough to matter; `claimed`: customers holding a row per (rule, period) already;
    `shown`: the rules whose entries and limits are reported (default: all);
    `alerted`: the webhook rules' standing alerts (`planning.alerts_of`), by rule name. The
    audiences do not change over the simulation, so a webhook rule's alert stands to its end.
    """
    standing = {name: dict(found) for name, found in (alerted or {}).items()}
    end = start + days * DAY
    shown_names = tuple(shown) if shown is not None else tuple(r.name for r in rules)
    runs = sorted(
        (at, index, rule)
        for index, rule in enumerate(rules)
        for at in occurrences(rule, settings, start, end)
    )
    history: dict[int, list[Mapping]] = {}
    """The outbox's and the simulated messages, by customer (a run reads its audience's)."""
    for message in outbox:
        history.setdefault(message["customer_id"], []).append(message)
    taken = {key: set(ids) for key, ids in claimed.items()}
    cap_days = settings.global_cap.days if settings.global_cap else 0
    zone = ZoneInfo(settings.timezone)
    day_rows = {_day(start + n * DAY, zone): Day(_day(start + n * DAY, zone)) for n in range(days)}
    entries: list[Entry] = []
    for at, _index, rule in runs:
        period = period_of(rule, at)
        since = at - max(rule.cooldown_days, cap_days) * DAY
        audience = audiences.get(rule.name, ())
        limits = Limits(
            suppressed=suppressed,
            recent=tuple(
                m
                for candidate, _reasons in audience
                for m in history.get(candidate.customer_id, ())
                if m["at"] >= since
            ),
            claimed=frozenset(taken.get((rule.name, period), ())),
            alerted=standing.setdefault(rule.name, {}),
        )
        report = rule.name in shown_names
        run_day = day_rows.setdefault(_day(at, zone), Day(_day(at, zone)))
        holders = taken.setdefault((rule.name, period), set())
        for decision in decide(rule, settings, audience, limits, now=at):
            if decision.skipped:
                if report:
                    run_day.limits[decision.skipped] += 1
                continue
            cid = decision.candidate.customer_id
            send_at = decision.send_at or at
            holders.add(cid)
            if rule.channel == "webhook":
                standing[rule.name][cid] = reason_keys(decision.reasons)
            history.setdefault(cid, []).append(
                {
                    "rule": rule.name,
                    "customer_id": cid,
                    "status": "held_out" if decision.held_out else "pending",
                    "at": send_at,
                }
            )
            if not report:
                continue
            if decision.deferred:
                run_day.limits[DEFERRED] += 1
            sent_day = day_rows.setdefault(_day(send_at, zone), Day(_day(send_at, zone)))
            if decision.held_out:
                sent_day.held_out += 1
            else:
                sent_day.messages += 1
            entries.append(
                Entry(
                    send_at,
                    at,
                    rule.name,
                    rule.channel,
                    decision.candidate,
                    decision.reasons,
                    held_out=decision.held_out,
                )
            )
    entries.sort(key=lambda e: (e.at, e.rule, e.candidate.customer_id))
    return Timeline(
        start=start,
        days=days,
        timezone=settings.timezone,
        rules=shown_names,
        simulated=tuple(r.name for r in rules),
        runs=[(at, rule.name) for at, _i, rule in runs if rule.name in shown_names],
        audiences={name: len(audiences.get(name, ())) for name in shown_names},
        entries=entries,
        day_rows=[day_rows[key] for key in sorted(day_rows)],
    )


def _day(at: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, UTC).astimezone(zone).date().isoformat()


def dry_run_timeline(
    config: Config,
    rule: str | None = None,
    *,
    days: int = DEFAULT_DAYS,
    now: int | None = None,
    render: int = RENDERED_ENTRIES,
) -> Timeline:
    """The timeline of `rule` (or of every enabled rule) over the next `days`, read from the
    store once. The enabled rules are simulated with it either way: they share the cap."""
    from plugin.outreach.active_rules import load_active_rules
    from plugin.outreach.planning import alerts_of, matched_audiences, render_for
    from plugin.outreach.templates import TemplateRefused, language_of, shipped_templates
    from plugin.store import open_store
    from plugin.store.outbox import claimed_keys, recent_messages
    from plugin.store.suppressions import suppressed_emails

    now = now_epoch() if now is None else now
    days = max(1, min(days, MAX_DAYS))
    with open_store(config.database_path) as db:
        active = load_active_rules(db, config)
        settings = active.rules
        rules = [r for r in settings.rules if r.enabled]
        if rule is not None:
            chosen = settings.rule(rule)
            if chosen is None:
                known = ", ".join(r.name for r in settings.rules) or "none"
                raise NotFound(f"no outreach rule named {rule!r} (rules: {known})")
            if chosen not in rules:
                rules.append(chosen)
        cap_days = settings.global_cap.days if settings.global_cap else 0
        window = max([cap_days, *(r.cooldown_days for r in rules)])
        outbox = recent_messages(db, since=now - window * DAY)
        end = now + days * DAY
        claimed = {
            (r.name, period): claimed_keys(db, r.name, period)
            for r in rules
            for period in {period_of(r, at) for at in occurrences(r, settings, now, end)}
        }
        timeline = simulate(
            settings,
            rules,
            matched_audiences(db, config, rules, now=now) if rules else {},
            outbox,
            claimed,
            frozenset(suppressed_emails(db)),
            start=now,
            days=days,
            shown=[rule] if rule is not None else None,
            alerted={r.name: alerts_of(db, r) for r in rules},
        )
        by_name = {r.name: r for r in rules}
        for index, entry in enumerate(timeline.entries):
            source = by_name[entry.rule]
            if index < render:
                try:
                    rendered = render_for(db, config, source, entry.candidate, now=now)
                    entry.language, entry.subject = rendered.language, rendered.subject
                except TemplateRefused as exc:
                    entry.refused = exc.message
            if not entry.language:
                available = shipped_templates()[source.template] if source.template else source.body
                entry.language = language_of(entry.candidate.locale, available)
    return timeline


def day_window(timeline: Timeline) -> tuple[str, str]:
    """The first and last day of the timeline, in its time zone (for headings)."""
    zone = ZoneInfo(timeline.timezone)
    last = timeline.end - 1
    return _day(timeline.start, zone), _day(last, zone)
