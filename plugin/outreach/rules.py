"""`[outreach]` and `[[outreach.rules]]`: validated once, into frozen `OutreachRules`.

Pure: definitions in (the config file's table, or a version saved in the admin), rules out.
Every problem is a `ConditionError` naming the file, the rule (index and name), the key or
the position in the audience tree, and the fix, like the journey model's.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plugin.journey.conditions import Condition, ConditionError, parse_condition
from plugin.journey.facts import fact_specs
from plugin.journey.rule_tables import named_rule

CHANNELS = ("email", "helpdesk", "webhook")
SETTING_KEYS = {"timezone", "quiet_hours", "global_cap", "rules"}
RULE_KEYS = {
    "name": "a unique name, e.g. repeat-reader",
    "description": "what the rule is for (shown to admins)",
    "enabled": "true or false (default false)",
    "schedule": 'a cron expression, e.g. "0 9 * * *"',
    "channel": "email | helpdesk | webhook",
    "subject": 'the subject (Jinja), or a table by language: { en = "...", es = "..." }',
    "template": "a shipped template's name (plugin/outreach/templates/)",
    "body": "the message (Jinja), or a table by language, instead of template",
    "body_html": "with body: its HTML part (Jinja, autoescaped), or a table by language",
    "audience": "a condition tree over the facts, stage and signal:<key>",
    "cooldown_days": "days before the rule may write to the same customer again",
    "skip_if_open_ticket": "true: not while the customer has an unsolved ticket",
    "dry_run": "true: runs only show what they would send",
    "holdout_percent": "0-50: a control group, chosen stably per customer, never sent",
    "url": "webhook: where to POST",
    "secret_env": "webhook: the environment variable holding the signing secret",
}
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
DEFAULT_LANGUAGE = "en"
MAX_HOLDOUT_PERCENT = 50


@dataclass(frozen=True)
class QuietHours:
    start: int
    """Minutes after local midnight when quiet hours begin."""
    end: int
    """... and end (may be earlier than start: the night wraps midnight)."""

    def contains(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


@dataclass(frozen=True)
class GlobalCap:
    messages: int
    days: int


@dataclass(frozen=True)
class Rule:
    name: str
    channel: str
    schedule: str
    audience: Condition
    subject: Mapping[str, str]
    """By language; DEFAULT_LANGUAGE always present."""
    template: str | None = None
    body: Mapping[str, str] = field(default_factory=dict)
    body_html: Mapping[str, str] = field(default_factory=dict)
    """By language, with `body`: the HTML part (else the HTML is built from the text)."""
    enabled: bool = False
    description: str = ""
    cooldown_days: int = 7
    skip_if_open_ticket: bool = False
    dry_run: bool = False
    holdout_percent: int = 0
    """The share (0–50 %) of the audience kept as a control group: recorded, never sent."""
    url: str = ""
    secret_env: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    """The definition as written (what a saved version stores)."""


@dataclass(frozen=True)
class OutreachRules:
    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None
    global_cap: GlobalCap | None = None
    rules: tuple[Rule, ...] = ()

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


def default_definitions() -> dict[str, Any]:
    """The shipped rules (all disabled), as the `[outreach]` table of a config file."""
    text = resources.files("plugin.outreach").joinpath("default_rules.toml").read_text("utf-8")
    return tomllib.loads(text)["outreach"]


def load_rules(
    outreach: Mapping[str, Any] | None, *, file: str, env: Mapping[str, str] | None = None
) -> OutreachRules:
    """Validate `[outreach]` (the shipped rules when it has none); raises ConditionError.

    With `env`, an enabled webhook rule whose secret variable is unset is an error too.
    """
    outreach = dict(outreach or {})
    where = f"{file}: outreach"
    unknown = set(outreach) - SETTING_KEYS
    if unknown:
        raise ConditionError(
            where,
            ", ".join(sorted(unknown)),
            f"unknown key; known: {', '.join(sorted(SETTING_KEYS))}",
        )
    timezone = outreach.get("timezone", "UTC")
    if not isinstance(timezone, str) or not _zone(timezone):
        raise ConditionError(
            where, "timezone", f'unknown time zone {timezone!r}; write e.g. "Europe/Madrid"'
        )
    items = outreach["rules"] if "rules" in outreach else default_definitions()["rules"]
    if not isinstance(items, list):
        raise ConditionError(where, "rules", "write each rule as [[outreach.rules]]")
    rules = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        rule = _rule(item, where=f"{where}.rules[{index}]", zone=timezone, env=env)
        if rule.name in seen:
            raise ConditionError(
                f'{where}.rules[{index}] "{rule.name}"', "name", "used twice; names are unique"
            )
        seen.add(rule.name)
        rules.append(rule)
    return OutreachRules(
        timezone=timezone,
        quiet_hours=_quiet_hours(outreach.get("quiet_hours"), where),
        global_cap=_global_cap(outreach.get("global_cap"), where),
        rules=tuple(rules),
    )


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _quiet_hours(value: Any, where: str) -> QuietHours | None:
    if value is None:
        return None
    fix = 'write quiet_hours = { start = "20:00", end = "08:00" }'
    if not isinstance(value, Mapping) or set(value) != {"start", "end"}:
        raise ConditionError(where, "quiet_hours", fix)
    minutes = []
    for key in ("start", "end"):
        match = _HHMM.fullmatch(str(value[key]))
        if match is None:
            raise ConditionError(where, f"quiet_hours.{key}", f"expected HH:MM; {fix}")
        minutes.append(int(match[1]) * 60 + int(match[2]))
    if minutes[0] == minutes[1]:
        raise ConditionError(where, "quiet_hours", "start and end are equal; " + fix)
    return QuietHours(*minutes)


def _global_cap(value: Any, where: str) -> GlobalCap | None:
    if value is None:
        return None
    fix = "write global_cap = { messages = 1, days = 3 }"
    if not isinstance(value, Mapping) or set(value) != {"messages", "days"}:
        raise ConditionError(where, "global_cap", fix)
    for key in ("messages", "days"):
        if not _positive_int(value[key]):
            raise ConditionError(where, f"global_cap.{key}", f"expected a whole number ≥ 1; {fix}")
    return GlobalCap(value["messages"], value["days"])


def _positive_int(value: Any, minimum: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _rule(item: Any, *, where: str, zone: str, env: Mapping[str, str] | None) -> Rule:
    name, where = named_rule(
        item,
        where=where,
        section="outreach",
        example="repeat-reader",
        known=RULE_KEYS,
        listed=", ".join(RULE_KEYS),
    )
    for key in ("enabled", "skip_if_open_ticket", "dry_run"):
        if key in item and not isinstance(item[key], bool):
            raise ConditionError(where, key, f"expected true or false, got {item[key]!r}")
    channel = item.get("channel", "email")
    if channel not in CHANNELS:
        raise ConditionError(where, "channel", f"expected one of {', '.join(CHANNELS)}")
    schedule = item.get("schedule")
    if not isinstance(schedule, str) or _cron_problem(schedule, zone):
        problem = _cron_problem(schedule, zone) if isinstance(schedule, str) else "missing"
        raise ConditionError(
            where, "schedule", f'{problem}; write a cron expression like "0 9 * * *"'
        )
    cooldown = item.get("cooldown_days", 7)
    if not _positive_int(cooldown, 0):
        raise ConditionError(where, "cooldown_days", "expected a whole number ≥ 0")
    holdout = item.get("holdout_percent", 0)
    if not _positive_int(holdout, 0) or holdout > MAX_HOLDOUT_PERCENT:
        raise ConditionError(
            where,
            "holdout_percent",
            f"expected a whole number from 0 to {MAX_HOLDOUT_PERCENT}, e.g. holdout_percent = 10",
        )
    if ("template" in item) == ("body" in item):
        raise ConditionError(
            where, "template", 'write either template = "<shipped name>" or body = "..."'
        )
    template = item.get("template")
    if template is not None:
        from plugin.outreach.templates import shipped_templates

        if template not in shipped_templates():
            known = ", ".join(sorted(shipped_templates()))
            raise ConditionError(where, "template", f"no template {template!r}; shipped: {known}")
    body = _by_language(item.get("body"), where, "body") if "body" in item else {}
    body_html = _by_language(item["body_html"], where, "body_html") if "body_html" in item else {}
    if body_html and not body:
        raise ConditionError(
            where, "body_html", "body_html is the HTML part of body: write body too (or template)"
        )
    missing = sorted(set(body_html) - set(body))
    if missing:
        raise ConditionError(
            where,
            "body_html",
            f"body_html.{missing[0]} has no body.{missing[0]}: each language needs its text part",
        )
    subject = _by_language(item.get("subject"), where, "subject")
    url, secret_env = item.get("url", ""), item.get("secret_env", "")
    if channel == "webhook":
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ConditionError(where, "url", 'a webhook rule needs url = "https://..."')
        if not isinstance(secret_env, str) or not secret_env:
            raise ConditionError(
                where, "secret_env", "a webhook rule names the variable of its signing secret"
            )
        if env is not None and item.get("enabled") and not env.get(secret_env):
            raise ConditionError(
                where,
                "secret_env",
                f"the environment variable {secret_env} is not set; export it before starting",
            )
    elif url or secret_env:
        raise ConditionError(where, "url", "url and secret_env are for webhook rules only")
    audience = parse_condition(
        item.get("audience", {"all": []}),
        known_facts=fact_specs(with_stage=True),
        where=where,
        root="audience",
    )
    return Rule(
        name=name,
        channel=channel,
        schedule=schedule,
        audience=audience,
        subject=subject,
        template=template,
        body=body,
        body_html=body_html,
        enabled=bool(item.get("enabled", False)),
        description=str(item.get("description", "")),
        cooldown_days=cooldown,
        skip_if_open_ticket=bool(item.get("skip_if_open_ticket", False)),
        dry_run=bool(item.get("dry_run", False)),
        holdout_percent=holdout,
        url=url,
        secret_env=secret_env,
        source=dict(item),
    )


def _by_language(value: Any, where: str, key: str) -> dict[str, str]:
    if isinstance(value, str) and value.strip():
        return {DEFAULT_LANGUAGE: value}
    if (
        isinstance(value, Mapping)
        and DEFAULT_LANGUAGE in value
        and all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items())
    ):
        return dict(value)
    raise ConditionError(
        where,
        key,
        f'write {key} = "..." or a table by language with English: {key} = {{ en = "...", '
        'es = "..." }',
    )


def _cron_problem(expression: str, zone: str) -> str | None:
    try:
        _trigger(expression, zone)
    except ValueError as exc:
        return f"not a cron expression ({exc})"
    return None


def cron_trigger(rule: Rule, rules: OutreachRules):
    """The APScheduler trigger of `rule`, in the outreach time zone (the worker schedules
    it, the dry-run timeline walks it)."""
    return _trigger(rule.schedule, rules.timezone)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _trigger(expression: str, zone: str):
    """`CronTrigger.from_crontab`, with the day of the week read as cron reads it.

    APScheduler 3 numbers weekdays from Monday = 0, so its `from_crontab("0 9 * * 1-5")`
    fires Tuesday to Saturday; cron (and every admin) means 0 or 7 = Sunday, 1-5 =
    Monday to Friday. The field is rewritten as the names of the days cron means.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_cron_weekdays(weekday),
        timezone=zone,
    )


def _cron_weekdays(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"bad step in the day of the week {part!r}")
        if base == "*":
            first, last = 0, 6
        else:
            low, _, high = base.partition("-")
            first = _weekday_number(low)
            last = _weekday_number(high) if high else (6 if step else first)
        if last < first:
            raise ValueError(f"the day-of-week range {base!r} runs backwards")
        days.update(n % 7 for n in range(first, last + 1, step or 1))
    return ",".join(_WEEKDAYS[n] for n in sorted(days))


def _weekday_number(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text[:3] in _WEEKDAYS and len(text) == 3:
        return _WEEKDAYS.index(text)
    raise ValueError(f"unknown day of the week {text!r} (0-7 or sun-sat)")
