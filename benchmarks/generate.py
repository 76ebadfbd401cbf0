"""Build a large, realistic help desk into a SQLite file, fast, through the store.

    python -m benchmarks.generate --customers 1000000 --views 20000000 \
        --tickets 2000000 --db /work/bench/desk.db

The world looks like a Zendesk desk after three years: a bilingual knowledge base
(English and Spanish) whose popularity follows a Zipf law, customers whose activity is
heavy-tailed (most read a little, a few read hundreds of articles), reading in sessions of
a few articles (re-reading the same article happens), and tickets that mostly follow a
reading session by minutes, with subjects about what was read. Each ticket also gets the
timeline entries a sync derives (opened, solved, CSAT), each customer a signup (and a
purchase), some sessions a help-center search.

Rows are made in chunks of customers, ordered by time within a chunk (the way a desk
writes them), and written with `benchmarks.bulk` (no journal, indexes rebuilt once at
the end). Deterministic for a given seed, relative to the generation time (the "anchor",
so the last-7-days facts have data whenever it runs).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path

from benchmarks import bulk
from connectors.demo_content import (
    ARTICLE_TEMPLATES,
    CATEGORIES,
    FIRST_NAMES,
    LAST_NAMES,
    SEARCH_WORDS,
    SUBJECT_TEMPLATES,
    capitalize,
    slugify,
)
from connectors.records import Article
from plugin.store import dumps, open_db
from plugin.store.articles import upsert_articles

SOURCE = "zendesk"
HELP_CENTER = "https://acme.zendesk.com"
LOCALES = ("en-us", "es")
FIRST_ARTICLE_ID = 360_000_100
FIRST_TICKET_ID = 10_000_000  # 8 digits: text order = numeric order (fast primary key)
FIRST_USER_ID = 100_000_000_000
CHUNK_CUSTOMERS = 10_000
AHEAD = 3  # chunks being made or waiting while one is written
DAY = 86_400
HISTORY_DAYS = 3 * 365
ZIPF_EXPONENT = 1.07
ACTIVITY_SIGMA = 1.2  # lognormal spread of reading activity between customers
NON_READERS = 0.15  # customers who never open the help center
TICKET_AFTER_READING = 0.7  # share of tickets written minutes after a reading session
REREAD = 0.25  # chance the next view in a session is the same article again
OTHER_LOCALE = 0.08  # views in the customer's other language
PLANS = (("free", 0.30), ("trial", 0.10), ("team", 0.35), ("business", 0.20), ("enterprise", 0.05))
PLAN_VALUE = {"free": 0, "trial": 0, "team": 600, "business": 3_000, "enterprise": 25_000}
CHANNELS = ("web", "web", "email", "email", "chat")
GROUPS = ("Support", "Billing", "Onboarding")

OPEN_STATUSES = ("new", "open", "open", "pending")
PRIORITIES = ("low", "normal", "normal", "normal", "high")
GENERIC_SUBJECT = ("Quick question", "Una pregunta rápida")
NO_ARTICLE = (None,) * 6  # article_source .. ticket_id
NO_ARTICLE_TICKET = (None,) * 5  # article_source .. article_url
NPS = [dumps({"nps": n}) for n in range(11)]
VIA_DIRECT = dumps({"via": "direct"})
CSAT_JSON = {score: dumps({"score": score}) for score in ("good", "bad")}
TIME_ZONES = ("Europe/Madrid", "America/New_York", "Europe/London", "America/Mexico_City")


@dataclass(frozen=True, slots=True)
class KbArticle:
    group_id: str
    topic: tuple[str, str]  # (english, spanish)
    titles: tuple[str, str]
    urls: tuple[str, str]


@dataclass
class Counts:
    customers: int = 0
    views: int = 0
    tickets: int = 0
    touchpoints: int = 0


def knowledge_base() -> list[KbArticle]:
    """Every (template, topic) pair of the demo content: 360 articles in two locales."""
    articles = []
    next_id = FIRST_ARTICLE_ID
    for _category, topics in CATEGORIES:
        for template in ARTICLE_TEMPLATES:
            for topic in topics:
                titles = tuple(
                    template[i].format(t=topic[i], T=capitalize(topic[i])) for i in (0, 1)
                )
                urls = tuple(
                    f"{HELP_CENTER}/hc/{LOCALES[i]}/articles/{next_id}-{slugify(titles[i])}"
                    for i in (0, 1)
                )
                articles.append(KbArticle(str(next_id), topic, titles, urls))
                next_id += 1
    return articles


def article_records(kb: list[KbArticle], anchor: int, rng: random.Random) -> list[Article]:
    category_of = {}
    for names, topics in CATEGORIES:
        for topic in topics:
            category_of[topic] = names
    records = []
    for art in kb:
        updated = datetime.fromtimestamp(anchor - rng.randint(1, 400) * DAY, UTC)
        for i, locale in enumerate(LOCALES):
            records.append(
                Article(
                    id=art.group_id,
                    locale=locale,
                    title=art.titles[i],
                    url=art.urls[i],
                    section=art.topic[i],
                    category=category_of[art.topic][i],
                    updated_at=updated,
                )
            )
    return records


class World:
    """The random choices of the dataset; one instance generates one dataset."""

    def __init__(self, args: argparse.Namespace, anchor: int) -> None:
        self.seed = args.seed
        self.rng = random.Random(args.seed)
        self.anchor = anchor
        self.kb = knowledge_base()
        ranks = list(range(len(self.kb)))
        self.rng.shuffle(ranks)  # popularity is not the catalogue order
        self.article_cum = list(accumulate(1 / (r + 1) ** ZIPF_EXPONENT for r in ranks))
        self.customers = args.customers
        self.views_per_weight, self.tickets_per_weight = self._scales(args)
        # Each chunk numbers its tickets and events from its own block, so chunks can be
        # made in any process and still come out in increasing order (append-only keys).
        chunks = max(1, math.ceil(args.customers / CHUNK_CUSTOMERS))
        self.ticket_block = _block(args.tickets / chunks)
        self.event_block = _block(args.views * 1.5 / chunks)
        self.next_ticket = FIRST_TICKET_ID
        self.next_event = 0
        self.subjects = [
            [
                [
                    (t[lang].format(t=a.topic[lang], T=capitalize(a.topic[lang])))
                    for t in SUBJECT_TEMPLATES
                ]
                for lang in (0, 1)
            ]
            for a in self.kb
        ]
        self.subject_json = {
            subject: dumps({"subject": subject})
            for per_article in self.subjects
            for per_lang in per_article
            for subject in per_lang
        } | {subject: dumps({"subject": subject}) for subject in GENERIC_SUBJECT}
        # article_source .. properties of a view, per article and language
        self.view_columns = [
            [
                (SOURCE, a.group_id, LOCALES[i], a.titles[i], a.urls[i], None, VIA_DIRECT)
                for i in (0, 1)
            ]
            for a in self.kb
        ]
        self.searches = [  # pre-serialised search properties per language and article
            [
                [
                    dumps({"query": SEARCH_WORDS[lang].format(t=a.topic[i]), "result_count": n})
                    for n in range(8)
                ]
                for a in self.kb
            ]
            for i, lang in enumerate(("en", "es"))
        ]

    def _scales(self, args: argparse.Namespace) -> tuple[float, float]:
        """Views and tickets per unit of activity weight, so the totals come out right.

        The mean of a lognormal(0, s) is exp(s^2 / 2); non-readers read nothing.
        """
        mean_weight = math.exp(ACTIVITY_SIGMA**2 / 2)
        readers = args.customers * (1 - NON_READERS)
        views = args.views / max(readers * mean_weight, 1)
        tickets = args.tickets / max(args.customers * math.exp(ACTIVITY_SIGMA**2 / 8), 1)
        return views, tickets

    # -- one chunk of customers ------------------------------------------------------

    def chunk(self, index: int) -> tuple[list, list, list, list, list, Counts]:
        """Customers, identities, tickets and touchpoints of the index-th chunk of customers.

        A pure function of (seed, sizes, anchor, index): its own random stream.
        """
        first = 1 + index * CHUNK_CUSTOMERS
        last = min(first + CHUNK_CUSTOMERS, self.customers + 1)
        self.rng = random.Random(f"{self.seed}:{index}")
        self.next_ticket = FIRST_TICKET_ID + index * self.ticket_block
        self.next_event = index * self.event_block
        customers, identities, drafts, points = [], [], [], []
        counts = Counts()
        for cid in range(first, last):
            profile = self._customer(cid)
            customers.append(profile)
            sessions = self._reading(cid, profile, points)
            self._ticket_drafts(cid, profile, sessions, drafts)
        identities = [("email", row[2], row[0]) for row in customers]
        users = [("user:" + SOURCE, str(FIRST_USER_ID + row[0]), row[0]) for row in customers]
        # The last sync read every requester's history up to the anchor (its per-user
        # cursor), so opening a ticket needs no desk call: the steady state.
        cursor = _iso(self.anchor)
        cursors = [
            (SOURCE, "touchpoints", str(FIRST_USER_ID + row[0]), cursor, self.anchor)
            for row in customers
        ]
        views = len(points) - sum(1 for p in points if p[3] != "article_view")
        tickets = self._tickets(drafts, points)
        points.sort(key=_time_of)  # a desk writes in time order, not customer by customer
        counts.customers = len(customers)
        counts.tickets = len(tickets)
        counts.touchpoints = len(points)
        counts.views = views
        return customers, identities + users, cursors, tickets, points, counts

    def _customer(self, cid: int) -> tuple:
        rng, anchor = self.rng, self.anchor
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        signup = anchor - int(rng.random() * HISTORY_DAYS * DAY)
        plan = _pick(PLANS, rng.random())
        purchased = renewal = None
        value = 0.0
        if PLAN_VALUE[plan]:
            purchased = min(signup + int(rng.uniform(0, 30) * DAY), anchor - 3600)
            years = max(1, math.ceil((anchor - purchased) / (365 * DAY)))
            renewal = purchased + years * 365 * DAY
            value = round(PLAN_VALUE[plan] * years * rng.uniform(0.6, 1.6), 2)
        spanish = rng.random() < 0.3
        attributes = "{}"
        if purchased and rng.random() < 0.2:
            attributes = NPS[rng.randint(0, 10)]
        return (
            cid,
            f"{first} {last}",
            f"customer{cid:08d}@{last.lower()}.example",
            signup,
            purchased,
            renewal,
            plan,
            value,
            TIME_ZONES[cid % len(TIME_ZONES)],
            "es" if spanish else "en-US",
            attributes,
            signup,
            anchor,
        )

    def _reading(self, cid: int, profile: tuple, rows: list) -> list[tuple[int, int]]:
        """Append the customer's touchpoint rows (signup, purchase, searches, article
        views); return (end time, article index) of each reading session."""
        rng, anchor, kb = self.rng, self.anchor, self.kb
        signup, purchased = profile[3], profile[4]
        rows.append((SOURCE, f"signup-{cid}", cid, "signup", signup, "web", *NO_ARTICLE, "{}"))
        if purchased:
            rows.append(
                (SOURCE, f"purchase-{cid}", cid, "purchase", purchased, "web", *NO_ARTICLE, "{}")
            )
        self._weight = rng.lognormvariate(0, ACTIVITY_SIGMA)
        if rng.random() < NON_READERS:
            return []
        wanted = self._weight * self.views_per_weight
        views = int(wanted) + (rng.random() < wanted - int(wanted))
        spanish = profile[9] == "es"
        sessions = []
        span = anchor - signup
        event = self.next_event
        while views > 0:
            size = min(views, 1 + int(rng.expovariate(0.5)))
            views -= size
            # Recent reading is likelier: the square pulls starts towards the anchor.
            at = anchor - int(span * rng.random() ** 2)
            if rng.random() < 0.25:
                event += 1
                query = self.searches[spanish][rng.randrange(len(kb))][event % 8]
                rows.append(
                    (
                        SOURCE,
                        f"ev{event:012d}",
                        cid,
                        "search",
                        at,
                        "help_center",
                        *NO_ARTICLE,
                        query,
                    )
                )
            picks = rng.choices(range(len(kb)), cum_weights=self.article_cum, k=size)
            article = picks[0]
            for n in range(size):
                if n and rng.random() >= REREAD:
                    article = picks[n]
                at += 30 + int(rng.random() * 300)
                event += 1
                rows.append(
                    (
                        SOURCE,
                        f"ev{event:012d}",
                        cid,
                        "article_view",
                        at,
                        "help_center",
                        *self.view_columns[article][spanish != (rng.random() < OTHER_LOCALE)],
                    )
                )
            sessions.append((at, article))
        self.next_event = event
        return sessions

    def _ticket_drafts(self, cid: int, profile: tuple, sessions: list, drafts: list) -> None:
        rng, anchor = self.rng, self.anchor
        wanted = self._weight**0.5 * self.tickets_per_weight
        count = int(wanted) + (rng.random() < wanted - int(wanted))
        lang = 1 if profile[9] == "es" else 0
        for _ in range(count):
            if sessions and rng.random() < TICKET_AFTER_READING:
                end, article = sessions[rng.randrange(len(sessions))]
                created = end + 60 + int(rng.random() * 7200)
                subject = rng.choice(self.subjects[article][lang])
            else:
                created = anchor - int((anchor - profile[3]) * rng.random())
                subject = GENERIC_SUBJECT[lang]
            if created < anchor:
                drafts.append((created, cid, subject))

    def _tickets(self, drafts: list, points: list) -> list[tuple]:
        """Ticket rows, numbered in creation order, and the touchpoints a sync derives."""
        rng, anchor = self.rng, self.anchor
        drafts.sort()
        rows = []
        for created, cid, subject in drafts:
            ticket_id = str(self.next_ticket)
            self.next_ticket += 1
            age = anchor - created
            first_response = created + int(rng.uniform(300, 36_000))
            solved = csat = None
            channel = CHANNELS[rng.randrange(len(CHANNELS))]
            if age > 3 * DAY or (age > DAY // 2 and rng.random() < 0.5):
                status = "closed" if age > 10 * DAY else "solved"
                solved = min(created + int(rng.uniform(3600, 72 * 3600)), anchor)
                if rng.random() < 0.35:
                    csat = "bad" if rng.random() < 0.12 else "good"
            else:
                status = OPEN_STATUSES[rng.randrange(len(OPEN_STATUSES))]
            priority = PRIORITIES[rng.randrange(len(PRIORITIES))]
            rows.append(
                (
                    SOURCE,
                    ticket_id,
                    cid,
                    subject,
                    status,
                    priority,
                    channel,
                    "[]",
                    created,
                    solved or min(first_response, anchor),
                    solved,
                    first_response if first_response < anchor else None,
                    csat,
                    None,
                    0,
                    GROUPS[int(ticket_id) % len(GROUPS)],  # not from rng: the data stays as it was
                )
            )
            points.append(
                (
                    SOURCE,
                    f"ticket:{ticket_id}:opened",
                    cid,
                    "ticket_opened",
                    created,
                    channel,
                    *NO_ARTICLE_TICKET,
                    ticket_id,
                    self.subject_json[subject],
                )
            )
            if solved:
                points.append(
                    (
                        SOURCE,
                        f"ticket:{ticket_id}:solved",
                        cid,
                        "ticket_solved",
                        solved,
                        channel,
                        *NO_ARTICLE_TICKET,
                        ticket_id,
                        "{}",
                    )
                )
            if csat:
                points.append(
                    (
                        SOURCE,
                        f"ticket:{ticket_id}:csat",
                        cid,
                        "csat",
                        solved,
                        channel,
                        *NO_ARTICLE_TICKET,
                        ticket_id,
                        CSAT_JSON[csat],
                    )
                )
        return rows


def _time_of(row: tuple) -> int:
    return row[4]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _block(expected: float) -> int:
    """A power of ten comfortably above `expected` ids per chunk."""
    return 10 ** max(4, math.ceil(math.log10(expected * 4 + 1)))


_WORLD: World | None = None


def _start_worker(args: argparse.Namespace, anchor: int) -> None:
    global _WORLD
    _WORLD = World(args, anchor)


def _make_chunk(index: int) -> tuple[list, list, list, list, list, Counts]:
    assert _WORLD is not None
    return _WORLD.chunk(index)


def _chunks(args: argparse.Namespace, anchor: int) -> Iterator[tuple]:
    """Chunks in order, made ahead by helper processes while this one writes.

    Making a chunk costs about twice as much CPU as writing it: two helpers and the
    writer share the two cores best. At most AHEAD chunks wait in memory.
    """
    count = math.ceil(args.customers / CHUNK_CUSTOMERS)
    # spawn: a fork of a threaded process (a test runner, say) is unsafe
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        2, mp_context=spawn, initializer=_start_worker, initargs=(args, anchor)
    ) as pool:
        pending = deque(pool.submit(_make_chunk, i) for i in range(min(AHEAD, count)))
        for index in range(AHEAD, count + AHEAD):
            result = pending.popleft().result()
            if index < count:
                pending.append(pool.submit(_make_chunk, index))
            yield result


def _pick(shares: tuple[tuple[str, float], ...], roll: float) -> str:
    for name, share in shares:
        if roll < share:
            return name
        roll -= share
    return shares[-1][0]


def generate(args: argparse.Namespace, out=sys.stdout) -> Counts:
    """Write the dataset; prints progress and returns what was written."""
    path = Path(args.db)
    if path.exists():
        if not args.force:
            raise SystemExit(f"{path} exists; pass --force to replace it")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    anchor = int(time.time()) // 3600 * 3600
    world = World(args, anchor)
    db = open_db(path)
    total = Counts()
    started = time.perf_counter()
    report = _Progress(out, args.customers)
    with bulk.bulk_loading(db):
        upsert_articles(db, SOURCE, article_records(world.kb, anchor, world.rng))
        db.conn.commit()
        for customers, identities, cursors, tickets, points, counts in _chunks(args, anchor):
            bulk.insert_customers(db, customers)
            bulk.insert_identities(db, identities)
            bulk.insert_sync_cursors(db, cursors)
            bulk.insert_tickets(db, tickets)
            bulk.insert_touchpoints(db, points)
            for name in ("customers", "views", "tickets", "touchpoints"):
                setattr(total, name, getattr(total, name) + getattr(counts, name))
            report(total, time.perf_counter() - started)
        print(
            f"rows written in {time.perf_counter() - started:.0f} s; building indexes ...",
            file=out,
            flush=True,
        )
    db.conn.close()
    elapsed = time.perf_counter() - started
    size = os.path.getsize(path) / 1e9
    print(
        f"done in {elapsed:.0f} s: {total.customers:,} customers, {total.views:,} article "
        f"views, {total.tickets:,} tickets, {total.touchpoints:,} touchpoints in all; "
        f"{size:.1f} GB at {path}",
        file=out,
    )
    return total


class _Progress:
    """One line per tenth of the customers (a log), or a live line on a terminal."""

    def __init__(self, out, customers: int) -> None:
        self.out, self.customers = out, customers
        self.live = out.isatty()
        self.next_tenth = 1

    def __call__(self, total: Counts, elapsed: float) -> None:
        line = (
            f"{total.customers:,} customers, {total.views:,} views, "
            f"{total.tickets:,} tickets, {total.touchpoints:,} touchpoints ({elapsed:.0f} s)"
        )
        if self.live:
            print(
                f"\r{line}",
                end="\n" if total.customers >= self.customers else "",
                file=self.out,
                flush=True,
            )
        elif total.customers >= self.customers * self.next_tenth / 10:
            self.next_tenth = total.customers * 10 // self.customers + 1
            print(line, file=self.out, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.generate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--views", type=int, default=20_000_000)
    parser.add_argument("--tickets", type=int, default=2_000_000)
    parser.add_argument("--db", required=True, help="the SQLite file to create")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    generate(parse_args(argv))


if __name__ == "__main__":
    main()
