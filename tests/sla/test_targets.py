"""SLA targets: business minutes and deadlines in a connector's calendar (weekends, split
days, holidays, the nights the clocks change in Madrid and New York), the met / breached /
running state of a ticket's targets, and a bad `business_hours` stopping start-up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.records import CustomerRef, Ticket
from plugin.clock import to_epoch
from plugin.config import ConfigError, load_config
from plugin.sla.business_hours import (
    DAYS,
    deadline,
    elapsed_business_minutes,
    parse_calendar,
)
from plugin.sla.targets import (
    BREACHED,
    MET,
    NO_TARGET,
    RUNNING,
    clock_stops,
    evaluate,
    limits_passed,
)
from tests.helpers.config import SECRET, write_config

MADRID, NEW_YORK = ZoneInfo("Europe/Madrid"), ZoneInfo("America/New_York")
OFFICE = {"timezone": "Europe/Madrid", **{day: "09:00-18:00" for day in DAYS[:5]}}
ALWAYS = {day: "00:00-24:00" for day in DAYS}


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def minutes(start: datetime, end: datetime, table: dict | None) -> float:
    return elapsed_business_minutes(start, end, parse_calendar(table) if table else None)


# Business minutes and deadlines.


def test_a_weekend_counts_nothing():
    friday, monday = local(MADRID, 2026, 3, 6, 17), local(MADRID, 2026, 3, 9, 10)
    assert minutes(friday, monday, OFFICE) == 120
    saturday, sunday = local(MADRID, 2026, 3, 7, 10), local(MADRID, 2026, 3, 8, 20)
    assert minutes(saturday, sunday, OFFICE) == 0


def test_a_deadline_past_friday_lands_on_monday_morning():
    calendar = parse_calendar(OFFICE)
    assert deadline(local(MADRID, 2026, 3, 6, 17), 120, calendar) == local(MADRID, 2026, 3, 9, 10)
    # A whole working day from Friday 18:00 ends at Monday 18:00, not Monday 09:00.
    assert deadline(local(MADRID, 2026, 3, 6, 18), 540, calendar) == local(MADRID, 2026, 3, 9, 18)
    # Created on Saturday: the clock starts on Monday at 09:00.
    assert deadline(local(MADRID, 2026, 3, 7, 11), 30, calendar) == local(MADRID, 2026, 3, 9, 9, 30)


def test_split_days_skip_the_lunch_break():
    table = {"timezone": "Europe/Madrid", "wed": "09:00-13:00,14:00-18:00"}
    calendar = parse_calendar(table)
    start = local(MADRID, 2026, 3, 4, 12, 30)
    assert deadline(start, 60, calendar) == local(MADRID, 2026, 3, 4, 14, 30)
    assert minutes(local(MADRID, 2026, 3, 4, 12), local(MADRID, 2026, 3, 4, 15), table) == 120
    # The next Wednesday holds the rest: 8 hours a week.
    assert deadline(start, 60 * 8, calendar) == local(MADRID, 2026, 3, 11, 12, 30)


@pytest.mark.parametrize(
    "zone, night",
    [
        (MADRID, (2026, 3, 29)),  # 02:00 -> 03:00
        (NEW_YORK, (2026, 3, 8)),  # 02:00 -> 03:00
    ],
)
def test_spring_forward_night(zone, night):
    always = {"timezone": zone.key, **ALWAYS}
    day = datetime(*night)
    before, after = day - timedelta(hours=12), day + timedelta(hours=12)
    start, end = before.replace(tzinfo=zone), after.replace(tzinfo=zone)
    assert minutes(start, end, always) == 23 * 60  # a day an hour short
    # Office hours are wall-clock hours: nine real hours on the Monday after, too.
    office = {**OFFICE, "timezone": zone.key}
    friday, monday = day - timedelta(days=2), day + timedelta(days=1)
    start = friday.replace(hour=9, tzinfo=zone)
    end = monday.replace(hour=18, tzinfo=zone)
    assert minutes(start, end, office) == 2 * 9 * 60
    assert deadline(start, 2 * 9 * 60, parse_calendar(office)) == end
    # Open in the small hours of that Sunday: 00:00-06:00 lasts five hours.
    night_shift = {"timezone": zone.key, "sun": "00:00-06:00"}
    sunday = day.replace(tzinfo=zone)
    assert minutes(sunday, sunday + timedelta(hours=12), night_shift) == 5 * 60


@pytest.mark.parametrize(
    "zone, night",
    [
        (MADRID, (2026, 10, 25)),  # 03:00 -> 02:00
        (NEW_YORK, (2026, 11, 1)),  # 02:00 -> 01:00
    ],
)
def test_fall_back_night(zone, night):
    always = {"timezone": zone.key, **ALWAYS}
    day = datetime(*night)
    start = (day - timedelta(hours=12)).replace(tzinfo=zone)
    end = (day + timedelta(hours=12)).replace(tzinfo=zone)
    assert minutes(start, end, always) == 25 * 60  # a day an hour long
    night_shift = {"timezone": zone.key, "sun": "00:00-06:00"}
    sunday = day.replace(tzinfo=zone)
    assert minutes(sunday, sunday + timedelta(hours=12), night_shift) == 7 * 60
    calendar = parse_calendar(night_shift)
    assert deadline(sunday, 7 * 60, calendar) == sunday.replace(hour=6)


def test_weeks_across_the_clock_changes_count_working_days():
    calendar = parse_calendar(OFFICE)
    # Five weeks from 2 March (CET) to 6 April (CEST): 25 working days of 9 hours.
    start, end = local(MADRID, 2026, 3, 2, 9), local(MADRID, 2026, 4, 6, 9)
    assert calendar.elapsed_minutes(start, end) == 25 * 9 * 60
    assert calendar.deadline(start, 25 * 9 * 60) == local(MADRID, 2026, 4, 3, 18)
    # A whole year: 261 working days in 2026.
    year = calendar.elapsed_minutes(local(MADRID, 2026, 1, 1), local(MADRID, 2027, 1, 1))
    assert year == 261 * 9 * 60


def test_holidays_are_closed():
    table = {**OFFICE, "holidays": ["2026-12-25", datetime(2027, 1, 1).date()]}
    calendar = parse_calendar(table)
    thursday = local(MADRID, 2026, 12, 24, 17)
    assert deadline(thursday, 120, calendar) == local(MADRID, 2026, 12, 28, 10)
    weeks = minutes(local(MADRID, 2026, 12, 21), local(MADRID, 2027, 1, 11), table)
    assert weeks == (15 - 2) * 9 * 60


def test_hours_across_midnight_are_two_intervals():
    table = {"timezone": "America/New_York", "fri": "22:00-24:00", "sat": "00:00-02:00"}
    calendar = parse_calendar(table)
    friday = local(NEW_YORK, 2026, 5, 15, 23)
    assert deadline(friday, 120, calendar) == local(NEW_YORK, 2026, 5, 16, 1)
    assert minutes(friday, local(NEW_YORK, 2026, 5, 22, 23), table) == 60 + 120 + 60


def test_no_calendar_counts_calendar_minutes():
    start = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert elapsed_business_minutes(start, start + timedelta(days=2), None) == 2 * 1440
    assert elapsed_business_minutes(start, start - timedelta(hours=1), None) == 0
    assert deadline(start, 90, None) == start + timedelta(minutes=90)
    assert parse_calendar({}) is None


@pytest.mark.parametrize("zone", ["Europe/Madrid", "America/New_York"])
def test_minutes_match_a_minute_by_minute_count(zone):
    """Against an independent count: every 5 minutes of a range, is the wall clock open?"""
    table = {
        "timezone": zone,
        "mon": "00:00-03:30,09:00-18:00",
        "tue": "09:00-13:00,14:00-18:00",
        "wed": "09:00-18:00",
        "thu": "08:00-20:00",
        "fri": "09:00-17:00,22:00-24:00",
        "sun": "01:00-04:00",
        "holidays": ["2026-03-11", "2026-10-29"],
    }
    calendar = parse_calendar(table)
    tz = ZoneInfo(zone)

    def open_at(moment: datetime) -> bool:
        wall = moment.astimezone(tz)
        if wall.date().isoformat() in table["holidays"]:
            return False
        minute = wall.hour * 60 + wall.minute
        for part in filter(None, table.get(DAYS[wall.weekday()], "").split(",")):
            start, end = ((int(t[:2]) * 60 + int(t[3:])) for t in part.split("-"))
            if start <= minute < end:
                return True
        return False

    rng = random.Random(14)
    for month in (3, 10, 11):
        for _ in range(4):
            start = datetime(2026, month, 1, tzinfo=UTC) + timedelta(
                minutes=5 * rng.randrange(8000)
            )
            end = start + timedelta(minutes=5 * rng.randrange(1, 12_000))
            step, count, moment = timedelta(minutes=5), 0, start
            while moment < end:
                count += open_at(moment)
                moment += step
            used = calendar.elapsed_minutes(start, end)
            assert used == count * 5, (start, end)
            if used:
                due = calendar.deadline(start, used)
                assert due <= end and calendar.elapsed_minutes(start, due) == used
                assert calendar.elapsed_minutes(start, due - timedelta(seconds=1)) < used


def test_fast_enough_for_millions_of_tickets():
    import time

    calendar = parse_calendar(OFFICE)
    base = local(MADRID, 2026, 1, 1).timestamp()
    began = time.perf_counter()
    for i in range(20_000):
        start = base + i * 1_571  # spread over the year
        calendar.open_seconds(start, start + 86_400 * (i % 40))
        calendar.deadline_epoch(start, 60 * (i % 3000))
    assert time.perf_counter() - began < 2  # ~5 µs a ticket here, seconds for 2M


# Targets of a ticket.

CREATED = local(MADRID, 2026, 3, 6, 17)  # a Friday, an hour before closing


def ticket(**fields) -> Ticket:
    return Ticket(
        id="1", requester=CustomerRef(source_id="c"), subject="s", created_at=CREATED, **fields
    )


def test_met_and_breached_in_business_minutes():
    answered = local(MADRID, 2026, 3, 9, 9, 30)  # Monday: 90 business minutes on
    solved = local(MADRID, 2026, 3, 10, 12)
    result = evaluate(
        ticket(first_response_at=answered, solved_at=solved, status="solved"),
        120,
        480,
        parse_calendar(OFFICE),
        now=local(MADRID, 2026, 4, 1),
    )
    first, resolution = result.first_response, result.resolution
    assert (first.state, first.minutes_used, first.deadline) == (
        MET,
        90,
        local(MADRID, 2026, 3, 9, 10),
    )
    assert (resolution.state, resolution.minutes_used) == (BREACHED, 60 + 540 + 180)
    assert resolution.deadline == local(MADRID, 2026, 3, 9, 16)  # 60 on Friday, 420 Monday
    assert result.breached and not first.breached


def test_an_answer_outside_hours_uses_no_business_minutes():
    saturday = local(MADRID, 2026, 3, 7, 11)
    result = evaluate(
        ticket(first_response_at=saturday), 120, None, parse_calendar(OFFICE), now=saturday
    )
    assert result.first_response.state == MET and result.first_response.minutes_used == 60
    # Past a deadline that fell at Friday's closing time it is late, though no more
    # business minutes went by: the target was used up at 18:00.
    result = evaluate(
        ticket(first_response_at=saturday), 60, None, parse_calendar(OFFICE), now=saturday
    )
    assert result.first_response.deadline == local(MADRID, 2026, 3, 6, 18)
    assert result.first_response.state == BREACHED
    # With calendar minutes the same answer is 18 hours late.
    result = evaluate(ticket(first_response_at=saturday), 120, None, None, now=saturday)
    assert result.first_response.state == BREACHED
    assert result.first_response.minutes_used == 18 * 60


def test_an_open_ticket_is_running_until_its_deadline_passes():
    calendar = parse_calendar(OFFICE)
    open_ticket = ticket(status="open")
    saturday = local(MADRID, 2026, 3, 7, 12)
    early = evaluate(open_ticket, 120, 60 * 24, calendar, now=saturday)
    assert early.first_response.state == RUNNING and early.first_response.stopped_at is None
    assert early.first_response.minutes_used == 60
    assert early.resolution.state == RUNNING and not early.breached
    late = evaluate(open_ticket, 120, 60 * 24, calendar, now=local(MADRID, 2026, 3, 9, 10, 1))
    assert late.first_response.state == BREACHED and late.first_response.stopped_at is None
    assert late.resolution.state == RUNNING and late.breached


def test_no_target_still_reports_the_minutes_used():
    solved = local(MADRID, 2026, 3, 6, 17, 45)
    result = evaluate(ticket(solved_at=solved, status="solved"), None, None, parse_calendar(OFFICE))
    assert result.first_response.state == NO_TARGET and result.first_response.deadline is None
    # Solved without a reply: the solve stops the first-response clock.
    assert result.first_response.stopped_at == solved
    assert result.resolution.minutes_used == 45 and not result.breached
    assert evaluate(ticket(), None, None).resolution.minutes_used is None


def test_a_solved_ticket_without_a_solve_time_stops_at_its_last_change():
    updated = local(MADRID, 2026, 3, 6, 17, 20)
    result = evaluate(ticket(status="closed", updated_at=updated), None, 30, None)
    assert result.resolution.stopped_at == updated and result.resolution.state == MET


def test_naive_times_are_utc():
    naive = ticket(first_response_at=datetime(2026, 3, 6, 16, 30), status="open")
    result = evaluate(naive, 60, None, None, now=datetime(2026, 3, 6, 18))
    assert result.first_response.minutes_used == 30 and result.first_response.state == MET


# Configuration.


def config_with(tmp_path, table: str):
    body = (
        "[[connectors]]\nname='fd'\ntype='freshdesk'\ndomain='acme.freshdesk.com'\n"
        f"api_key_env='JOURNEYDESK_SECRET'\n{table}"
    )
    return write_config(tmp_path, body)


def test_a_connector_reads_its_business_hours(tmp_path):
    table = "[connectors.business_hours]\ntimezone='Europe/Madrid'\nmon='09:00-18:00'\n"
    config = load_config(config_with(tmp_path, table), env={"JOURNEYDESK_SECRET": SECRET})
    calendar = config.connector("fd").business_calendar()
    assert calendar is not None and calendar.zone.key == "Europe/Madrid"
    assert config.connector("demo").business_calendar() is None


def test_zendesk_takes_an_inline_table(tmp_path):
    body = (
        "[[connectors]]\nname='zd'\ntype='zendesk'\nsubdomain='a'\nemail='e@x'\n"
        "token_env='JOURNEYDESK_SECRET'\n"
        "business_hours = { timezone = 'America/New_York', fri = '09:00-13:00,14:00-17:00' }\n"
    )
    config = load_config(write_config(tmp_path, body), env={"JOURNEYDESK_SECRET": SECRET})
    assert config.connector("zd").business_calendar().week[4] == ((540, 780), (840, 1020))


@pytest.mark.parametrize(
    "table, key, fix",
    [
        ("business_hours = '09:00-18:00'\n", "business_hours", "business_hours = {"),
        (
            "[connectors.business_hours]\ntimezone='UTC'\ntues='09:00-18:00'\n",
            "business_hours.tues",
            "Monday is mon",
        ),
        (
            "[connectors.business_hours]\ntimezone='Europe/Madird'\nmon='09:00-18:00'\n",
            "business_hours.timezone",
            'timezone = "Europe/Madrid"',
        ),
        ("[connectors.business_hours]\nmon='09:00-18:00'\n", "business_hours.timezone", "IANA"),
        (
            "[connectors.business_hours]\ntimezone='UTC'\nmon='9am-6pm'\n",
            "business_hours.mon",
            "HH:MM",
        ),
        (
            "[connectors.business_hours]\ntimezone='UTC'\ntue='09:00-25:00'\n",
            "business_hours.tue",
            "HH:MM",
        ),
        (
            "[connectors.business_hours]\ntimezone='UTC'\nwed='18:00-09:00'\n",
            "business_hours.wed",
            "an interval past midnight is two",
        ),
        (
            "[connectors.business_hours]\ntimezone='UTC'\nthu='09:00-14:00,13:00-18:00'\n",
            "business_hours.thu",
            "without overlaps",
        ),
        (
            "[connectors.business_hours]\ntimezone='UTC'\nfri=9\n",
            "business_hours.fri",
            '"09:00-18:00"',
        ),
        (
            "[connectors.business_hours]\ntimezone='UTC'\nsat=''\n",
            "business_hours.mon",
            "calendar minutes",
        ),
        (
            "[connectors.business_hours]\ntimezone='UTC'\nmon='09:00-18:00'\nholidays=['25/12']\n",
            "business_hours.holidays",
            '"2026-12-25"',
        ),
    ],
)
def test_bad_business_hours_name_file_key_and_fix(tmp_path, table, key, fix):
    path = config_with(tmp_path, table)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"JOURNEYDESK_SECRET": SECRET})
    message = str(info.value)
    assert str(path) in message and f"connectors[1].{key}:" in message and fix in message


# Many targets at once (what the what-if counts with).


@pytest.mark.parametrize("table", [None, OFFICE, {**OFFICE, "holidays": ["2026-03-06"]}])
def test_limits_passed_agrees_with_evaluate_for_every_target(table):
    """Random tickets, on calendar minutes and on business hours: the count of targets a
    clock ran past says of each target what `evaluate` says — ties included (answers at
    the deadline, or in closed hours right after it)."""
    calendar = parse_calendar(table) if table else None
    rng = random.Random(14)
    limits = [60 * m for m in (1, 30, 60, 90, 480, 540, 1440)]
    now = local(MADRID, 2026, 3, 20, 12, 0)
    for _ in range(400):
        created = local(MADRID, 2026, 3, 2, 0, 0) + timedelta(minutes=rng.randrange(14 * 1440))
        created = min(created, now)
        minutes = rng.choice(limits) // 60
        due = deadline(created, minutes, calendar)
        stops = [
            None,
            due,
            due + timedelta(seconds=1),
            due - timedelta(seconds=1),
            due + timedelta(hours=rng.randrange(60)),
            created + timedelta(minutes=rng.randrange(5000)),
        ]
        stopped = rng.choice(stops)
        if stopped is not None and stopped > now:
            stopped = None
        record = Ticket(
            id="1",
            requester=CustomerRef(source_id="c"),
            subject="s",
            created_at=created,
            first_response_at=stopped,
        )
        responded, _ = clock_stops("open", *(to_epoch(t) for t in (created, None, None, stopped)))
        passed = limits_passed(to_epoch(created), responded, limits, calendar, to_epoch(now))
        for index, limit in enumerate(limits):
            expected = evaluate(record, limit // 60, None, calendar, now).first_response.breached
            assert (index < passed) == expected, (created, stopped, limit)


def test_clock_stops_as_evaluate_stops_them():
    assert clock_stops("open", 100, 150, None, None) == (None, None)
    assert clock_stops("open", 100, 150, None, 120) == (120, None)
    assert clock_stops("solved", 100, 150, None, None) == (150, 150)
    assert clock_stops("closed", 100, None, None, None) == (100, 100)
    assert clock_stops("solved", 100, 150, 140, 110) == (110, 140)
