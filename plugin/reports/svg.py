"""Charts as server-rendered SVG: a `Chart` spec and a report's rows in, an SVG string out.

No script and no inline style (presentation attributes only), so a chart works under any
Content-Security-Policy and without JavaScript. Bars run horizontally, one band per row,
so long names (articles, moves) stay readable at tablet width; lines run over dates.
Colour is never alone: each series also has its own pattern (bars) or dash and marker
(lines), numbers are written beside the bars and the lines are labelled at their ends.
The numbers themselves are in the table the chart's `aria-describedby` points at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from plugin.reports.report import Chart, Column

WIDTH = 760
LABEL_WIDTH = 250
BAND = 30
BAR = 20
TOP = 44
FONT = 14
MAX_SERIES = 6
OTHER = "Other"

COLOURS = ("#0b5cad", "#b35900", "#1b7f5a", "#7b3fb5", "#a3186b", "#4d4d4d", "#7a5c00")
"""Each at least 4.5:1 against white (WCAG 1.4.11 asks 3:1 of graphics)."""
DASHES = ("", "8 4", "2 3", "10 3 2 3", "4 4", "1 2", "12 2")
MARKERS = ("circle", "square", "triangle", "diamond", "circle", "square", "triangle")


def chart_svg(
    chart: Chart,
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    *,
    chart_id: str = "chart",
    described_by: str = "",
) -> str:
    """The chart as an `<svg role="img">` with a `<title>` and a `<desc>` summing it up;
    `described_by` names the element (the table) holding its numbers."""
    labels = {c.key: c.label for c in columns}
    kinds = {c.key: c.kind for c in columns}
    categories, series = _series(chart, rows, labels)
    title = chart.title or ", ".join(name for name, _ in series)
    if not categories or not series or all(v == 0 for _, values in series for v in values):
        return _empty(title, chart_id, described_by)
    kind = kinds.get(chart.series[0], "number") if chart.series else "number"
    if chart.kind == "line":
        body, height = _lines(categories, series, kind, chart.y_label)
    else:
        body, height = _bars(
            categories, series, kind, stacked=chart.kind == "stacked", axis_label=chart.y_label
        )
    summary = _summary(categories, series, kind)
    return _frame(title, summary, chart_id, described_by, height, _defs(len(series)) + body)


def _series(
    chart: Chart, rows: Sequence[dict[str, Any]], labels: dict[str, str]
) -> tuple[list[str], list[tuple[str, list[float]]]]:
    """The categories (x) and each series' values; long rows are pivoted on `split`,
    keeping the largest series and summing the rest as "Other"."""
    if not chart.split:
        categories = [str(row.get(chart.x, "")) for row in rows]
        series = [
            (labels.get(key, key), [_number(row.get(key)) for row in rows]) for key in chart.series
        ]
        return categories, series
    value_key = chart.series[0]
    categories: list[str] = []
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        category = str(row.get(chart.x, ""))
        if category not in categories:
            categories.append(category)
        name = str(row.get(chart.split, ""))
        cells = table.setdefault(name, {})
        cells[category] = cells.get(category, 0.0) + _number(row.get(value_key))
    ranked = sorted(table, key=lambda name: (-sum(table[name].values()), name))
    kept, rest = ranked[:MAX_SERIES], ranked[MAX_SERIES:]
    series = [(name, [table[name].get(c, 0.0) for c in categories]) for name in kept]
    if rest:
        series.append(
            (
                f"{OTHER} ({len(rest)})",
                [sum(table[n].get(c, 0.0) for n in rest) for c in categories],
            )
        )
    return categories, series


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def _frame(
    title: str, summary: str, chart_id: str, described_by: str, height: int, body: str
) -> str:
    described = f' aria-describedby="{escape(described_by)}"' if described_by else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc"{described} '
        f'font-family="system-ui, sans-serif" font-size="{FONT}" fill="#1f2933">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(summary)}</desc>{body}</svg>'
    )


def _empty(title: str, chart_id: str, described_by: str) -> str:
    text = (
        f'<text x="{WIDTH / 2}" y="40" text-anchor="middle" fill="#4d4d4d">'
        "No data in this range.</text>"
    )
    return _frame(title, "No data in this range.", chart_id, described_by, 70, text)


def _defs(count: int) -> str:
    """A pattern per series: solid, hatched, dotted, cross-hatched, ... in its colour."""
    patterns = []
    for n in range(count):
        colour = COLOURS[n % len(COLOURS)]
        marks = (
            "",
            '<path d="M0,8 L8,0" stroke="#fff" stroke-width="2"/>',
            '<circle cx="4" cy="4" r="1.6" fill="#fff"/>',
            '<path d="M0,4 H8 M4,0 V8" stroke="#fff" stroke-width="1.5"/>',
            '<path d="M0,0 L8,8" stroke="#fff" stroke-width="2"/>',
            '<path d="M0,4 H8" stroke="#fff" stroke-width="2"/>',
            '<path d="M4,0 V8" stroke="#fff" stroke-width="2"/>',
        )[n % 7]
        patterns.append(
            f'<pattern id="p{n}" width="8" height="8" patternUnits="userSpaceOnUse">'
            f'<rect width="8" height="8" fill="{colour}"/>{marks}</pattern>'
        )
    return f"<defs>{''.join(patterns)}</defs>"


def _legend(series: Sequence[tuple[str, list[float]]], *, lines: bool) -> tuple[str, int]:
    """The legend's SVG and its lowest baseline (a single bar series needs none)."""
    if len(series) < 2 and not lines:
        return "", 0
    parts, x, y = [], 8, 16
    for n, (name, _values) in enumerate(series):
        text = _clip(name, 28)
        width = 26 + 7.2 * len(text) + 18
        if x + width > WIDTH:
            x, y = 8, y + 20
        if lines:
            colour = COLOURS[n % len(COLOURS)]
            dash = (
                f' stroke-dasharray="{DASHES[n % len(DASHES)]}"' if DASHES[n % len(DASHES)] else ""
            )
            swatch = (
                f'<line x1="{x}" y1="{y - 4}" x2="{x + 20}" y2="{y - 4}" stroke="{colour}" '
                f'stroke-width="2.5"{dash}/>' + _marker(n, x + 10, y - 4)
            )
        else:
            swatch = (
                f'<rect x="{x}" y="{y - 12}" width="18" height="14" fill="url(#p{n})" '
                'stroke="#1a1a1a" stroke-width="0.5"/>'
            )
        parts.append(
            f'<g class="legend-item">{swatch}<text x="{x + 26}" y="{y}">{escape(text)}</text></g>'
        )
        x += width
    return f'<g class="legend">{"".join(parts)}</g>', y


