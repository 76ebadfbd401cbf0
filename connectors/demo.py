"""A deterministic demo help desk behind the same connector protocol as a real one.

The world is a SaaS company's desk: customers in every journey stage, a bilingual
knowledge base (English and Spanish), reading sessions that often end in a ticket
whose subject matches what was read, CSAT on solved tickets.

Determinism: everything derives from `seed` and `anchor` (the moment the history
ends). Each customer has their own random stream, so any stream can be regenerated
lazily, customer by customer, with flat memory. The anchor travels in the cursor, so a
restarted demo keeps yesterday's history instead of shifting it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.demo_content import (
    ARTICLE_TEMPLATES,
    CATEGORIES,
    COMPANY_WORDS,
    FIRST_NAMES,
    GENERIC_SUBJECTS,
    LAST_NAMES,
    SEARCH_WORDS,
    SUBJECT_TEMPLATES,
    capitalize,
    slugify,
)
from connectors.records import Article, Batch, Customer, CustomerRef, Note, Ticket, Touchpoint

BATCH_SIZE = 1000
ARTICLES_PER_CATEGORY = 27
FIRST_ARTICLE_ID = 360_000_100
FIRST_TICKET_ID = 10_000
QUIET_DAYS = (64, 120)
"""A churning customer's last activity, in days before the anchor: past the 60 days of
the default churn-risk signal, including the day a ticket takes to be solved."""
TRAIT_SHARES = {  # of the customers a trait can apply to (their order numbers the spreads)
    "renewing": 0.12,  # retention and advocacy: renews within 30 days
    "churning": 0.18,  # retention: silent for two months
    "unhappy": 0.12,  # service and retention: rates tickets bad
    "repeat_reader": 0.07,  # anyone: re-reads one article in the last week
    "intense": 0.06,  # paying customers: many articles and tickets in the last week
}
STAGE_MIX = [  # target stage of each generated customer, with its share
    ("awareness", 0.10),
    ("consideration", 0.15),
    ("purchase", 0.08),
    ("service", 0.20),
    ("retention", 0.35),
    ("advocacy", 0.12),
]
ARTICLE_URL = re.compile(r"/hc/(?:[A-Za-z-]+/)?articles/(\d+)")


@dataclass(frozen=True, slots=True)
class DemoArticle:
    id: str
    category_index: int
    topic: tuple[str, str]
    titles: tuple[str, str]


@dataclass(slots=True)
class Session:
    """A reading session, possibly ending with a ticket."""

    start: datetime
    article_ids: list[str]
    topic: tuple[str, str]
    search: bool
    ticket_at: datetime | None


class DemoDesk:
    """The demo help desk. `base_url` is where its help center pages are served; `anchor` is
    when its history ends (the caller's "now": the desk reads no clock of its own)."""

    def __init__(
        self,
        name: str = "demo",
        *,
        seed: int = 7,
        customers: int = 2000,
        base_url: str = "http://127.0.0.1:8000",
        anchor: datetime,
    ) -> None:
        self.name = name
        self.seed = seed
        self.customer_count = customers
        self.base_url = base_url.rstrip("/")
        self.anchor = anchor
        self.catalogue = _build_catalogue()
        self.by_category = [
            [a for a in self.catalogue if a.category_index == c] for c in range(len(CATEGORIES))
        ]

    # -- the connector protocol -------------------------------------------------------

    def articles(self, since: str | None) -> Iterator[Batch]:
        if self._already_synced(since):
            return
        records = [rec for art in self.catalogue for rec in self._article_records(art)]
        yield from _batches("articles", records, self._cursor())

    def customers(self, since: str | None) -> Iterator[Batch]:
        if self._already_synced(since):
            return
        records = (self._customer(i) for i in range(self.customer_count))
        yield from _batches("customers", records, self._cursor())

    def tickets(self, since: str | None) -> Iterator[Batch]:
        if self._already_synced(since):
            return
        records = (t for i in range(self.customer_count) for t in self._tickets_of(i))
        yield from _batches("tickets", records, self._cursor())

    def touchpoints(self, since: str | None) -> Iterator[Batch]:
        if self._already_synced(since):
            return
        records = (tp for i in range(self.customer_count) for tp in self._touchpoints_of(i))
        yield from _batches("touchpoints", records, self._cursor())

    def customer_touchpoints(self, customer_source_id: str, since: str | None) -> Iterator[Batch]:
        return iter(())

    def fetch_ticket(self, ticket_id: str) -> tuple[Ticket, Customer | None] | None:
        index = (int(ticket_id) - FIRST_TICKET_ID) // 20 if ticket_id.isdigit() else -1
        if not 0 <= index < self.customer_count:
            return None
        ticket = next((t for t in self._tickets_of(index) if t.id == ticket_id), None)
        return (ticket, self._customer(index)) if ticket else None

    def update_ticket(self, ticket_id: str, priority=None, add_tags=()) -> None:
        """The demo desk accepts SLA updates and forgets them."""

    def post_note(self, ticket_id: str, note: Note) -> None:
        """The demo desk keeps no notes: the one journeydesk records as posted
        (`journey_notes.body`) is the record of it."""

    def has_note(self, ticket_id: str, marker: str) -> bool:
        return False

    def send_outbound(
        self, customer: Customer, subject: str, body: str, *, key: str | None = None
    ) -> str:
        return f"demo-outbound-{customer.source_id}"

    def article_ref(self, url: str) -> str | None:
        match = ARTICLE_URL.search(url)
        return match.group(1) if match else None

    # -- the generated world ----------------------------------------------------------

    def _cursor(self) -> str:
        return f"anchor:{int(self.anchor.timestamp())}"

    def _already_synced(self, since: str | None) -> bool:
        """A cursor means the history up to its anchor is stored; keep that anchor."""
        if since and since.startswith("anchor:"):
            self.anchor = datetime.fromtimestamp(int(since.split(":", 1)[1]), UTC)
            return True
        return False

    def article_url(self, article: DemoArticle, lang: str) -> str:
        locale = "en-us" if lang == "en" else "es"
        title = article.titles[0 if lang == "en" else 1]
        return f"{self.base_url}/demo/hc/{locale}/articles/{article.id}-{slugify(title)}"

    def _article_records(self, art: DemoArticle) -> list[Article]:
        (cat_en, cat_es), _ = CATEGORIES[art.category_index]
        rng = random.Random(f"{self.seed}:article:{art.id}")
        updated = self.anchor - timedelta(days=rng.randint(1, 400))
        return [
            Article(
                id=art.id,
                locale=locale,
                title=art.titles[i],
                url=self.article_url(art, lang),
                section=art.topic[i],
                category=(cat_en, cat_es)[i],
                updated_at=updated,
            )
            for i, (lang, locale) in enumerate((("en", "en-us"), ("es", "es")))
        ]

    def _rng(self, index: int, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}:{purpose}:{index}")

    def _profile(self, index: int) -> dict:
        rng = self._rng(index, "profile")
        stage = _pick_stage(_spread(index, self.seed, 0))
        spanish = rng.random() < 0.3
        now = self.anchor
        profile = {"stage": stage, "lang": "es" if spanish else "en", "purchased_at": None}
        if stage == "awareness":
            profile.update(signup=now - timedelta(days=rng.uniform(0.5, 20)), plan="free")
        elif stage == "consideration":
            profile.update(signup=now - timedelta(days=rng.uniform(1, 9)), plan="trial")
        elif stage == "purchase":
            if rng.random() < 0.5:  # a trial about to convert
                profile.update(signup=now - timedelta(days=rng.uniform(10, 14)), plan="trial")
            else:  # just bought
                bought = now - timedelta(days=rng.uniform(0.2, 7))
                profile.update(
                    signup=bought - timedelta(days=rng.uniform(5, 14)),
                    plan=rng.choice(["team", "business"]),
                    purchased_at=bought,
                )
        else:
            days = {"service": (8, 45), "retention": (46, 700), "advocacy": (120, 900)}[stage]
            bought = now - timedelta(days=rng.uniform(*days))
            if stage != "service" and self._has(index, "renewing"):
                # renews within the month: a year (or two) ago, give or take four weeks
                years = 1 if stage == "retention" else rng.choice([1, 2])
                bought = now - timedelta(days=365 * years - rng.uniform(2, 28))
            profile.update(
                signup=bought - timedelta(days=rng.uniform(5, 20)),
                plan=rng.choice(["team", "team", "business", "enterprise"]),
                purchased_at=bought,
            )
        profile["interests"] = rng.sample(range(len(CATEGORIES)), 3)
        # Traits are spread evenly over the customers (not drawn by chance), so every
        # signal they lead to is reached by its share of any demo, whatever its size.
        profile["churning"] = (  # silent since well after buying (see _sessions)
            stage == "retention"
            and now - profile["purchased_at"] > timedelta(days=QUIET_DAYS[1] + 5)
            and self._has(index, "churning")
        )
        profile["unhappy"] = stage in ("retention", "service") and self._has(index, "unhappy")
        profile["repeat_reader"] = self._has(index, "repeat_reader")
        profile["intense"] = (
            stage in ("service", "retention", "advocacy")
            and not profile["churning"]
            and self._has(index, "intense")
        )
        return profile

    def _has(self, index: int, trait: str) -> bool:
        return _spread(index, self.seed, 1 + list(TRAIT_SHARES).index(trait)) < TRAIT_SHARES[trait]

    def _customer(self, index: int) -> Customer:
        rng = self._rng(index, "customer")
        profile = self._profile(index)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(['Labs', 'Co', 'Group', 'Studio'])}"
        bought = profile["purchased_at"]
        renewal = None
        ltv = 0.0
        if bought:
            years = max(1, int((self.anchor - bought).days / 365) + 1)
            renewal = bought + timedelta(days=365 * years)
            price = {"team": 600, "business": 2400, "enterprise": 9000}[profile["plan"]]
            ltv = float(price * years)
        attributes = {"company": company}
        if profile["stage"] == "advocacy":
            attributes["nps"] = rng.choice([9, 10])
        elif bought:
            attributes["nps"] = rng.choice([3, 5, 6, 7, 8, 8, 9])
        return Customer(
            source_id=f"u{index + 1}",
            email=f"{slugify(first)}.{slugify(last)}{index + 1}@{slugify(company)}.example",
            name=f"{first} {last}",
            signup_at=profile["signup"],
            purchased_at=bought,
            renewal_at=renewal,
            plan=profile["plan"],
            lifetime_value=ltv,
            time_zone="Europe/Madrid" if profile["lang"] == "es" else "America/New_York",
            locale="es" if profile["lang"] == "es" else "en-US",
            attributes=attributes,
        )

    def _sessions(self, index: int) -> list[Session]:
        """Reading sessions between signup and the anchor, denser near the anchor."""
        rng = self._rng(index, "sessions")
        profile = self._profile(index)
        start, end = profile["signup"], self.anchor
        if profile["churning"]:  # silent for the last two months and more
            end = min(end, self.anchor - timedelta(days=rng.uniform(*QUIET_DAYS)))
            start = min(start, end - timedelta(days=30))
        span = max((end - start).total_seconds(), 3600.0)
        count = rng.randint(14, 34) if not profile["intense"] else rng.randint(36, 48)
        # nobody reads more than a session every few days on average
        count = max(2, min(count, round(span / 86400 * 0.3)))
        sessions = []
        for _ in range(count):
            at = end - timedelta(seconds=span * (rng.random() ** 1.1))
            sessions.append(self._session(rng, profile, at))
        if profile["repeat_reader"] or profile["intense"]:
            sessions.extend(self._rereads(rng, profile))
        if profile["intense"]:
            sessions.extend(self._effort_burst(rng, profile))
        sessions.sort(key=lambda s: s.start)
        return [s for s in sessions if s.start < self.anchor]

    def _session(self, rng: random.Random, profile: dict, at: datetime) -> Session:
        category = rng.choice(profile["interests"]) if rng.random() < 0.8 else rng.randrange(12)
        reads = rng.sample(self.by_category[category], rng.choice([1, 2, 3, 3, 4, 4, 5, 6]))
        wants_ticket = rng.random() < (0.22 if profile["stage"] != "awareness" else 0.1)
        ticket_at = None
        if wants_ticket:
            ticket_at = at + timedelta(minutes=len(reads) * rng.uniform(2, 9) + rng.uniform(2, 90))
            if ticket_at >= self.anchor:
                ticket_at = None
        return Session(at, [a.id for a in reads], reads[-1].topic, rng.random() < 0.5, ticket_at)

    def _rereads(self, rng: random.Random, profile: dict) -> list[Session]:
        """The same article read again and again in the last week: a pain point."""
        article = rng.choice(
            [a for a in self.catalogue if a.category_index in profile["interests"]]
        )
        return [
            Session(self._last_week(rng, profile), [article.id], article.topic, False, None)
            for _ in range(rng.randint(3, 5))
        ]

    def _effort_burst(self, rng: random.Random, profile: dict) -> list[Session]:
        """A hard week: three sessions of different articles, each ending in a ticket."""
        burst = []
        for category in profile["interests"]:
            reads = rng.sample(self.by_category[category], rng.randint(2, 4))
            start = self._last_week(rng, profile)
            ticket_at = start + timedelta(minutes=len(reads) * 6 + rng.uniform(2, 30))
            burst.append(Session(start, [a.id for a in reads], reads[-1].topic, True, ticket_at))
        return burst

    def _last_week(self, rng: random.Random, profile: dict) -> datetime:
        """A moment in the 6.5 days before the anchor (and after signup), an hour or more
        before it so that what follows still happens before the anchor."""
        known = (self.anchor - profile["signup"]).total_seconds() / 86400
        return self.anchor - timedelta(days=rng.uniform(0.1, max(min(6.5, known), 0.2)))

    def _touchpoints_of(self, index: int) -> Iterator[Touchpoint]:
        profile = self._profile(index)
        ref = CustomerRef(source_id=f"u{index + 1}")
        lang = profile["lang"]
        locale = "en-us" if lang == "en" else "es"
        rng = self._rng(index, "views")
        by_id = {a.id: a for a in self.catalogue}
        number = index + 1

        def touchpoint(
            event_id: str, kind: str, at: datetime, channel: str, **fields
        ) -> Touchpoint:
            return Touchpoint(
                id=event_id, type=kind, occurred_at=at, customer=ref, channel=channel, **fields
            )

        yield touchpoint(f"signup-{number}", "signup", profile["signup"], "web")
        if profile["purchased_at"]:
            yield touchpoint(f"purchase-{number}", "purchase", profile["purchased_at"], "web")
        for n, session in enumerate(self._sessions(index)):
            at = session.start
            if session.search:
                query = SEARCH_WORDS[lang].format(t=session.topic[0 if lang == "en" else 1])
                properties = {"query": query, "result_count": rng.randint(0, 12)}
                yield touchpoint(
                    f"s-{number}-{n}", "search", at, "help_center", properties=properties
                )
            for k, article_id in enumerate(session.article_ids):
                at += timedelta(minutes=rng.uniform(0.5, 6))
                art = by_id[article_id]
                yield touchpoint(
                    f"v-{number}-{n}-{k}",
                    "article_view",
                    at,
                    "help_center",
                    article_id=article_id,
                    article_title=art.titles[0 if lang == "en" else 1],
                    article_url=self.article_url(art, lang),
                    article_locale=locale,
                )

    def _tickets_of(self, index: int) -> Iterator[Ticket]:
        profile = self._profile(index)
        rng = self._rng(index, "tickets")
        lang = 0 if profile["lang"] == "en" else 1
        ref = CustomerRef(source_id=f"u{index + 1}")
        moments = [(s.ticket_at, s.topic) for s in self._sessions(index) if s.ticket_at]
        if rng.random() < 0.25 and not profile["churning"]:  # some write without reading first
            at = self.anchor - timedelta(days=rng.uniform(0.1, 60))
            if at > profile["signup"]:
                moments.append((at, None))
        if profile["unhappy"]:  # a complaint, solved days ago (and rated bad, see _ticket)
            moments.append((self.anchor - timedelta(days=rng.uniform(4, 20)), None))
        moments.sort(key=lambda m: m[0])
        for k, (created, topic) in enumerate(moments[-20:]):  # the latest twenty
            if topic:
                template = rng.choice(SUBJECT_TEMPLATES)[lang]
                subject = template.format(t=topic[lang], T=capitalize(topic[lang]))
            else:
                subject = rng.choice(GENERIC_SUBJECTS)[lang]
            yield self._ticket(
                rng, profile, ref, FIRST_TICKET_ID + index * 20 + k, created, subject
            )

    def _ticket(self, rng, profile, ref, number: int, created: datetime, subject: str) -> Ticket:
        age_days = (self.anchor - created).total_seconds() / 86400
        first_response = created + timedelta(minutes=rng.uniform(5, 600))
        solved_at = csat = None
        if age_days > 3 or (age_days > 0.5 and rng.random() < 0.5):
            status = "closed" if age_days > 10 else "solved"
            solved_at = min(created + timedelta(hours=rng.uniform(1, 72)), self.anchor)
            if profile["unhappy"]:
                csat = "bad"
            elif rng.random() < 0.7:
                csat = "bad" if rng.random() < 0.08 else "good"
        else:
            status = rng.choice(["new", "open", "open", "pending"])
        return Ticket(
            id=str(number),
            requester=ref,
            subject=subject,
            created_at=created,
            updated_at=solved_at or first_response,
            status=status,
            priority=rng.choice(["low", "normal", "normal", "normal", "high"]),
            channel=rng.choice(["web", "web", "email", "email", "chat"]),
            tags=(),
            solved_at=solved_at,
            first_response_at=first_response if first_response < self.anchor else None,
            csat_score=csat,
            group=GROUPS[number % len(GROUPS)],  # not drawn: the demo's promises stay as seeded
        )


