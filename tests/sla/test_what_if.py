"""The SLA what-if checked against an independent computation on a generated history.

The history (customers in every stage, with and without signals; ~150 days of tickets on
three desks, one of them on business hours, several channels, answered, solved, open,
deleted) is written into a real store, once per engine, through the store's write
functions. The expected tables are computed here by plain Python: hand-written predicates
for the rules, calendar-minute deadlines by addition, business-hours deadlines by walking
the calendar minute by minute. `journeydesk sla simulate --days 120` must print exactly those rows.
"""

from __future__ import annotations

import random
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.records import CustomerRef, Ticket
from plugin import clock
from plugin.config import load_config
from plugin.journey.conditions import ConditionError
from plugin.sla.rules import load_sla_rules
from plugin.sla.rules_file import load_rules_file
from plugin.sla.what_if import what_if
from plugin.store import open_store
from plugin.store.journeys import JourneyRow, save_journeys
from plugin.store.sla_window import window_outcomes
from plugin.store.tickets import write_tickets
from tests.helpers.cli import journeydesk
from tests.helpers.config import ANCHOR, SECRET, database_line, write_config

NOW = ANCHOR
DAY = 86_400
MADRID = ZoneInfo("Europe/Madrid")
HOLIDAY = date(2026, 10, 12)
# "legacy" (a stage of an older model), "carrier pigeon" and "p1" are values the what-if
# does not expect: counted all the same.
STAGES = ("awareness", "consideration", "purchase", "service", "retention", "advocacy", "legacy")
SIGNALS = ("renewal_due", "negative_csat", "high_value")
CHANNELS = ("email", "web", "chat", "phone", None, "email", "web", "carrier pigeon")
PRIORITIES = ("low", "normal", "high", "urgent", None, "normal", "p1")

CONNECTORS = """
[[connectors]]
name = "zd"
type = "zendesk"
subdomain = "acme"
email = "admin@acme.example"
token_env = "JOURNEYDESK_SECRET"

[[connectors]]
name = "fd"
type = "freshdesk"
domain = "acme.freshdesk.com"
api_key_env = "JOURNEYDESK_SECRET"
[connectors.business_hours]
timezone = "Europe/Madrid"
mon = "09:00-18:00"
tue = "09:00-18:00"
wed = "09:00-18:00"
thu = "09:00-13:00,14:00-18:00"
fri = "09:00-15:00"
holidays = ["2026-10-12"]
"""

IN_FORCE = """
[[sla.rules]]
name = "purchase-moment"
priority = "urgent"
first_response_minutes = 60
resolution_minutes = 480
[sla.rules.when]
any = [ { fact = "stage", op = "eq", value = "purchase" },
        { fact = "signal:renewal_due", op = "eq", value = true } ]

[[sla.rules]]
name = "chat"
priority = "high"
first_response_minutes = 30
[sla.rules.when]
all = [ { fact = "ticket.channel", op = "eq", value = "chat" } ]
"""

DRAFT = """
[[sla.rules]]
name = "unhappy"
priority = "urgent"
first_response_minutes = 30
resolution_minutes = 240
[sla.rules.when]
all = [ { fact = "signal:negative_csat", op = "eq", value = true } ]

[[sla.rules]]
name = "buying"
priority = "high"
first_response_minutes = 120
resolution_minutes = 1440
[sla.rules.when]
all = [ { fact = "stage", op = "in", value = ["purchase", "consideration"] } ]

[[sla.rules]]
name = "email-refund"
priority = "normal"
resolution_minutes = 960
[sla.rules.when]
all = [ { fact = "ticket.channel", op = "eq", value = "email" },
        { fact = "ticket.subject", op = "contains", value = "refund" } ]

[[sla.rules]]
name = "valuable"
first_response_minutes = 240
[sla.rules.when]
all = [ { fact = "signal:high_value", op = "eq", value = true } ]
"""


# The rules again, as plain predicates over plain values: (name, priority, fr, res, test).
def in_force_rules():
    return [
        ("purchase-moment", "urgent", 60, 480,
         lambda t: t.stage == "purchase" or "renewal_due" in t.signals),
        ("chat", "high", 30, None, lambda t: t.channel == "chat"),
    ]  # fmt: skip


