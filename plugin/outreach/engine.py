"""Planning, claiming and delivering outreach: what `outreach preview/run` and the worker do.

1. **Plan** a rule (`plan_rule`): its audience over today's facts and stored journeys, the
   limits (`audience.decide`), each message rendered in the recipient's language. A preview
   or a dry run stops here and writes nothing.
2. **Claim** (`claim_plan`): the messages go into the outbox under their unique key
   (rule, customer, period) in one committed transaction, before anything is sent.
3. **Deliver** (`deliver_due`): under the `outreach-delivery` lease (one delivering process
   at a time, whatever runs: the worker, a CLI run, a second worker), every due message is
   marked `sending` (committed), sent, then marked `sent`, retried later with backoff, or
   `failed`. A `sending` row found by the next lease holder was left by a run that died
   mid-send: it becomes `uncertain` and is never re-sent without an admin.

Test hook: with JOURNEYDESK_OUTREACH_PAUSE=claimed (after the claim is committed, before
any send) or =sent (after the first send, before it is recorded) the process prints
`PAUSED <point>` and sleeps, so a test can kill it there. Never set it in production.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from sqlite_utils import Database

from plugin.clock import now_epoch
from plugin.config import Config
from plugin.errors import InvalidInput, NotFound
from plugin.journey.facts import compute_facts
from plugin.journey.model import reason_to_dict
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
    EmailChannel,
    HelpdeskChannel,
    SendError,
    WebhookChannel,
    unsubscribe_url,
)
from plugin.outreach.narrowing import narrowing, possible_customers
from plugin.outreach.rules import OutreachRules, Rule
from plugin.outreach.templates import Rendered, TemplateRefused, render_message, with_unsubscribe
from plugin.store import open_store
from plugin.store.customers import all_customer_ids, contact_details, desk_users
from plugin.store.history import (
    count_without_synced_history,
    customer_aggregates,
    last_articles_before,
)
from plugin.store.journeys import stored_stages
from plugin.store.leases import acquire_lease, lease_holder, release_lease
from plugin.store.outbox import (
    claim_messages,
    claimed_keys,
    clear_alerts,
    due_messages,
    mark_abandoned,
    recent_messages,
    record_failed,
    record_retry,
    record_sent,
    standing_alerts,
    start_sending,
)
from plugin.store.suppressions import suppressed_emails

log = logging.getLogger("journeydesk.outreach")

PAUSE_ENV = "JOURNEYDESK_OUTREACH_PAUSE"
LEASE_NAME = "outreach-delivery"
LEASE_TTL_SECONDS = 120
BACKOFF_SECONDS = (60, 300, 1800)
"""Waits before the 2nd, 3rd and 4th attempt of a transient failure; then `failed`."""
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
OUTBOUND_DESKS = ("zendesk", "freshdesk", "demo")
PER_USER_HISTORY_DESKS = ("zendesk",)
"""Desks whose reading history is read user by user (docs/connectors.md: whose): the
preview counts the users it was never read for."""
RUN_WAIT_SECONDS = 30
"""How long a run waits for another process's delivery to end before leaving its claimed
messages to the worker's next delivery."""
SAMPLE_RENDERS = 20
AUDIENCE_CHUNK = 20_000


# --------------------------------------------------------------------------- planning


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


def claim_plan(db: Database, plan: RulePlan, *, now: int) -> list[int]:
    """Put the plan's sendable messages in the outbox (one committed transaction), and
    the ones the template sandbox refused as `refused` rows with its error (the audit
    trail: nothing is sent). Returns the ids of the sendable ones claimed now."""
    rule = plan.rule

    def row(p: Planned) -> dict[str, Any]:
        rendered = p.rendered
        return {
            "rule": rule.name,
            "customer_id": p.decision.candidate.customer_id,
            "period": plan.period,
            "rule_version": plan.version,
            "status": "refused" if p.error else "held_out" if p.decision.held_out else "pending",
            "channel": rule.channel,
            "recipient": recipient_of(rule, p.decision.candidate),
            "locale": rendered.language if rendered else p.decision.candidate.locale,
            "reasons": [reason_to_dict(r) for r in p.decision.reasons],
            "subject": rendered.subject if rendered else None,
            "body_text": rendered.text if rendered else None,
            "body_html": rendered.html if rendered else None,
            "next_attempt_at": p.decision.send_at or now,
            "error": p.error,
        }

    claim_messages(db, (row(p) for p in plan.refused), now=now)
    return claim_messages(db, (row(p) for p in plan.sendable), now=now)


