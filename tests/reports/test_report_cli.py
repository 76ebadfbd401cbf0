"""`journeydesk report` as a script runs it: a real subprocess on a copy of the demo desk."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.helpers.cli import journeydesk
from tests.helpers.config import database_line, write_config
from tests.helpers.copies import private_copy

pytestmark = pytest.mark.usefixtures("backend")


def config_of_a_copy(seeded_demo, folder) -> str:
    """A config file naming a private copy of the demo desk's store (either engine)."""
    copy = private_copy(seeded_demo, folder).database_path
    return str(write_config(folder, database=database_line(str(copy))))


def test_report_prints_a_table_csv_and_json(seeded_demo, tmp_path):
    config = config_of_a_copy(seeded_demo, tmp_path)
    table = journeydesk("report", "tickets", "--config", config)
    assert table.returncode == 0, table.stderr
    assert "Tickets by journey stage" in table.stdout and "Onboarding" in table.stdout
    assert "CSAT: good ratings ÷ (good + bad) ratings" in table.stdout

    args = ("--from", "2026-10-01", "--to", "2026-11-19", "--config", config)
    rows = list(
        csv.DictReader(
            io.StringIO(journeydesk("report", "tickets", *args, "--format", "csv").stdout)
        )
    )
    data = json.loads(journeydesk("report", "tickets", *args, "--format", "json").stdout)
    assert data["from"].startswith("2026-10-01") and data["to"].startswith("2026-11-20")
    assert [r["Tickets"] for r in rows] == [str(r["tickets"]) for r in data["rows"]]
    assert sum(r["tickets"] for r in data["rows"]) > 0
    assert {c["key"]: c["formula"] for c in data["columns"]}["csat"]


def test_report_refuses_an_unknown_name_a_bad_date_and_an_unknown_desk(seeded_demo, tmp_path):
    config = config_of_a_copy(seeded_demo, tmp_path)
    unknown = journeydesk("report", "ticket", "--config", config)
    assert unknown.returncode == 1 and "tickets, tickets-by-channel" in unknown.stderr
    bad = journeydesk("report", "funnel", "--from", "1/11/2026", "--config", config)
    assert bad.returncode == 1 and "write YYYY-MM-DD" in bad.stderr
    desk = journeydesk("report", "funnel", "--source", "zendesk", "--config", config)
    assert desk.returncode == 1 and "configured: demo" in desk.stderr
    swapped = journeydesk(
        "report", "funnel", "--from", "2026-11-10", "--to", "2026-11-01", "--config", config
    )
    assert swapped.returncode == 1 and "swap them" in swapped.stderr
    for result in (unknown, bad, desk, swapped):
        assert "Traceback" not in result.stderr
