"""/admin/reports: the index, one page per report (filters, chart, table, formulas) and
its CSV download. Thin: parse the filters, call the report, render."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, render_template, request, url_for
from markupsafe import Markup

from plugin import clock
from plugin.errors import NotFound
from plugin.reports.catalog import INDEX, all_reports
from plugin.reports.ranges import PRESETS, last_day, report_filters
from plugin.reports.report import Filters, Report
from plugin.reports.svg import chart_svg, format_value
from plugin.web.admin import bp
from plugin.web.context import db, state

JOURNEY_MAP = "journey-map"


@bp.get("/reports")
def reports():
    """The journey map first (the stages overlaid with their numbers), every report below."""
    return _page(JOURNEY_MAP, index=INDEX, reports=all_reports())


@bp.get("/reports/<name>")
def report(name: str):
    return _page(name)


def _page(name: str, **extra):
    result = _run(name)
    chart = (
        Markup(
            chart_svg(
                result.chart,
                result.columns,
                result.rows,
                chart_id="report-chart",
                described_by="report-table",
            )
        )
        if result.chart
        else None
    )
    template = "journey_map.html" if name == JOURNEY_MAP else "report.html"
    return render_template(
        f"admin/reports/{template}",
        **extra,
        report=result,
        chart=chart,
        cell=format_value,
        desks=[c.name for c in state().config.connectors],
        presets=[(days, _preset_query(result.filters, days)) for days in PRESETS],
        query=_query(result.filters),
        first_day=result.filters.start.date().isoformat(),
        last_day=last_day(result.filters).isoformat(),
        drill=lambda target, row: url_for(
            "admin.report", name=target, item=row.get("item", ""), **_query(result.filters)
        ),
    )


@bp.get("/reports/<name>.csv")
def report_csv(name: str):
    result = _run(name)
    filename = f"journeydesk-{name}-{result.filters.start.date()}-{last_day(result.filters)}.csv"
    return Response(
        result.as_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _run(name: str) -> Report:
    function = all_reports().get(name)
    if function is None:
        raise NotFound(
            f"no report named {name!r} (reports: {', '.join(all_reports())})",
            code="report_not_found",
        )
    filters = report_filters(
        state().config,
        start=request.args.get("from", ""),
        end=request.args.get("to", ""),
        days=request.args.get("days", ""),
        sources=[s for s in request.args.getlist("source") if s],
        item=request.args.get("item", ""),
    )
    return function(db(), filters)


def _query(filters: Filters) -> dict:
    query: dict = {
        "from": filters.start.date().isoformat(),
        "to": last_day(filters).isoformat(),
    }
    if filters.sources:
        query["source"] = list(filters.sources)
    if filters.item:
        query["item"] = filters.item
    return query


def _preset_query(filters: Filters, days: int) -> dict:
    today = clock.now().date()
    query = {**_query(filters), "to": today.isoformat()}
    query["from"] = (today - timedelta(days=days - 1)).isoformat()
    return query