GROUPS = ("Support", "Billing", "Onboarding")
_STEPS = [(5**0.5 - 1) / 2, *(p**0.5 % 1 for p in (2, 3, 7, 11, 13))]  # rationally independent


def _spread(index: int, seed: int, trait: int) -> float:
    """A number in [0, 1) for customer `index`, evenly spread over consecutive customers.

    An additive recurrence (a Weyl sequence, one irrational step per trait): any run of n
    customers holds n × share ± 2 of a trait, so every stage and signal appears at its
    share in any demo of a few hundred customers, not only on a lucky seed or date."""
    step = _STEPS[trait]
    offset = random.Random(f"{seed}:spread:{trait}").random()
    return (offset + index * step) % 1.0


def _pick_stage(roll: float) -> str:
    for stage, share in STAGE_MIX:
        if roll < share:
            return stage
        roll -= share
    return STAGE_MIX[-1][0]


def _build_catalogue() -> list[DemoArticle]:
    articles = []
    next_id = FIRST_ARTICLE_ID
    for c, (_, topics) in enumerate(CATEGORIES):
        made = 0
        for template in ARTICLE_TEMPLATES:
            for topic in topics:
                if made == ARTICLES_PER_CATEGORY:
                    break
                titles = tuple(
                    template[i].format(t=topic[i], T=capitalize(topic[i])) for i in (0, 1)
                )
                articles.append(DemoArticle(str(next_id), c, topic, titles))
                next_id += 1
                made += 1
    return articles


def _batches(stream: str, records, cursor: str) -> Iterator[Batch]:
    """Chunk records; only the last batch carries the cursor (the stream is one unit)."""
    chunk: list = []
    for record in records:
        chunk.append(record)
        if len(chunk) == BATCH_SIZE:
            yield Batch(stream, chunk, None)
            chunk = []
    yield Batch(stream, chunk, cursor)