def draft_rules():
    return [
        ("unhappy", "urgent", 30, 240, lambda t: "negative_csat" in t.signals),
        ("buying", "high", 120, 1440, lambda t: t.stage in ("purchase", "consideration")),
        ("email-refund", "normal", None, 960,
         lambda t: t.channel == "email" and "refund" in t.subject.lower()),
        ("valuable", None, 240, None, lambda t: "high_value" in t.signals),
    ]  # fmt: skip


@dataclass
class Generated:
    source: str
    id: str
    subject: str
    channel: str | None
    priority: str | None
    status: str
    created: int
    updated: int | None
    solved: int | None
    responded: int | None
    deleted: bool
    stage: str | None
    signals: frozenset[str]


# --------------------------------------------------------------------------- the history


def generate(seed: int = 14) -> tuple[list[Generated], dict[str, list[Ticket]], dict]:
    """Customers (per desk) with a stage and signals, and their tickets over 150 days."""
    rng = random.Random(seed)
    people = {}  # (source, user id) -> (stage or None, signals)
    for source in ("demo", "zd", "fd"):
        for user in range(25):
            stage = None if user % 12 == 11 else rng.choice(STAGES)
            signals = frozenset(s for s in SIGNALS if rng.random() < 0.3)
            people[(source, user)] = (stage, signals if stage else frozenset())
    generated, records = [], defaultdict(list)
    for n in range(420):
        source = ("demo", "zd", "fd")[n % 3]
        user = rng.randrange(25)
        stage, signals = people[(source, user)]
        # whole minutes, so a minute-by-minute walk of the calendar is exact, and never
        # a whole number of days ago (on the edge of a window)
        ago = rng.randrange(60, 150 * 24 * 60)
        created = NOW.timestamp() - (ago + (ago % 1440 == 0)) * 60
        status = rng.choice(("new", "open", "pending", "solved", "closed", "closed", "solved"))
        responded = created + rng.randrange(1, 3000) * 60 + rng.randrange(60)
        solved = responded + rng.randrange(0, 5000) * 60
        done = status in ("solved", "closed")
        first_response = None if rng.random() < 0.2 else responded
        solved_at = solved if done and rng.random() < 0.9 else None
        updated = solved if done else created + 60
        if first_response is not None and first_response > NOW.timestamp():
            first_response = None
        if solved_at is not None and solved_at > NOW.timestamp():
            solved_at, status, updated = None, "open", created + 60
        ticket = Generated(
            source=source,
            id=str(1000 + n),
            subject=rng.choice(("Refund please", "Login problem", "A REFUND question", "Hi")),
            channel=rng.choice(CHANNELS),
            priority=rng.choice(PRIORITIES),
            status=status,
            created=int(created),
            updated=int(updated),
            solved=None if solved_at is None else int(solved_at),
            responded=None if first_response is None else int(first_response),
            deleted=rng.random() < 0.05,
            stage=stage,
            signals=signals,
        )
        generated.append(ticket)
        records[source].append(
            Ticket(
                id=ticket.id,
                requester=CustomerRef(source_id=f"{source}-{user}"),
                subject=ticket.subject,
                created_at=_at(ticket.created),
                updated_at=_at(ticket.updated),
                status=ticket.status,
                priority=ticket.priority,
                channel=ticket.channel,
                solved_at=_at(ticket.solved),
                first_response_at=_at(ticket.responded),
                deleted=ticket.deleted,
            )
        )
    return generated, records, people