# --------------------------------------------------------------------------- running


@dataclass
class RunReport:
    plans: list[RulePlan] = field(default_factory=list)
    claimed: dict[str, int] = field(default_factory=dict)
    delivery: DeliveryReport | None = None
    dry_run: bool = False


def rules_to_run(active: ActiveRules, name: str | None, *, dry_run: bool) -> list[Rule]:
    if name is None:
        return [r for r in active.rules.rules if r.enabled]
    rule = active.rules.rule(name)
    if rule is None:
        known = ", ".join(r.name for r in active.rules.rules) or "none"
        raise NotFound(f"no outreach rule named {name!r} (rules: {known})")
    if not rule.enabled and not dry_run:
        raise InvalidInput(
            f"the outreach rule {name!r} is disabled: enable it first, or run it with --dry-run"
        )
    return [rule]


def run_outreach(
    config: Config, name: str | None = None, *, dry_run: bool = False, now: int | None = None
) -> RunReport:
    """Plan, claim and deliver the enabled rules (or one); a dry run only plans.

    A rule with dry_run = true is always only planned.
    """
    now = now_epoch() if now is None else now
    report = RunReport(dry_run=dry_run)
    with open_store(config.database_path) as db:
        active = load_active_rules(db, config)
        rules = rules_to_run(active, name, dry_run=dry_run)
        audiences = matched_audiences(db, config, rules, now=now) if rules else {}
        for rule in rules:
            # planned after the previous rule's claim: the global cap sees its messages
            plan = plan_rule(db, config, active, rule, now=now, matched=audiences[rule.name])
            report.plans.append(plan)
            if dry_run or rule.dry_run:
                continue
            report.claimed[rule.name] = len(claim_plan(db, plan, now=now))
            clear_ended_alerts(db, rule, audiences[rule.name], now=now)
            _pause("claimed")
    if not dry_run:
        report.delivery = deliver_due(config, active=active, wait_seconds=RUN_WAIT_SECONDS)
    return report


def run_quietly(config: Config, name: str) -> RunReport | None:
    """`run_outreach` for one rule, logging instead of raising (an admin's "Run now", in a
    thread: the outbox shows what it claims and sends)."""
    try:
        report = run_outreach(config, name)
    except Exception as exc:  # claimed messages wait in the outbox for the next delivery
        log.error("outreach %s (run now) failed: %s", name, exc)
        return None
    log.info("outreach %s (run now): %d claimed", name, sum(report.claimed.values()))
    return report


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


# --------------------------------------------------------------------------- delivery


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    """`sending` rows left by a dead run, marked uncertain by this one."""
    busy: bool = False
    """Another process holds the delivery lease: it delivers (this run sent nothing)."""
    errors: list[str] = field(default_factory=list)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def _take_lease(db: Database, holder: str) -> bool:
    if acquire_lease(db, LEASE_NAME, holder, LEASE_TTL_SECONDS):
        return True
    current = lease_holder(db, LEASE_NAME)
    if current and _dead_local_process(current["holder"]):
        log.warning("outreach delivery: %s died holding the lease; taking over", current["holder"])
        release_lease(db, LEASE_NAME, current["holder"])
        return acquire_lease(db, LEASE_NAME, holder, LEASE_TTL_SECONDS)
    return False


