"""The SVG charts: pure functions of a spec and rows, read as a browser and a screen
reader would (parsed XML, not string snapshots)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from plugin.reports.report import Chart, Column
from plugin.reports.svg import COLOURS, DASHES, chart_svg, format_value

NS = {"s": "http://www.w3.org/2000/svg"}
COLUMNS = (
    Column("stage", "Stage", kind="text"),
    Column("tickets", "Tickets"),
    Column("rate", "Rate", kind="percent"),
)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def data_bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "bar"]


def texts_of(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_a_bar_chart_draws_one_bar_per_row_with_its_number_and_names_its_table():
    rows = [{"stage": "Awareness", "tickets": 4}, {"stage": "Retention", "tickets": 10}]
    root = parse(
        chart_svg(
            Chart("bar", "stage", ("tickets",), "Tickets per stage", y_label="tickets"),
            COLUMNS,
            rows,
            described_by="report-table",
        )
    )
    assert root.get("role") == "img" and root.get("aria-describedby") == "report-table"
    assert root.find("s:title", NS).text == "Tickets per stage"
    assert (
        "Retention" in root.find("s:desc", NS).text and "highest 10" in root.find("s:desc", NS).text
    )
    bars = data_bars(root)
    assert len(bars) == 2
    assert float(bars[1].get("width")) > 2 * float(bars[0].get("width"))  # 10 vs 4, to scale
    texts = texts_of(root)
    assert "4" in texts and "10" in texts and "AwarenessAwareness" in texts  # title + label
    assert "tickets" in texts  # the value axis says what it counts


def test_stacked_series_differ_by_pattern_not_colour_alone_and_have_a_legend():
    columns = (
        Column("a", "Article", kind="text"),
        Column("x", "Followed"),
        Column("y", "Not followed"),
    )
    rows = [{"a": "Reset", "x": 3, "y": 7}, {"a": "Export", "x": 1, "y": 0}]
    root = parse(chart_svg(Chart("stacked", "a", ("x", "y")), columns, rows))
    patterns = root.findall("s:defs/s:pattern", NS)
    assert len(patterns) == 2 and len(list(patterns[0])) == 1 and len(list(patterns[1])) == 2
    legend = [
        t.text
        for t in root.iter("{http://www.w3.org/2000/svg}text")
        if t.text in ("Followed", "Not followed")
    ]
    assert legend == ["Followed", "Not followed"]
    assert len(data_bars(root)) == 3  # a zero is not drawn
    assert "10" in texts_of(root)  # the total


def test_a_line_chart_gives_each_series_its_own_dash_and_marker_and_labels_its_end():
    columns = (Column("week", "Week", kind="date"), Column("e", "Email"), Column("c", "Chat"))
    rows = [{"week": f"2026-10-{d:02d}", "e": d, "c": 30 - d} for d in (5, 12, 19, 26)]
    root = parse(chart_svg(Chart("line", "week", ("e", "c"), y_label="tickets"), columns, rows))
    lines = root.findall(".//s:polyline", NS)
    assert len(lines) == 2 and len(lines[0].get("points").split()) == 4
    assert (
        lines[0].get("stroke-dasharray") is None and lines[1].get("stroke-dasharray") == DASHES[1]
    )
    texts = texts_of(root)
    assert "Email 26" in texts and "Chat 4" in texts  # direct labels at the ends
    assert "Oct 5" in texts and "tickets" in texts


def test_long_rows_are_pivoted_and_the_smallest_series_grouped_as_other():
    columns = (
        Column("week", "Week", kind="date"),
        Column("move", "Move", kind="text"),
        Column("n", "Moves"),
    )
    rows = [{"week": "2026-11-02", "move": f"m{i}", "n": 10 - i} for i in range(9)]
    root = parse(chart_svg(Chart("stacked", "week", ("n",), split="move"), columns, rows))
    legend = [
        t.text
        for t in root.iter("{http://www.w3.org/2000/svg}text")
        if t.text and t.text.startswith(("m", "Other"))
    ]
    assert legend == ["m0", "m1", "m2", "m3", "m4", "m5", "Other (3)"]
    assert "54" in texts_of(root)  # 10+9+...+2


def test_names_are_escaped_and_an_empty_range_says_so():
    rows = [{"stage": "<script>alert(1)</script>", "tickets": 1}]
    svg = chart_svg(Chart("bar", "stage", ("tickets",)), COLUMNS, rows)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    empty = parse(
        chart_svg(Chart("bar", "stage", ("tickets",)), COLUMNS, [{"stage": "A", "tickets": 0}])
    )
    assert [t.text for t in empty.iter("{http://www.w3.org/2000/svg}text")] == [
        "No data in this range."
    ]


def test_percent_axes_and_values_read_as_percentages():
    rows = [{"stage": "A", "rate": 0.25}, {"stage": "B", "rate": 0.5}]
    root = parse(chart_svg(Chart("bar", "stage", ("rate",)), COLUMNS, rows))
    texts = texts_of(root)
    assert "50.0%" in texts and "25.0%" in texts and "60%" in texts
    assert format_value(95.0, "minutes") == "1.6 h" and format_value(1.834, "ratio") == "1.83×"


def contrast(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def test_every_series_colour_reads_against_white():
    assert all(contrast(colour) >= 4.5 for colour in COLOURS)
    assert len(set(DASHES)) == len(DASHES)