def _bars(
    categories: list[str],
    series: list[tuple[str, list[float]]],
    kind: str,
    *,
    stacked: bool,
    axis_label: str = "",
) -> tuple[str, int]:
    legend_svg, legend_bottom = _legend(series, lines=False)
    top = legend_bottom + 24 if legend_svg else 16
    per_band = 1 if stacked else len(series)
    band = BAND if per_band == 1 else per_band * (BAR // 2 + 6) + 10
    totals = [
        sum(values[i] for _, values in series) if stacked else max(v[i] for _, v in series)
        for i in range(len(categories))
    ]
    top_value, ticks = _axis(max(totals), kind)
    plot = WIDTH - LABEL_WIDTH - 70
    scale = plot / top_value
    parts = [legend_svg]
    parts.append(
        _value_axis(top_value, ticks, LABEL_WIDTH, top, top + band * len(categories), plot, kind)
    )
    for i, category in enumerate(categories):
        y = top + i * band
        label = _clip(category, (LABEL_WIDTH - 12) // 8)
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + band / 2 + 4}" text-anchor="end">'
            f"<title>{escape(category)}</title>{escape(label)}</text>"
        )
        x = LABEL_WIDTH
        for n, (name, values) in enumerate(series):
            value = values[i]
            width = value * scale
            height = BAR if per_band == 1 else BAR // 2 + 2
            bar_y = y + (band - BAR) / 2 if per_band == 1 else y + 5 + n * (BAR // 2 + 6)
            if width > 0:
                parts.append(
                    f'<rect class="bar" x="{x:.1f}" y="{bar_y:.1f}" width="{width:.1f}" '
                    f'height="{height}" '
                    f'fill="url(#p{n})"><title>{escape(category)}: {escape(name)} '
                    f"{escape(format_value(value, kind))}</title></rect>"
                )
            if stacked:
                x += width
            else:
                parts.append(
                    f'<text x="{x + width + 5:.1f}" y="{bar_y + height - 3:.1f}" class="value">'
                    f"{escape(format_value(value, kind))}</text>"
                )
        if stacked:
            total = totals[i]
            parts.append(
                f'<text x="{x + 5:.1f}" y="{y + band / 2 + 4:.1f}" class="value">'
                f"{escape(format_value(total, kind))}</text>"
            )
    bottom = top + band * len(categories) + 28
    if axis_label:
        parts.append(
            f'<text x="{LABEL_WIDTH + plot / 2:.1f}" y="{bottom + 8}" text-anchor="middle" '
            f'fill="#4d4d4d">{escape(axis_label)}</text>'
        )
        bottom += 16
    return "".join(parts), bottom


def _value_axis(
    top_value: float, ticks: int, x0: float, y0: float, y1: float, plot: float, kind: str
) -> str:
    parts = []
    for step in range(ticks + 1):
        value = top_value * step / ticks
        x = x0 + plot * step / ticks
        parts.append(
            f'<line x1="{x:.1f}" y1="{y0 - 4}" x2="{x:.1f}" y2="{y1}" stroke="#d0d0d0"/>'
            f'<text x="{x:.1f}" y="{y1 + 16}" text-anchor="middle" fill="#4d4d4d">'
            f"{escape(format_value(value, kind, axis=True))}</text>"
        )
    parts.append(
        f'<line x1="{x0}" y1="{y0 - 4}" x2="{x0}" y2="{y1}" stroke="#1a1a1a" stroke-width="1"/>'
    )
    return "".join(parts)


def _lines(
    categories: list[str], series: list[tuple[str, list[float]]], kind: str, y_label: str
) -> tuple[str, int]:
    legend_svg, legend_bottom = _legend(series, lines=True)
    left, right, top, height = 64, WIDTH - 150, legend_bottom + 24, 260
    bottom = top + height
    top_value, ticks = _axis(max(max(values) for _, values in series), kind)
    step = (right - left) / max(len(categories) - 1, 1)

    def point(i: int, value: float) -> tuple[float, float]:
        return left + i * step, bottom - value / top_value * height

    parts = [legend_svg]
    for tick in range(ticks + 1):
        value = top_value * tick / ticks
        y = bottom - height * tick / ticks
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#d0d0d0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#4d4d4d">'
            f"{escape(format_value(value, kind, axis=True))}</text>"
        )
    if y_label:
        parts.append(
            f'<text x="14" y="{top + height / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {top + height / 2})" fill="#4d4d4d">{escape(y_label)}</text>'
        )
    every = max(1, math.ceil(len(categories) / 8))
    for i, category in enumerate(categories):
        if (len(categories) - 1 - i) % every == 0:  # evenly spaced, ending at the last
            x, _ = point(i, 0)
            parts.append(
                f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" '
                'stroke="#1a1a1a"/>'
                f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">'
                f"{escape(_short_date(category))}</text>"
            )
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#1a1a1a"/>')
    ends: list[float] = []
    for n, (name, values) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        dash = DASHES[n % len(DASHES)]
        points = [point(i, v) for i, v in enumerate(values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dashed}>'
            f"<title>{escape(name)}</title></polyline>"
        )
        for i, (x, y) in enumerate(points):
            parts.append(
                f"<g><title>{escape(categories[i])}: {escape(name)} "
                f"{escape(format_value(values[i], kind))}</title>{_marker(n, x, y)}</g>"
            )
        end_y = points[-1][1]
        while any(abs(end_y - other) < 15 for other in ends):
            end_y += 15
        ends.append(end_y)
        parts.append(
            f'<text x="{right + 10}" y="{end_y + 4:.1f}" fill="{colour}">'
            f"{escape(_clip(name, 18))} {escape(format_value(values[-1], kind))}</text>"
        )
    return "".join(parts), bottom + 34


