"""Planning outreach: who a rule would write to now, who not and why, and what each would
receive (`plan_rule`), over today's facts and stored journeys, with the limits of
`audience.decide` and each message rendered in the recipient's language. Previews, dry runs,
the timeline and the "why" lookup stop here: nothing is written.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from sqlite_utils import Database

from plugin.clock import now_epoch
from plugin.config import Config
from plugin.errors import NotFound
from plugin.journey.facts import compute_facts
from plugin.outreach.active_rules import ActiveRules, load_active_rules
from plugin.outreach.audience import (
    DAY,
    Candidate,
    Decision,
    Limits,
    candidate_facts,
    decide,
    matching,
    period_of,
    reason_keys,
)
from plugin.outreach.channels import (
    unsubscribe_url,
)
from plugin.outreach.narrowing import narrowing, possible_customers
from plugin.outreach.rules import OutreachRules, Rule
from plugin.outreach.templates import (
    LANGUAGES,
    Rendered,
    TemplateRefused,
    render_message,
    with_unsubscribe,
)
from plugin.store import open_store
from plugin.store.customers import all_customer_ids, contact_details, desk_users
from plugin.store.history import (
    count_without_synced_history,
    customer_aggregates,
    last_articles_before,
)
from plugin.store.journeys import stored_stages
from plugin.store.outbox import (
    claimed_keys,
    clear_alerts,
    recent_messages,
    standing_alerts,
)
from plugin.store.suppressions import suppressed_emails

log = logging.getLogger("journeydesk.outreach")

OUTBOUND_DESKS = ("zendesk", "freshdesk", "demo")
PER_USER_HISTORY_DESKS = ("zendesk",)
"""Desks whose reading history is read user by user (docs/connectors.md: whose): the
preview counts the users it was never read for."""
SAMPLE_RENDERS = 20
AUDIENCE_CHUNK = 20_000


@dataclass
class Planned:
    decision: Decision
    rendered: Rendered | None = None
    error: str | None = None


@dataclass
class RulePlan:
    rule: Rule
    period: str
    version: int | None
    planned: list[Planned] = field(default_factory=list)
    matched: int = 0
    without_history: int | None = None
    """Of the audience, how many are desk users whose reading history was never synced
    (their reading facts may be missing); None when not counted."""
    desk_without_history: int | None = None
    """Of all the desk's users, how many have no reading history synced: the rule's
    possible audience it cannot see (an audience testing reading never includes them)."""

    @property
    def sendable(self) -> list[Planned]:
        """What a run claims: the messages to send and the held-out ones to record."""
        return [p for p in self.planned if p.decision.skipped is None and p.rendered]

    @property
    def held_out(self) -> list[Planned]:
        return [p for p in self.planned if p.decision.skipped is None and p.decision.held_out]

    @property
    def receiving(self) -> list[Planned]:
        """Those the limits let through (the held-out control group among them)."""
        return [p for p in self.planned if not p.decision.skipped]

    @property
    def deferred(self) -> int:
        """Of those receiving, how many wait for the end of quiet hours."""
        return sum(1 for p in self.receiving if p.decision.deferred)

    def skipped(self) -> Counter[str]:
        return Counter(p.decision.skipped for p in self.planned if p.decision.skipped)

    @property
    def refused(self) -> list[Planned]:
        return [p for p in self.planned if p.error]


def load_candidates(
    db: Database,
    config: Config,
    *,
    now: int,
    customer_ids: list[int] | None = None,
    users: dict[int, str] | None = None,
) -> list[Candidate]:
    """Every current customer (or those of `customer_ids`) with their facts now, stored
    stage and signals; `users` are the desk users (`desk_users_of`) when already read."""
    contacts = contact_details(db, customer_ids)
    journeys = stored_stages(db, customer_ids)
    if users is None:
        users = desk_users_of(db, config)
    result = []
    for cid, aggregates in customer_aggregates(db, customer_ids, now=now).items():
        name, email, locale, zone = contacts.get(cid, (None, None, None, None))
        stage, signals = journeys.get(cid, (None, []))
        facts = candidate_facts(compute_facts(aggregates, now), stage, signals)
        result.append(
            Candidate(cid, name, email, locale, zone, stage, tuple(signals), facts, users.get(cid))
        )
    return result


def desk_users_of(db: Database, config: Config) -> dict[int, str]:
    """`<source>:<user id>` of each customer a desk that sends outbound messages knows."""
    users: dict[int, str] = {}
    for conf in config.connectors:
        if conf.type in OUTBOUND_DESKS:
            for cid, user in desk_users(db, conf.name).items():
                users.setdefault(cid, f"{conf.name}:{user}")
    return users


def matched_audiences(
    db: Database, config: Config, rules: list[Rule], *, now: int, chunk: int = AUDIENCE_CHUNK
) -> dict[str, list[tuple[Candidate, tuple]]]:
    """Each rule's audience now (with the reasons), by customer id.

    Only the customers who can possibly match (`narrowing`: found in SQL) have their facts
    read, a chunk at a time, so that only the matched ones stay in memory.
    """
    seen: dict = {}
    possible = {
        r.name: possible_customers(db, narrowing(r.audience), now=now, seen=seen) for r in rules
    }
    if any(ids is None for ids in possible.values()):
        ids = all_customer_ids(db)
    else:
        ids = sorted(set().union(*possible.values()))
    helpdesk = any(rule.channel == "helpdesk" for rule in rules)
    users = desk_users_of(db, config) if helpdesk else {}
    found: dict[str, list[tuple[Candidate, tuple]]] = {rule.name: [] for rule in rules}
    for start in range(0, len(ids), chunk):
        candidates = load_candidates(
            db, config, now=now, customer_ids=ids[start : start + chunk], users=users
        )
        for rule in rules:
            allowed = possible[rule.name]
            if allowed is not None:
                found[rule.name] += matching(
                    rule, [c for c in candidates if c.customer_id in allowed]
                )
            else:
                found[rule.name] += matching(rule, candidates)
    return found


def plan_rule(
    db: Database,
    config: Config,
    active: ActiveRules,
    rule: Rule,
    *,
    now: int,
    candidates: list[Candidate] | None = None,
    matched: list[tuple[Candidate, tuple]] | None = None,
    render_all: bool = True,
) -> RulePlan:
    """Who `rule` would write to now, who not and why, and what each would receive.

    The audience is `matched` when given, else `rule`'s among `candidates`, else read
    from the store (`matched_audiences`)."""
    if matched is None:
        if candidates is None:
            matched = matched_audiences(db, config, [rule], now=now)[rule.name]
        else:
            matched = matching(rule, candidates)
    period = period_of(rule, now)
    settings = active.rules
    plan = RulePlan(rule, period, active.version_number, matched=len(matched))
    rendered = 0
    limits = limits_for(db, rule, settings, now=now)
    for decision in decide(rule, settings, matched, limits, now=now):
        planned = Planned(decision)
        if decision.skipped is None and (render_all or rendered < SAMPLE_RENDERS):
            rendered += 1
            try:
                planned.rendered = render_for(db, config, rule, decision.candidate, now=now)
            except TemplateRefused as exc:
                planned.error = exc.message
        plan.planned.append(planned)
    return plan


def trial_plans(
    db: Database,
    config: Config,
    active: ActiveRules,
    rules: OutreachRules,
    names: list[str] | None = None,
    *,
    now: int,
) -> list[RulePlan]:
    """What the rules of `rules` (those in `names`, else all) would do now were `rules` in
    force instead of `active`: audiences, limits, a sample rendered. What the admin's
    editor and `journeydesk rules import` preview; nothing is written."""
    trial = ActiveRules(rules, active.version, active.origin)
    chosen = [rules.rule(name) for name in names] if names else list(rules.rules)
    candidates = load_candidates(db, config, now=now)
    return [
        plan_rule(db, config, trial, rule, now=now, candidates=candidates, render_all=False)
        for rule in chosen
        if rule is not None
    ]


def template_refusal(
    db: Database, config: Config, rules: OutreachRules, names: list[str] | None = None, *, now: int
) -> str | None:
    """The sandbox's refusal of a rule's template (those in `names`, else all), tried in
    each language on a stand-in customer: a cheap check before saving (a preview plans
    every customer); None when every template renders."""
    chosen = [rules.rule(name) for name in names] if names else list(rules.rules)
    for rule in chosen:
        if rule is None:
            continue
        for locale in LANGUAGES:
            stand_in = Candidate(0, "Alex Doe", "alex@example.com", locale, None, None, (), {})
            try:
                render_for(db, config, rule, stand_in, now=now)
            except TemplateRefused as exc:
                return exc.message
    return None


def limits_for(db: Database, rule: Rule, settings: OutreachRules, *, now: int) -> Limits:
    """What the limits of `rule` look at now: opt-outs, recent messages, this period's claims."""
    window = max(rule.cooldown_days, settings.global_cap.days if settings.global_cap else 0)
    return Limits(
        suppressed=frozenset(suppressed_emails(db)),
        recent=tuple(recent_messages(db, since=now - window * DAY)),
        claimed=frozenset(claimed_keys(db, rule.name, period_of(rule, now))),
        alerted=alerts_of(db, rule),
    )