def _dead_local_process(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host's process: its lease expires on its own
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def deliver_due(
    config: Config,
    *,
    active: ActiveRules | None = None,
    batch: int = 100,
    wait_seconds: float = 0,
) -> DeliveryReport:
    """Send every due pending message, in the one process holding the delivery lease.

    When another process delivers, wait up to `wait_seconds` (real time) for it to finish,
    then deliver what is left (what this process claimed meanwhile, for one); else leave it
    to that process and the worker's next delivery.
    """
    report = DeliveryReport()
    holder = _holder()
    with open_store(config.database_path) as db:
        deadline = time.monotonic() + wait_seconds
        while not _take_lease(db, holder):
            if time.monotonic() >= deadline:
                report.busy = True
                return report
            time.sleep(0.2)
        try:
            if active is None:
                active = load_active_rules(db, config)
            report.uncertain = mark_abandoned(db, holder=holder, now=now_epoch())
            _deliver(db, config, active, holder, report, batch)
        finally:
            release_lease(db, LEASE_NAME, holder)
    return report


def _deliver(db, config, active: ActiveRules, holder: str, report: DeliveryReport, batch) -> None:
    rules = {rule.name: rule for rule in active.rules.rules}
    channels: dict[str, Any] = {}
    renewed = time.monotonic()
    tried: set[int] = set()
    try:
        while True:
            due = [
                m for m in due_messages(db, now=now_epoch(), limit=batch) if m["id"] not in tried
            ]
            if not due:
                return
            for message in due:
                tried.add(message["id"])
                if time.monotonic() - renewed > LEASE_TTL_SECONDS / 3:
                    if not acquire_lease(db, LEASE_NAME, holder, LEASE_TTL_SECONDS):
                        report.errors.append("lost the delivery lease; stopped")
                        return
                    renewed = time.monotonic()
                if not start_sending(db, message["id"], holder=holder, now=now_epoch()):
                    continue
                channel = channels.get(message["channel"])
                if channel is None:
                    channel = channels[message["channel"]] = _channel(config, message, rules)
                _send_one(db, channel, message, holder, report)
    finally:
        for channel in channels.values():
            channel.close()


def _channel(config: Config, message: dict[str, Any], rules: dict[str, Rule]):
    if message["channel"] == "email":
        return EmailChannel(config)
    if message["channel"] == "webhook":
        return WebhookChannel(config, rules)
    return HelpdeskChannel(config)


def _send_one(db, channel, message: dict[str, Any], holder: str, report: DeliveryReport) -> None:
    attempts = message["attempts"] + 1
    message = {**message, "payload": _payload(db, message)}
    try:
        outcome, external_id = channel.send(message)
    except SendError as exc:
        now = now_epoch()
        error = f"attempt {attempts}: {exc}"
        report.errors.append(f"message {message['id']} ({message['rule']}): {exc}")
        if exc.transient and attempts < MAX_ATTEMPTS:
            retry_at = now + BACKOFF_SECONDS[attempts - 1]
            record_retry(db, message["id"], error=error, retry_at=retry_at, now=now)
            report.retrying += 1
        else:
            record_failed(db, message["id"], error=error, now=now)
            report.failed += 1
        return
    _pause("sent")
    record_sent(
        db, message["id"], holder=holder, outcome=outcome, external_id=external_id, now=now_epoch()
    )
    report.sent += 1


def _payload(db: Database, message: dict[str, Any]) -> dict[str, Any]:
    """What a webhook receives and what a desk's outbound message needs about the customer."""
    contact = contact_details(db, [message["customer_id"]]).get(message["customer_id"])
    name, email = (contact[0], contact[1]) if contact else (None, None)
    return {
        "message_id": message["id"],
        "rule": message["rule"],
        "rule_version": message["rule_version"],
        "customer": {"id": message["customer_id"], "name": name, "email": email},
        "subject": message["subject"],
        "text": message["body_text"],
        "reasons": message["reasons"],
        "period": message["period"],
    }


_paused: set[str] = set()


def _pause(point: str) -> None:
    """The crash tests' hook (JOURNEYDESK_OUTREACH_PAUSE): stop here once, to be killed."""
    if os.environ.get(PAUSE_ENV) == point and point not in _paused:
        _paused.add(point)
        print(f"PAUSED {point}", flush=True)
        sys.stdout.flush()
        time.sleep(600)