def _marker(n: int, x: float, y: float) -> str:
    colour = COLOURS[n % len(COLOURS)]
    shape = MARKERS[n % len(MARKERS)]
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if shape == "triangle":
        return _path(colour, (x, y - 5), (x + 5, y + 4), (x - 5, y + 4))
    if shape == "diamond":
        return _path(colour, (x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y))
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'


def _path(colour: str, *points: tuple[float, float]) -> str:
    d = " L".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<path d="M{d} Z" fill="{colour}"/>'


def _summary(categories: list[str], series: list[tuple[str, list[float]]], kind: str) -> str:
    """One sentence a screen reader hears before the table: the range and the peaks."""
    parts = []
    for name, values in series:
        peak = max(range(len(values)), key=lambda i: values[i])
        parts.append(f"{name}: highest {format_value(values[peak], kind)} at {categories[peak]}")
    return (
        f"{len(categories)} points from {categories[0]} to {categories[-1]}. "
        + "; ".join(parts)
        + ". The table below holds every number."
    )


def _axis(value: float, kind: str) -> tuple[float, int]:
    """A round axis end at or above `value` and its number of ticks: steps of 1, 2 or 5
    × 10^n (whole numbers for counts; at least 1% for percents), 3 to 5 of them."""
    if value <= 0:
        return 1.0, 4
    smallest = 0.01 if kind == "percent" else (1.0 if kind != "ratio" else 0.1)
    raw = max(value / 4, smallest)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if raw <= m * power)
    ticks = max(1, math.ceil(value / step - 1e-9))
    return step * ticks, ticks


def format_value(value: float | None, kind: str = "number", *, axis: bool = False) -> str:
    """A number as the tables write it (percent of a 0..1 ratio, minutes as h/min, ...)."""
    if value is None:
        return "—"
    if kind == "percent":
        return f"{100 * value:.0f}%" if axis else f"{100 * value:.1f}%"
    if kind == "ratio":
        return f"{value:.2f}×"
    if kind == "minutes":
        return _duration(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _duration(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _short_date(text: str) -> str:
    """2026-11-02 → Nov 2 (other labels as they are)."""
    from datetime import date

    try:
        day = date.fromisoformat(text)
    except ValueError:
        return _clip(text, 12)
    return day.strftime("%b ") + str(day.day)