def _at(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def store_history(config_path) -> list[Generated]:
    config = load_config(config_path, env={"JOURNEYDESK_SECRET": SECRET})
    generated, records, people = generate()
    with open_store(config.database_path) as db:
        journeys = []
        for source, tickets in records.items():
            with db.atomic():
                _, customers = write_tickets(db, source, tickets)
            for ref, customer_id in customers.items():
                _, user = ref.source_id.rsplit("-", 1)
                stage, signals = people[(source, int(user))]
                if stage is not None:
                    listed = [{"key": key, "reasons": []} for key in sorted(signals)]
                    journeys.append(JourneyRow(customer_id, stage, [], listed))
        save_journeys(db, journeys, now=int(NOW.timestamp()))
    return generated


@pytest.fixture(scope="module")
def desks():
    """The history stored once per engine for the module, by backend (built on first use);
    the PostgreSQL database is dropped when the module ends."""
    stored: dict[str, tuple] = {}
    drops: list = []
    yield stored, drops
    for drop in drops:
        drop()


WHAT_IF_DATABASE = "sla_what_if"


@pytest.fixture
def desk(backend, desks, request, tmp_path_factory):
    """(config path, generated history): one store per engine, shared by the module."""
    stored, drops = desks
    if backend not in stored:
        folder = tmp_path_factory.mktemp(f"what-if-{backend}")
        database = None
        if backend == "postgres":
            cluster = request.getfixturevalue("postgres_cluster")
            template = request.getfixturevalue("postgres_template")
            database = database_line(cluster.create_database(WHAT_IF_DATABASE, template))
            drops.append(lambda: cluster.drop_database(WHAT_IF_DATABASE))
        config_path = write_config(folder, CONNECTORS + IN_FORCE, database=database)
        (folder / "draft.toml").write_text(DRAFT, encoding="utf-8")
        stored[backend] = config_path, store_history(config_path)
    return stored[backend]


# --------------------------------------------------------------------------- expected


def is_open(moment: int) -> bool:
    """Whether the business-hours desk is open in the minute starting at `moment`."""
    local = datetime.fromtimestamp(moment, MADRID)
    if local.date() == HOLIDAY:
        return False
    minute = local.hour * 60 + local.minute
    hours = {
        0: [(540, 1080)],
        1: [(540, 1080)],
        2: [(540, 1080)],
        3: [(540, 780), (840, 1080)],
        4: [(540, 900)],
    }.get(local.weekday(), [])
    return any(start <= minute < end for start, end in hours)


def business_deadline(created: int, minutes: int) -> int:
    moment, left = created, minutes
    while left:
        if is_open(moment):
            left -= 1
        moment += 60
    return moment


def deadline(ticket: Generated, minutes: int) -> int:
    if ticket.source == "fd":
        return business_deadline(ticket.created, minutes)
    return ticket.created + minutes * 60


def breached(ticket: Generated, first: int | None, resolution: int | None, now: int) -> bool:
    solved = ticket.solved
    if solved is None and ticket.status in ("solved", "closed"):
        solved = ticket.updated or ticket.created
    responded = ticket.responded if ticket.responded is not None else solved
    for minutes, stopped in ((first, responded), (resolution, solved)):
        if minutes is None:
            continue
        due = deadline(ticket, minutes)
        if (stopped is not None and stopped > due) or (stopped is None and now >= due):
            return True
    return False


def judged(ticket: Generated, rules) -> tuple[str | None, str | None, int | None, int | None]:
    for name, priority, first, resolution, test in rules:
        if test(ticket):
            return name, priority or ticket.priority, first, resolution
    return None, ticket.priority, None, None


def expected_tables(generated: list[Generated], days: int, before_rules, after_rules):
    now = int(NOW.timestamp())
    since = now - days * DAY
    tables = {"priority": {}, "stage": {}, "channel": {}}
    changed = 0
    for ticket in generated:
        if ticket.deleted or ticket.created < since:
            continue
        before = judged(ticket, before_rules)
        after = judged(ticket, after_rules)
        changed += before != after
        flags = (breached(ticket, *before[2:], now), breached(ticket, *after[2:], now))
        for side, outcome in enumerate((before, after)):
            keys = {
                "priority": outcome[1] or "none",
                "stage": ticket.stage or "none",
                "channel": ticket.channel or "none",
            }
            for dimension, key in keys.items():
                cell = tables[dimension].setdefault(key, [0, 0, 0, 0])
                cell[side] += 1
                cell[side + 2] += flags[side]
    for priority in ("urgent", "high", "normal", "low"):  # always shown
        tables["priority"].setdefault(priority, [0, 0, 0, 0])
    return tables, changed


def as_tables(result) -> dict[str, dict[str, list[int]]]:
    return {
        dimension: {
            row.key: [row.before, row.after, row.breached_before, row.breached_after]
            for row in rows
        }
        for dimension, rows in (
            ("priority", result.by_priority),
            ("stage", result.by_stage),
            ("channel", result.by_channel),
        )
    }


def printed_tables(text: str) -> dict[str, dict[str, list[int]]]:
    """The rows of the "By priority / stage / channel" tables `sla simulate` prints."""
    tables, current = {}, None
    for line in text.splitlines():
        title = re.match(r"By (priority|stage|channel)\b", line.strip())
        if title:
            current = tables.setdefault(title[1], {})
            continue
        if line.startswith("Sample"):
            current = None
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if current is not None and len(cells) == 5 and cells[1].replace(",", "").isdigit():
            current[cells[0]] = [int(cell.replace(",", "")) for cell in cells[1:]]
    return tables


# --------------------------------------------------------------------------- the tests


def test_sla_simulate_prints_the_independently_computed_rows(desk):
    config_path, generated = desk
    result = journeydesk(
        "sla",
        "simulate",
        "--config",
        str(config_path),
        "--days",
        "120",
        "--rules",
        str(config_path.parent / "draft.toml"),
    )
    assert result.returncode == 0, result.stderr
    expected, changed = expected_tables(generated, 120, in_force_rules(), draft_rules())
    printed = printed_tables(result.stdout)
    assert printed["priority"] == expected["priority"]
    assert printed["stage"] == expected["stage"]
    assert printed["channel"] == expected["channel"]
    tickets = sum(cell[0] for cell in expected["stage"].values())
    assert f"{tickets:,} tickets created in the last 120 days" in result.stdout
    assert f"{changed:,} change" in result.stdout
    # the history has what the comparison needs to mean something
    assert {"purchase", "consideration", "none"} <= set(printed["stage"])
    assert all(sum(cell[2:]) for cell in printed["stage"].values() if cell[0] > 10)


def test_without_rules_the_rules_in_force_are_set_beside_none(desk):
    config_path, generated = desk
    result = journeydesk("sla", "simulate", "--config", str(config_path), "--days", "30")
    assert result.returncode == 0, result.stderr
    expected, _ = expected_tables(generated, 30, [], in_force_rules())
    assert printed_tables(result.stdout)["priority"] == expected["priority"]
    assert "Before: no rules. After: the rules in force (2, config)" in result.stdout


def test_what_if_matches_the_independent_computation(desk):
    config_path, generated = desk
    config = load_config(config_path, env={"JOURNEYDESK_SECRET": SECRET})
    draft = load_rules_file(config_path.parent / "draft.toml")
    with open_store(config.database_path) as db, clock.moved_to(NOW, frozen=True):
        result = what_if(db, config, draft, days=120, samples=500)
    expected, changed = expected_tables(generated, 120, in_force_rules(), draft_rules())
    assert as_tables(result) == expected
    assert result.changed == changed and result.days == 120
    assert result.since == NOW - timedelta(days=120)
    assert result.tickets == sum(cell[0] for cell in expected["channel"].values())
    # every ticket that changes is a sample (500 is more than there are), newest first
    assert len(result.samples) == changed
    by_id = {(t.source, t.id): t for t in generated}
    created = [by_id[(s.source, s.ticket_id)].created for s in result.samples]
    assert created == sorted(created, reverse=True)
    now = int(NOW.timestamp())
    for sample in result.samples:
        ticket = by_id[(sample.source, sample.ticket_id)]
        before, after = judged(ticket, in_force_rules()), judged(ticket, draft_rules())
        assert (sample.rule_before, sample.priority_before) == before[:2]
        assert (sample.rule_after, sample.priority_after) == after[:2]
        assert sample.breached_before == breached(ticket, *before[2:], now)
        assert sample.breached_after == breached(ticket, *after[2:], now)
        assert (sample.subject, sample.stage, sample.channel) == (
            ticket.subject,
            ticket.stage,
            ticket.channel,
        )


def test_samples_are_the_newest_changed_tickets_up_to_the_limit(desk):
    config_path, _ = desk
    config = load_config(config_path, env={"JOURNEYDESK_SECRET": SECRET})
    draft = load_rules_file(config_path.parent / "draft.toml")
    with open_store(config.database_path) as db, clock.moved_to(NOW, frozen=True):
        every = what_if(db, config, draft, days=120, samples=500)
        three = what_if(db, config, draft, days=120, samples=3)
        none = what_if(db, config, draft, days=120, samples=0)
    assert three.samples == every.samples[:3] and none.samples == ()
    assert as_tables(none) == as_tables(every)


def test_the_same_rules_change_nothing(desk):
    config_path, generated = desk
    config = load_config(config_path, env={"JOURNEYDESK_SECRET": SECRET})
    with open_store(config.database_path) as db, clock.moved_to(NOW, frozen=True):
        draft = load_rules_file(config_path.parent / "draft.toml")
        result = what_if(db, config, draft, current=draft, days=60)
    assert result.changed == 0 and result.samples == ()
    for row in (*result.by_priority, *result.by_stage, *result.by_channel):
        assert (row.before, row.breached_before) == (row.after, row.breached_after)
    expected, _ = expected_tables(generated, 60, draft_rules(), draft_rules())
    assert as_tables(result) == expected


def test_a_summary_key_past_32_bits_reads_back_the_same_groups(desk):
    """Many signals and limits make the combined key of a ticket pass 2**31 (computed in
    64 bits on both engines): the groups are those of a narrow key, split further."""
    config_path, generated = desk
    config = load_config(config_path, env={"JOURNEYDESK_SECRET": SECRET})
    now = int(NOW.timestamp())
    since = now - 120 * DAY
    wide_keys = [f"unused_{n}" for n in range(20)] + ["renewal_due"]
    limits = list(range(60, 6_000, 60))

    def by_priority(groups):
        counted = defaultdict(int)
        for group in groups:
            counted[group.priority] += group.count
        return dict(counted)

    with open_store(config.database_path) as db:
        narrow = window_outcomes(db, since=since, now=now)
        wide = window_outcomes(
            db,
            since=since,
            now=now,
            signal_keys=wide_keys,
            first_response_limits=limits,
            resolution_limits=limits,
            known={"priority": PRIORITIES[:4]},
        )
    assert by_priority(wide) == by_priority(narrow)
    window = [t for t in generated if not t.deleted and t.created >= since]
    assert sum(group.count for group in wide) == len(window)
    renewing = sum(1 for t in window if "renewal_due" in t.signals)
    assert sum(group.count for group in wide if group.signals == 1 << 20) == renewing > 0
    assert max(group.first_response_over for group in wide) == len(limits)


def test_a_rule_on_a_customer_fact_is_judged_with_the_customers_facts(desk):
    """tickets_last_30d is neither stage, signal nor ticket.*: computed per customer."""
    config_path, generated = desk
    config = load_config(config_path, env={"JOURNEYDESK_SECRET": SECRET})
    draft = load_sla_rules(
        {
            "rules": [
                {
                    "name": "busy",
                    "priority": "urgent",
                    "first_response_minutes": 90,
                    "when": {"all": [{"fact": "tickets_last_30d", "op": "gte", "value": 2}]},
                }
            ]
        },
        file="test",
    )
    now = int(NOW.timestamp())
    recent = defaultdict(int)
    owner = {}
    generated_records = generate()[1]
    for source, tickets in generated_records.items():
        for ticket in tickets:
            owner[(source, ticket.id)] = (source, ticket.requester.source_id)
    for ticket in generated:
        if not ticket.deleted and ticket.created >= now - 30 * DAY:
            recent[owner[(ticket.source, ticket.id)]] += 1
    busy = [("busy", "urgent", 90, None, lambda t: recent[owner[(t.source, t.id)]] >= 2)]
    with open_store(config.database_path) as db, clock.moved_to(NOW, frozen=True):
        result = what_if(db, config, draft, days=45, current=load_sla_rules({}, file="none"))
    expected, changed = expected_tables(generated, 45, [], busy)
    assert as_tables(result) == expected and result.changed == changed > 0


def test_business_hours_decide_a_breach_that_calendar_minutes_would_not():
    """Friday 14:30 in Madrid, a 60-minute target, answered Monday 09:10: on business
    hours (Friday closes at 15:00) the deadline is Monday 09:30, met; on calendar minutes
    it was Friday 15:30, breached."""
    created = datetime(2026, 11, 13, 14, 30, tzinfo=MADRID)
    answered = datetime(2026, 11, 16, 9, 10, tzinfo=MADRID)
    ticket = Generated(
        "fd", "1", "Hi", "web", None, "solved", int(created.timestamp()), None,
        int(answered.timestamp()), int(answered.timestamp()), False, "purchase", frozenset(),
    )  # fmt: skip
    assert not breached(ticket, 60, None, int(NOW.timestamp()))
    assert breached(Generated(**{**ticket.__dict__, "source": "zd"}), 60, None, 0)


@pytest.mark.usefixtures("backend")  # once per engine
def test_a_store_with_both_desks_judges_each_on_its_own_calendar(tmp_path):
    config_path = write_config(tmp_path, CONNECTORS)
    config = load_config(config_path, env={"JOURNEYDESK_SECRET": SECRET})
    created = datetime(2026, 11, 13, 14, 30, tzinfo=MADRID)
    answered = datetime(2026, 11, 16, 9, 10, tzinfo=MADRID)
    with open_store(config.database_path) as db:
        for source in ("fd", "zd"):
            ticket = Ticket(
                id="7",
                requester=CustomerRef(source_id="u1"),
                subject="Hi",
                created_at=created,
                status="solved",
                solved_at=answered,
                first_response_at=answered,
            )
            with db.atomic():
                write_tickets(db, source, [ticket])
        draft = load_sla_rules(
            {"rules": [{"name": "fast", "first_response_minutes": 60, "when": {"all": []}}]},
            file="test",
        )
        with clock.moved_to(NOW, frozen=True):
            result = what_if(db, config, draft, days=30)
    assert result.tickets == 2 and result.changed == 2
    assert {(s.source, s.breached_after) for s in result.samples} == {
        ("fd", False),
        ("zd", True),
    }
    assert [(r.key, r.breached_after) for r in result.by_channel] == [("none", 1)]


@pytest.mark.parametrize(
    "text, shown",
    [
        ("[[sla.rules]]\nname = 'x'\npriority = 'asap'\n[sla.rules.when]\nall = []\n",
         ["draft.toml: sla.rules[0]", "priority", "urgent"]),
        ("[[sla.rule]]\nname = 'x'\n", ["draft.toml: sla", "rule", "[[sla.rules]]"]),
        ("[reports]\n", ["draft.toml", "reports", "only SLA rules"]),
        ("[journey]\n", ["draft.toml", "sla", "missing"]),
        ("[[sla.rules]\n", ["draft.toml", "not valid TOML"]),
        ("", ["draft.toml", "sla", "missing"]),
    ],
)  # fmt: skip
def test_a_bad_rules_file_is_refused_in_one_sentence(tmp_path, text, shown):
    config_path = write_config(tmp_path)
    (tmp_path / "draft.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    result = journeydesk(
        "sla", "simulate", "--config", str(config_path), "--rules", str(tmp_path / "draft.toml")
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for part in shown:
        assert part in result.stderr


def test_a_rules_export_file_gives_its_sla_rules(tmp_path):
    exported = tmp_path / "rules.toml"
    exported.write_text(
        "[journey]\nstages = []\n[outreach]\nrules = []\n"
        "[[sla.rules]]\nname = 'all'\npriority = 'high'\n[sla.rules.when]\nall = []\n",
        encoding="utf-8",
    )
    assert [rule.name for rule in load_rules_file(exported).rules] == ["all"]


def test_a_missing_rules_file_is_named(tmp_path):
    with pytest.raises(ConditionError, match="nope.toml: no such file"):
        load_rules_file(tmp_path / "nope.toml")


@pytest.mark.usefixtures("backend")  # once per engine
def test_an_open_ticket_breaches_when_now_reaches_its_deadline(tmp_path):
    """As in targets.py: a running clock is breached at its deadline, not a second later."""
    config = load_config(write_config(tmp_path, CONNECTORS), env={"JOURNEYDESK_SECRET": SECRET})
    with open_store(config.database_path) as db:
        with db.atomic():
            write_tickets(
                db,
                "zd",
                [
                    Ticket(
                        id=str(minutes),
                        requester=CustomerRef(source_id="u1"),
                        subject="Hi",
                        created_at=NOW - timedelta(minutes=minutes),
                        channel=f"{minutes} minutes ago",
                    )
                    for minutes in (59, 60, 61)
                ],
            )
        draft = load_sla_rules(
            {"rules": [{"name": "fast", "first_response_minutes": 60, "when": {"all": []}}]},
            file="test",
        )
        with clock.moved_to(NOW, frozen=True):
            result = what_if(db, config, draft, days=1)
    assert {r.key: r.breached_after for r in result.by_channel} == {
        "59 minutes ago": 0,
        "60 minutes ago": 1,
        "61 minutes ago": 1,
    }
    assert all(r.breached_before == 0 for r in result.by_channel)