def alerts_of(db: Database, rule: Rule) -> dict[int, frozenset]:
    """A webhook rule's standing alerts, by customer, as `reason_keys` ({} for others)."""
    if rule.channel != "webhook":
        return {}
    return {cid: reason_keys(reasons) for cid, reasons in standing_alerts(db, rule.name).items()}


def clear_ended_alerts(db: Database, rule: Rule, matched, *, now: int) -> int:
    """After a run of a webhook rule: the standing alerts to customers no longer in its
    audience end (the next match alerts the team again)."""
    if rule.channel != "webhook":
        return 0
    inside = {candidate.customer_id for candidate, _reasons in matched}
    ended = [cid for cid in standing_alerts(db, rule.name) if cid not in inside]
    return clear_alerts(db, rule.name, ended, now=now) if ended else 0


def render_for(db: Database, config: Config, rule: Rule, candidate: Candidate, *, now: int):
    """The message `rule` sends `candidate`; raises TemplateRefused."""
    # every article of the week (not only the newest few): the most re-read one may be older
    week = last_articles_before(db, candidate.customer_id, now, since=now - 7 * DAY, limit=50)
    month = last_articles_before(db, candidate.customer_id, now, since=now - 30 * DAY, limit=10)
    articles = [_article(a) for a in month]
    top = max(week, key=lambda a: (a["views"], a["last_viewed_at"]), default=None)
    url = unsubscribe_url(config, candidate.email) if candidate.email else ""
    name = candidate.name or (candidate.email or "").partition("@")[0] or ""
    context: dict[str, Any] = {
        "customer": {
            "id": candidate.customer_id,
            "name": name,
            "first_name": name.split()[0] if name.split() else name,
            "email": candidate.email or "",
            "locale": candidate.locale or "",
        },
        "stage": {"key": candidate.stage or ""},
        "signals": list(candidate.signals),
        "facts": dict(candidate.facts),
        "articles": articles,
        "article": _article(top) if top else None,
        "unsubscribe_url": url,
        "company": parseaddr(config.email["from"])[0] or "Support",
        "rule": {"name": rule.name},
    }
    rendered = render_message(rule, context)
    if rule.channel == "email" and url:
        rendered = with_unsubscribe(rendered, url)
    return rendered


def _article(item: dict[str, Any]) -> dict[str, Any]:
    return {"title": item.get("title") or "", "url": item.get("url") or "", "views": item["views"]}


def recipient_of(rule: Rule, candidate: Candidate) -> str | None:
    if rule.channel == "email":
        return candidate.email
    if rule.channel == "helpdesk":
        return candidate.desk_user
    return rule.url


def preview_rule(config: Config, name: str, *, now: int | None = None) -> RulePlan:
    now = now_epoch() if now is None else now
    with open_store(config.database_path) as db:
        active = load_active_rules(db, config)
        rule = active.rules.rule(name)
        if rule is None:
            known = ", ".join(r.name for r in active.rules.rules) or "none"
            raise NotFound(f"no outreach rule named {name!r} (rules: {known})")
        plan = plan_rule(db, config, active, rule, now=now, render_all=False)
        audience = [p.decision.candidate.customer_id for p in plan.planned]
        desks = [c.name for c in config.connectors if c.type in PER_USER_HISTORY_DESKS]
        if desks:
            plan.without_history = sum(
                count_without_synced_history(db, desk, audience) for desk in desks
            )
            plan.desk_without_history = sum(
                count_without_synced_history(db, desk) for desk in desks
            )
        return plan
