"""The report pages over HTTP: filters, the formula beside every number, drill-downs,
the CSV download, and bad input answered with a 4xx."""

from __future__ import annotations

import csv
import io
import re

import pytest

from plugin.app import create_app
from plugin.security import Secret
from tests.helpers.copies import private_copy

PASSWORD = "reports admin password"
pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def admin(seeded_demo, tmp_path):
    app = create_app(private_copy(seeded_demo, tmp_path, admin_password=Secret(PASSWORD)))
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").text)
    client.post(
        "/admin/login", data={"password": PASSWORD, "name": "Ana", "csrf_token": token.group(1)}
    )
    return client


def test_the_index_shows_the_journey_map_then_lists_the_reports(admin):
    page = admin.get("/admin/reports").text
    assert 'href="/admin/reports"' in page and ">Reports</a>" in page
    assert page.index("<h1>Journey map") < page.index('id="all-reports"')
    listed = page.split('id="all-reports"')[1]
    for name in (
        "tickets",
        "tickets-by-channel",
        "tickets-over-time",
        "funnel",
        "pain-points",
        "touchpoints",
        "effort",
        "reply-guard",
        "outreach-outcomes",
    ):
        assert f'href="/admin/reports/{name}?from=' in listed  # keeping the range shown


@pytest.mark.parametrize(
    "name",
    [
        "tickets",
        "tickets-by-channel",
        "tickets-over-time",
        "funnel",
        "stage-transitions",
        "pain-points",
    ],
)
def test_each_report_page_has_chart_table_formulas_and_csv(admin, name):
    response = admin.get(f"/admin/reports/{name}?from=2026-09-01&to=2026-11-19")
    assert response.status_code == 200
    page = response.text
    assert 'id="report-table"' in page
    if name != "stage-transitions":  # the demo's history has no moves yet
        assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in page
        assert 'role="img"' in page and 'aria-describedby="report-table"' in page
    headers = re.findall(r'<th scope="col"[^>]*aria-describedby="how-([\w-]+)"', page)
    assert headers, "every number's column names its formula"
    for key in headers:
        assert re.search(rf'<li id="how-{key}" value="\d+"><strong>[^<]+</strong>: \S', page), key
    assert f'href="/admin/reports/{name}.csv?from=2026-09-01&amp;to=2026-11-19"' in page
    download = admin.get(f"/admin/reports/{name}.csv?from=2026-09-01&to=2026-11-19")
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="journeydesk-{name}-2026-09-01-2026-11-19.csv"'
    )
    assert download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] and all(len(row) == len(rows[0]) for row in rows)


def test_the_default_range_is_the_last_30_days_and_presets_link_7_30_90(admin):
    page = admin.get("/admin/reports/tickets").text
    assert 'name="from" value="2026-10-22"' in page and 'name="to" value="2026-11-20"' in page
    for days, start in ((7, "2026-11-14"), (30, "2026-10-22"), (90, "2026-08-23")):
        assert f'href="/admin/reports/tickets?from={start}&amp;to=2026-11-20"' in page, days
    assert 'class="btn btn-small active" aria-current="true"' in page


def test_a_desk_filter_narrows_and_is_kept_in_the_links(admin):
    page = admin.get("/admin/reports/tickets?source=demo&from=2026-11-01&to=2026-11-19").text
    assert 'value="demo" checked' in page
    assert "tickets.csv?from=2026-11-01&amp;to=2026-11-19&amp;source=demo" in page


def test_pain_points_drill_down_to_the_tickets(admin):
    page = admin.get("/admin/reports/pain-points?from=2026-09-01&to=2026-11-19").text
    link = re.search(r'href="(/admin/reports/pain-point-tickets\?[^"]+)"', page).group(1)
    assert "item=demo:" in link
    drill = admin.get(link.replace("&amp;", "&"))
    assert drill.status_code == 200 and "Tickets after reading" in drill.text
    assert drill.text.count("<tr>") > 2


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("/admin/reports/tickets?from=2026-13-01", 400, "write YYYY-MM-DD"),
        ("/admin/reports/tickets?from=2026-11-10&to=2026-11-01", 400, "swap them"),
        ("/admin/reports/tickets?from=2020-01-01&to=2026-11-01", 400, "shorter"),
        ("/admin/reports/tickets?source=zendesk", 400, "configured: demo"),
        ("/admin/reports/tickets.csv?to=yesterday", 400, "write YYYY-MM-DD"),
        ("/admin/reports/pain-point-tickets", 400, "source:article id"),
        ("/admin/reports/nothing", 404, "tickets, tickets-by-channel"),
        ("/admin/reports/nothing.csv", 404, "no report named"),
    ],
)
def test_bad_input_is_a_clear_4xx(admin, query, status, says):
    response = admin.get(query)
    assert response.status_code == status
    assert says in response.text and "Traceback" not in response.text
