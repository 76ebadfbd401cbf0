"""The reply-guard reports: warnings shown about already-read articles and what the agents
did (sent anyway, edited), per week (`reply-guard`) and per article
(`reply-guard-articles`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlite_utils import Database

from plugin.clock import from_epoch
from plugin.reports.figures import epoch_range, share
from plugin.reports.report import Chart, Column, Filters, Report, register
from plugin.store.guard_events import guard_counts_by_article, guard_counts_by_week

SHOWN = (
    "warnings shown in the date range: one per article per ticket until the agent sends "
    "anyway or edits (a draft checked again and again counts once)"
)
COUNT_COLUMNS = (
    Column("shown", "Warnings shown", SHOWN),
    Column("sent_anyway", "Sent anyway", "warnings after which the agent clicked Send anyway"),
    Column("edited", "Edited", "warnings after which the agent chose Edit reply"),
    Column(
        "no_answer",
        "No choice recorded",
        "shown − sent anyway − edited (still open, or the link was removed before saving)",
    ),
    Column(
        "override_rate",
        "Overridden",
        "sent anyway ÷ (sent anyway + edited)",
        kind="percent",
    ),
)
NOTES = (
    "Recorded from the reply guard's check (each warning shown) and the desk apps' Send "
    "anyway / Edit reply buttons. Only warnings shown since this record began are counted.",
)


def week_of(epoch: int) -> str:
    """The Monday (UTC) starting the week of `epoch`, as YYYY-MM-DD."""
    day = from_epoch(epoch)
    assert day is not None
    return (day - timedelta(days=day.weekday())).date().isoformat()


def _counts(found: dict[str | None, int]) -> dict[str, Any]:
    """The columns of one row from {outcome: warnings}."""
    shown = sum(found.values())
    sent, edited = found.get("sent_anyway", 0), found.get("edited", 0)
    return {
        "shown": shown,
        "sent_anyway": sent,
        "edited": edited,
        "no_answer": shown - sent - edited,
        "override_rate": share(sent, sent + edited),
    }


@register("reply-guard")
def reply_guard_report(db: Database, filters: Filters) -> Report:
    start, end = epoch_range(filters)
    weeks: dict[int, dict[str | None, int]] = defaultdict(dict)
    for row in guard_counts_by_week(db, start=start, end=end, sources=filters.sources):
        weeks[row["monday"]][row["outcome"]] = row["warnings"]
    rows = [
        {"week": week_of(monday), "item": week_of(monday), **_counts(weeks[monday])}
        for monday in sorted(weeks)
    ]
    return Report(
        name="reply-guard",
        title="Reply guard: warnings and what agents did",
        filters=filters,
        columns=(Column("week", "Week (from Monday)", kind="date"), *COUNT_COLUMNS),
        rows=rows,
        chart=Chart("stacked", x="week", series=("sent_anyway", "edited", "no_answer")),
        notes=NOTES,
        links={"shown": "reply-guard-articles"},
    )


@register("reply-guard-articles")
def reply_guard_articles_report(db: Database, filters: Filters) -> Report:
    start, end = epoch_range(filters)
    articles: dict[tuple[str, str], dict[str | None, int]] = defaultdict(dict)
    titles: dict[tuple[str, str], str] = {}
    for row in guard_counts_by_article(db, start=start, end=end, sources=filters.sources):
        key = (row["article_source"], row["article_id"])
        articles[key][row["outcome"]] = row["warnings"]
        if row["title"]:
            titles[key] = row["title"]
    rows = [
        {
            "article": titles.get(key, f"Article {key[1]}"),
            "source": key[0],
            "article_id": key[1],
            "item": f"{key[0]}:{key[1]}",
            **_counts(found),
        }
        for key, found in articles.items()
    ]
    rows.sort(key=lambda r: (-r["shown"], r["source"], r["article_id"]))
    return Report(
        name="reply-guard-articles",
        title="Reply guard by article",
        filters=filters,
        columns=(
            Column("article", "Article", kind="text"),
            Column("source", "Knowledge base", kind="text"),
            Column("article_id", "Article id", kind="text"),
            *COUNT_COLUMNS,
        ),
        rows=rows,
        chart=Chart("stacked", x="article", series=("sent_anyway", "edited", "no_answer")),
        notes=NOTES,
        links={"shown": "reply-guard"},
    )
