"""The demo help desk: deterministic, believable, and reaching every stage and signal."""

from __future__ import annotations

import hashlib
from collections import Counter

from connectors.demo import DemoDesk
from connectors.protocol import STREAMS, Connector
from plugin.store import open_db
from plugin.store.journeys import signal_counts, stage_counts
from tests.helpers.config import ANCHOR
from tests.helpers.model import SIGNALS, STAGES


def fingerprint(desk: DemoDesk) -> str:
    digest = hashlib.sha256()
    for stream in STREAMS:
        for batch in getattr(desk, stream)(None):
            for record in batch.records:
                digest.update(repr(record).encode())
    return digest.hexdigest()


def test_same_seed_and_anchor_give_the_same_desk():
    assert fingerprint(DemoDesk(customers=60, anchor=ANCHOR)) == fingerprint(
        DemoDesk(customers=60, anchor=ANCHOR)
    )
    assert fingerprint(DemoDesk(customers=60, anchor=ANCHOR, seed=8)) != fingerprint(
        DemoDesk(customers=60, anchor=ANCHOR)
    )


def test_the_demo_speaks_the_connector_protocol():
    assert isinstance(DemoDesk(customers=1, anchor=ANCHOR), Connector)


def test_default_demo_is_a_believable_company_desk():
    desk = DemoDesk(anchor=ANCHOR)
    counts = Counter()
    categories, locales = set(), set()
    for batch in desk.articles(None):
        for article in batch.records:
            categories.add(article.category)
            locales.add(article.locale)
            counts["article_versions"] += 1
    for batch in desk.customers(None):
        counts["customers"] += len(batch.records)
    for batch in desk.tickets(None):
        counts["tickets"] += len(batch.records)
        counts["csat"] += sum(1 for t in batch.records if t.csat_score)
    for batch in desk.touchpoints(None):
        counts["views"] += sum(1 for t in batch.records if t.type == "article_view")
    assert counts["customers"] >= 2000
    assert counts["article_versions"] // 2 >= 300 and locales == {"en-us", "es"}
    assert len(categories) >= 20  # 10+ categories, in two languages
    assert counts["views"] >= 100_000
    assert counts["tickets"] >= 5000 and counts["csat"] > 1000


def test_tickets_follow_reading_on_the_same_topic():
    desk = DemoDesk(customers=200, anchor=ANCHOR)
    matched = total = 0
    for index in range(200):
        views = [t for t in desk._touchpoints_of(index) if t.type == "article_view"]
        for ticket in desk._tickets_of(index):
            before = [v for v in views if v.occurred_at <= ticket.created_at]
            if not before:
                continue
            total += 1
            last = before[-1]
            gap = (ticket.created_at - last.occurred_at).total_seconds()
            words = {w for w in ticket.subject.lower().split() if len(w) > 4}
            if gap < 3 * 3600 and words & set(last.article_title.lower().split()):
                matched += 1
    assert total > 100
    assert matched / total > 0.5


def test_seeded_demo_reaches_every_stage_and_signal(seeded_demo):
    db = open_db(seeded_demo.database_path)
    assert set(stage_counts(db)) == set(STAGES)
    assert set(signal_counts(db)) == set(SIGNALS)
