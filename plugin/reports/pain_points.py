"""Pain-point articles: the articles most often read in the 24 h before the same customer
opened a ticket, their deflection-failure rate and its lift over the baseline
(`pain-points`), and the tickets behind one article (`pain-point-tickets`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlite_utils import Database

from plugin.errors import InvalidInput
from plugin.reports.aggregates import figures_for
from plugin.reports.common import epochs, ratio, stage_labels
from plugin.reports.report import Chart, Column, Filters, Report, register
from plugin.store.report_aggregates import article_sums
from plugin.store.reports import article_titles, tickets_after_article

SHOWN = 25
"""Articles listed: the ones most often followed by a ticket."""
FEW_VIEWS = 20
"""Below this many views a rate says little: such rows are marked."""


@register("pain-points")
def pain_points(db: Database, filters: Filters) -> Report:
    start, end = epochs(filters)
    missing = figures_for(db, filters.config, start, end)
    outcomes = article_sums(db, start=start, end=end, sources=filters.sources)
    views = sum(row[2] for row in outcomes)
    followed = sum(row[3] for row in outcomes)
    baseline = ratio(followed, views)
    top = sorted(outcomes, key=lambda r: (-r[3], -r[2], r[0], r[1]))[:SHOWN]
    top = [row for row in top if row[3] > 0]
    titles = article_titles(db, [(r[0], r[1]) for r in top])
    rows = []
    for source, article_id, article_views, article_followed in top:
        title, url = titles.get((source, article_id), (f"Article {article_id}", ""))
        rate = ratio(article_followed, article_views)
        rows.append(
            {
                "article": title,
                "item": f"{source}:{article_id}",
                "url": url,
                "views": article_views,
                "followed": article_followed,
                "not_followed": article_views - article_followed,
                "failure_rate": rate,
                "lift": rate / baseline if rate is not None and baseline else None,
                "few_views": article_views < FEW_VIEWS,
            }
        )
    notes = [
        *missing,
        f"Baseline: {_percent(baseline)} of all {views:,} article views in the range were "
        f"followed by a ticket from the same customer within 24 h ({followed:,} views).",
        "Views count every locale of an article as that article; a view followed by several "
        "tickets counts once.",
    ]
    if any(row["few_views"] for row in rows):
        notes.append(f"Rates of articles with fewer than {FEW_VIEWS} views say little.")
    return Report(
        name="pain-points",
        title="Pain-point articles",
        description="The articles customers read just before opening a ticket anyway: "
        "where the knowledge base fails to help.",
        filters=filters,
        columns=(
            Column(
                "article",
                "Article",
                "the article (any locale), its English title when it has one",
                "text",
            ),
            Column("views", "Views", "article views in the range"),
            Column(
                "followed",
                "Followed by a ticket",
                "views followed by a ticket from the same customer within 24 h",
            ),
            Column("not_followed", "Not followed", "views − views followed by a ticket"),
            Column(
                "failure_rate",
                "Deflection failure",
                "views followed by a ticket from the same customer within 24 h ÷ article views",
                "percent",
            ),
            Column(
                "lift",
                "Lift over baseline",
                "the article's deflection failure ÷ the baseline (the same rate over all "
                "articles' views in the range); above 1 fails more often than the average",
                "ratio",
            ),
        ),
        rows=rows,
        chart=Chart(
            "stacked",
            "article",
            ("followed", "not_followed"),
            "Views followed by a ticket within 24 h, and not",
            y_label="views",
        ),
        notes=tuple(notes),
        links={"article": "pain-point-tickets", "followed": "pain-point-tickets"},
    )


@register("pain-point-tickets")
def pain_point_tickets(db: Database, filters: Filters) -> Report:
    source, _, article_id = filters.item.partition(":")
    if not source or not article_id:
        raise InvalidInput('article: write the article as "source:article id", e.g. demo:1001')
    start, end = epochs(filters)
    found = tickets_after_article(
        db,
        article_source=source,
        article_id=article_id,
        start=start,
        end=end,
        sources=filters.sources,
    )
    labels = stage_labels(db, filters)
    title, _url = article_titles(db, [(source, article_id)]).get(
        (source, article_id), (f"Article {article_id}", "")
    )
    rows = [
        {
            "ticket": f"{t['source']} #{t['id']}",
            "subject": t["subject"],
            "channel": t["channel"] or "unknown",
            "opened": _when(t["created_at"]),
            "stage": labels.get(t["stage"], t["stage"] or "unknown"),
            "read_at": _when(t["read_at"]),
            "minutes_before": round((t["created_at"] - t["read_at"]) / 60),
            "reads": t["reads"],
        }
        for t in found
    ]
    return Report(
        name="pain-point-tickets",
        title=f"Tickets after reading “{title}”",
        description="The tickets opened within 24 h after the customer read this article "
        "(views in the range), newest first.",
        filters=filters,
        columns=(
            Column("ticket", "Ticket", "the desk and the ticket's id there", "text"),
            Column("subject", "Subject", "the ticket's subject", "text"),
            Column("channel", "Channel", "the channel the ticket came in by", "text"),
            Column("opened", "Opened", "when the ticket was opened (UTC)", "text"),
            Column(
                "stage",
                "Stage when opened",
                "the customer's stage when the ticket was opened",
                "text",
            ),
            Column(
                "read_at",
                "Last read",
                "the customer's last view of the article before the ticket (UTC)",
                "text",
            ),
            Column("minutes_before", "Minutes before", "opened − last read, in minutes"),
            Column("reads", "Reads", "views of the article in the 24 h before the ticket"),
        ),
        rows=rows,
        notes=("At most 500 tickets are listed.",) if len(rows) >= 500 else (),
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")
