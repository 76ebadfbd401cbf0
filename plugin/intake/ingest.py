"""Events from the portal snippet and from export files → `Touchpoint`s in the store.

One validator serves both doors (DESIGN §4: the ingest body's events are also the JSONL
line format): `parse_events` turns raw events into touchpoints and per-item rejections
(index or line number + reason), so one bad event never costs the good ones beside it.
`store_events` then writes the good ones through the store in one transaction, idempotent
by (source, event id), and records the rejections so they are counted, not lost.

Who an event is about is believed only as far as it is proven (`plugin.intake.identity`:
customer HMAC, Help Center JWT); an admin's file import (`identity=None`) is trusted.

`identify` events (anonymous visitor id + email/external id) let the store merge the
visitor's earlier anonymous reads into that customer (`store.customers.resolve_customer`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from sqlite_utils import Database

from connectors.files import BadLine
from connectors.records import TOUCHPOINT_TYPES, CustomerRef, Touchpoint
from plugin import clock
from plugin.intake.identity import EMAIL, IdentityRules, is_named, prove_identity
from plugin.store.sync_state import record_rejection
from plugin.store.touchpoints import INBOX_LIMIT, inbox_backlog, merge_inbox, stage_touchpoints
from plugin.tuning import gc_paused

log = logging.getLogger("journeydesk.ingest")

PORTAL_TYPES = ("article_view", "search", "identify")
"""Known types a portal may send; the others (tickets, CSAT, purchases) come from desks."""
MAX_ID_LENGTH = 200
MAX_URL_LENGTH = 2000
MAX_TITLE_LENGTH = 500
MAX_QUERY_LENGTH = 500
MAX_PROPERTIES_BYTES = 8192
MAX_PROPERTIES_DEPTH = 32  # orjson writes 254 levels at most; nobody needs more than a few
FUTURE_TOLERANCE = timedelta(days=1)  # clock skew of visitors' machines
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
TIME_HINT = "an ISO 8601 time with a time zone, e.g. 2026-11-20T10:00:00Z"

_TYPE = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,2}")
_WEB = ("https://", "http://")
_USUAL_LOCALES = {
    locale: locale
    for locale in ("en", "en-us", "en-gb", "es", "fr", "de", "it", "pt", "pt-br", "nl", "ja")
}
"""Locales already valid and normalised: no pattern to run, nothing to rewrite."""


class EventError(ValueError):
    """One event is unusable; the message names the field and the problem."""


@dataclass(frozen=True)
class IngestTarget:
    """Where events go: their id namespace, whose articles they name, how far to trust them."""

    source: str  # touchpoint namespace: "portal:<key name>" or "import:<connector>"
    article_source: str  # the connector whose customers and articles the events are about
    article_ref: Callable[[str], str | None]  # the connector's URL → article id
    channel: str  # "portal" | "import"
    identity: IdentityRules | None = None  # None: a trusted sender (an admin's import)
    desk_types_allowed: bool = False  # may send ticket_opened, csat, purchase, ...


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int  # position in the batch, or line number in a file
    error: str


@dataclass(frozen=True, slots=True)
class Notice:
    index: int
    message: str


@dataclass
class ParsedBatch:
    touchpoints: list[Touchpoint] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The answer of POST /api/v1/events (DESIGN §4, plus `warnings`)."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [{"index": r.index, "error": r.error} for r in self.rejected],
            "warnings": [{"index": n.index, "warning": n.message} for n in self.notices],
        }


# --- validation ------------------------------------------------------------------------


def parse_events(
    items: Iterable[tuple[int, Any]], target: IngestTarget, *, now: datetime | None = None
) -> ParsedBatch:
    """Validate `(index, raw event)` pairs; a `BadLine` is rejected with its own reason."""
    now = now or clock.now()
    latest = now + FUTURE_TOLERANCE
    batch = ParsedBatch()
    append = batch.touchpoints.append
    with gc_paused():
        for index, raw in items:
            if raw.__class__ is BadLine:
                batch.rejected.append(Rejection(index, raw.reason))
                continue
            try:
                touchpoint, notice = _parse_event(raw, target, latest)
            except EventError as exc:
                batch.rejected.append(Rejection(index, str(exc)))
                continue
            append(touchpoint)
            if notice:
                batch.notices.append(Notice(index, notice))
    return batch


def parse_event(raw: Any, target: IngestTarget, *, now: datetime) -> tuple[Touchpoint, str | None]:
    """One event → a touchpoint and an optional warning; raises EventError."""
    return _parse_event(raw, target, now + FUTURE_TOLERANCE)


def _parse_event(raw: Any, target: IngestTarget, latest: datetime) -> tuple[Touchpoint, str | None]:
    """`parse_event` with the latest acceptable time worked out once per batch.

    Hot: every ingested event and imported line passes here, so the usual shapes take
    short paths (see `_text`, `_type`, `_time`); the checks and messages are the same.
    """
    if raw.__class__ is not dict and not isinstance(raw, dict):
        raise EventError("expected a JSON object")
    get = raw.get
    event_id = _text(get("id"), "id", MAX_ID_LENGTH, required=True)
    type_ = _type(get("type"), target)
    occurred_at = _time(get("occurred_at"), latest)
    properties = _properties(get("properties"))
    customer, proof, notice = _customer(get("customer"), target)
    article_value = get("article")
    if article_value is None and type_ != "article_view":
        article_id = article_url = article_title = article_locale = None
    else:
        article_id, article_url, article_title, article_locale = _article(
            article_value, target, required=type_ == "article_view"
        )
    if type_ == "search":
        properties["query"] = _query(properties.get("query", raw.get("query")))
    if type_ == "identify" and not (customer.anonymous_id and is_named(customer)):
        raise EventError(
            "identify: needs customer.anonymous_id and a verified email or external_id"
            if notice
            else "identify: needs customer.anonymous_id and customer.email or external_id"
        )
    if proof:
        properties["identity"] = proof
    touchpoint = Touchpoint(
        event_id,
        type_,
        occurred_at,
        customer,
        target.channel,
        article_id,
        article_title,
        article_url,
        article_locale,
        None,
        properties,
    )
    return touchpoint, notice


def _text(value: Any, where: str, limit: int, *, required: bool = False) -> str | None:
    """A non-empty string (ints are taken as their digits, as ids often are)."""
    if value.__class__ is str:  # the usual case, valid: one strip, two tests
        text = value.strip()
        if text and len(text) <= limit:
            return text
    elif value is None:
        if required:
            raise EventError(f"{where}: required")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or value == "":
        if required:
            raise EventError(f"{where}: required")
        return None
    if not isinstance(value, str):
        raise EventError(f"{where}: expected a string")
    value = value.strip()
    if not value or len(value) > limit:
        raise EventError(f"{where}: must be 1 to {limit} characters")
    return value


_PORTAL_TYPES = frozenset(PORTAL_TYPES)


def _type(value: Any, target: IngestTarget) -> str:
    if value.__class__ is str and value in _PORTAL_TYPES:  # names every target accepts
        return value
    if not isinstance(value, str) or not value:
        raise EventError("type: required (article_view, search, identify or a custom name)")
    if not _TYPE.fullmatch(value):
        raise EventError(
            f"type: {value[:64]!r} is not a name (lower-case letters, digits, _ . : -)"
        )
    if value in TOUCHPOINT_TYPES and value not in PORTAL_TYPES and not target.desk_types_allowed:
        raise EventError(f"type: {value!r} comes from the help desk, not from a portal")
    return value


def _time(value: Any, latest: datetime) -> datetime:
    """`value` as an aware UTC datetime, not after `latest` (now + the tolerated skew)."""
    if isinstance(value, str) and 0 < len(value) <= 40:  # the usual case: ISO 8601 text
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            raise EventError(f"occurred_at: {value!r} is not {TIME_HINT}") from None
        if at.tzinfo is None:
            raise EventError(f"occurred_at: {value!r} has no time zone (add Z or +01:00)")
    elif value is None or value == "":
        raise EventError(f"occurred_at: required ({TIME_HINT})")
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            at = datetime.fromtimestamp(value, UTC)  # epoch seconds
        except (OverflowError, OSError, ValueError):
            raise EventError("occurred_at: not a plausible epoch time in seconds") from None
    else:
        raise EventError(f"occurred_at: expected {TIME_HINT}")
    try:
        at = at.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last datetime in UTC
        raise EventError(f"occurred_at: {value!r} is out of range") from None
    return _plausible(at, latest)


def _plausible(at: datetime, latest: datetime) -> datetime:
    if at > latest:
        raise EventError("occurred_at: more than a day in the future")
    if at < EARLIEST:
        raise EventError("occurred_at: before the year 2000")
    return at


def _properties(value: Any) -> dict[str, Any]:
    """The event's free-form properties, held to strict JSON (the one place they are).

    They are stored and served again to browsers, whose JSON.parse refuses NaN and
    Infinity and rounds integers past 2^53, and to orjson, which refuses those past 64
    bits: an event carrying such numbers is rejected with the reason, never stored.
    Cost: the size check's encoding already refuses NaN/Infinity (allow_nan off); the
    other checks run only when the encoded text hints at a problem (a 19-digit run, more
    brackets than the depth limit), so plain properties pay two counts and a regex.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError("properties: expected an object")
    try:
        text = _strict_dumps(value)
    except RecursionError:
        raise EventError("properties: nested too deeply") from None
    except ValueError:
        raise EventError("properties: NaN and Infinity are not JSON numbers") from None
    if len(text) > MAX_PROPERTIES_BYTES:
        raise EventError(f"properties: larger than {MAX_PROPERTIES_BYTES} bytes")
    if text.count("[") + text.count("{") > MAX_PROPERTIES_DEPTH:
        if _depth(value) > MAX_PROPERTIES_DEPTH:
            raise EventError(f"properties: nested deeper than {MAX_PROPERTIES_DEPTH} levels")
    if _LONG_NUMBER.search(text) and _has_huge_int(value):
        raise EventError("properties: integers must fit in 64 bits (send larger ones as text)")
    return dict(value)


# The store's encoder with allow_nan off, its C core made once (as plugin.store.dumps
# does: building one per call costs more than encoding a small document).
_C_STRICT = (
    json.encoder.c_make_encoder(
        None, str, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, False
    )
    if json.encoder.c_make_encoder is not None
    else None
)
_STRICT = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False, default=str)


def _strict_dumps(value: dict[str, Any]) -> str:
    """JSON text of `value`; ValueError for NaN or Infinity anywhere in it."""
    if _C_STRICT is None:
        return _STRICT.encode(value)
    return "".join(_C_STRICT(value, 0))


_LONG_NUMBER = re.compile(r"[0-9]{19}")
INT64 = range(-(2**63), 2**63)


def _containers(value: Any) -> Iterator[tuple[Any, int]]:
    """Every list and dict inside `value` with its depth (no recursion: any depth)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        items = node.values() if isinstance(node, dict) else node
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))


def _depth(value: Any) -> int:
    return max(depth for _, depth in _containers(value))


def _has_huge_int(value: Any) -> bool:
    for node, _ in _containers(value):
        items = node.values() if isinstance(node, dict) else node
        if any(type(item) is int and item not in INT64 for item in items):
            return True
    return False


def _query(value: Any) -> str:
    query = _text(value, "properties.query", MAX_QUERY_LENGTH)
    if query is None:
        raise EventError("properties.query: required for a search")
    return query


def _customer(value: Any, target: IngestTarget) -> tuple[CustomerRef, str | None, str | None]:
    """The customer reference after the identity rules, its proof, and a warning."""
    if not isinstance(value, dict):
        raise EventError("customer: required, with email, external_id or anonymous_id")
    get = value.get
    email = _text(get("email"), "customer.email", 254)  # None when absent
    if email and not EMAIL.fullmatch(email):
        raise EventError("customer.email: not an email address")
    external_id = _text(get("external_id"), "customer.external_id", MAX_ID_LENGTH)
    anonymous_id = _text(get("anonymous_id"), "customer.anonymous_id", MAX_ID_LENGTH)
    ref = CustomerRef(None, email, external_id, anonymous_id)
    if target.identity is None or not (email or external_id or get("jwt")):  # nothing to prove
        if email or external_id or anonymous_id:
            return ref, None, None
        raise EventError("customer: needs email, external_id or anonymous_id")
    ref, proof, notice = prove_identity(ref, value, target.identity)
    if ref.is_empty():
        if notice:
            raise EventError(f"{notice}, and there is no customer.anonymous_id to keep it under")
        raise EventError("customer: needs email, external_id or anonymous_id")
    if notice and ref.anonymous_id and not is_named(ref):
        notice += ": kept as anonymous"
    return ref, proof, notice


def _article(
    value: Any, target: IngestTarget, *, required: bool
) -> tuple[str | None, str | None, str | None, str | None]:
    """(article id, url, title, locale) of an event; all None when it names none."""
    if value is None:
        if required:
            raise EventError("article: required for an article_view (an id or a url)")
        return None, None, None, None
    if not isinstance(value, dict):
        raise EventError("article: expected an object with an id or a url")
    get = value.get
    article_id = _text(get("id"), "article.id", MAX_ID_LENGTH)
    url = _text(get("url"), "article.url", MAX_URL_LENGTH)
    if url and not url.startswith(_WEB) and not url.lower().startswith(_WEB):
        raise EventError("article.url: expected an http(s) URL")
    if not article_id and url:
        article_id = _article_ref(target, url)
        if not article_id:
            raise EventError(f"article.url: not an article URL of {target.article_source}")
    if not article_id:
        raise EventError("article: needs an id or a url")
    locale = get("locale")
    if locale is not None:
        locale = _text(locale, "article.locale", 20)
    if locale:
        if locale in _USUAL_LOCALES:
            locale = _USUAL_LOCALES[locale]
        elif _LOCALE.fullmatch(locale):
            locale = locale.lower().replace("_", "-")
        else:
            raise EventError(f"article.locale: {locale!r} is not a locale like en-us")
    title = get("title")
    if title is not None:
        title = _text(title, "article.title", MAX_TITLE_LENGTH)
    return article_id, url, title, locale


def _article_ref(target: IngestTarget, url: str) -> str | None:
    try:
        return target.article_ref(url)
    except (ValueError, TypeError):  # a URL a connector's parser chokes on is just not one
        return None


# --- storing ---------------------------------------------------------------------------


def store_events(
    db: Database,
    target: IngestTarget,
    batch: ParsedBatch,
    *,
    record_rejections: int = 1000,
    log_rejections: bool = True,
) -> IngestResult:
    """Write a parsed batch in one transaction; record up to `record_rejections` rejections.

    The events land in the inbox (readable at once); the worker merges it into the
    history. When the inbox outgrew INBOX_LIMIT (no worker running), each writer merges one
    chunk of it after its own batch, so the inbox shrinks while events keep coming.
    """
    with db.atomic():
        # stage_touchpoints resolves customers merge-safely (store.resolve_customers).
        result = stage_touchpoints(
            db, target.source, batch.touchpoints, article_source=target.article_source
        )
        for rejection in batch.rejected[:record_rejections]:
            record_rejection(db, target.source, "events", f"#{rejection.index}: {rejection.error}")
    if result.accepted and inbox_backlog(db) > INBOX_LIMIT:
        merge_inbox(db, chunks=1)
    if batch.rejected and log_rejections:
        log.info(
            "%s: %d event(s) rejected, first: #%d %s",
            target.source,
            len(batch.rejected),
            batch.rejected[0].index,
            batch.rejected[0].error,
        )
    return IngestResult(result.accepted, result.duplicates, batch.rejected, batch.notices)


# --- file imports ----------------------------------------------------------------------


@dataclass
class ImportReport:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_rejections: list[Rejection] = field(default_factory=list)  # by line number

    def add(self, lines: int, result: IngestResult, keep: int) -> None:
        self.lines += lines
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.rejected += len(result.rejected)
        room = keep - len(self.first_rejections)
        self.first_rejections.extend(result.rejected[: max(room, 0)])


def import_events(
    db: Database,
    target: IngestTarget,
    records: Iterable[tuple[int, Any]],
    *,
    batch_size: int = 20_000,
    keep_rejections: int = 20,
    record_rejections: int = 1000,
    progress: Callable[[ImportReport], None] | None = None,
    report: ImportReport | None = None,
) -> ImportReport:
    """Stream `(line number, event | BadLine)` into the store, one transaction per batch.

    A crash mid-file keeps the committed batches; importing the file again then counts
    them as duplicates and adds the rest. Pass `report` to watch the counts grow (a
    caller that fails mid-file can then say how far it got). Batches are large (one
    writer, trusted input): each commit writes every index page the batch touched, so
    20,000 lines a commit write the pages that many events share once, not twenty times.
    """
    report = report if report is not None else ImportReport()
    iterator = iter(records)
    while True:
        # The collector resumes once the batch's objects are freed (nothing left to walk).
        with gc_paused():
            # Lines are parsed as they are read, so each raw event is freed at once and
            # its memory reused by the next (a list of 20,000 raw events cost ~1 µs a line
            # in cache misses). Each line gives one touchpoint or one rejection.
            parsed = parse_events(islice(iterator, batch_size), target)
            lines = len(parsed.touchpoints) + len(parsed.rejected)
            if not lines:
                break
            budget = max(record_rejections - report.rejected, 0)
            # The caller prints a summary with line numbers; a log line per batch is noise.
            result = store_events(
                db, target, parsed, record_rejections=budget, log_rejections=False
            )
            report.add(lines, result, keep_rejections)
            del parsed
        if progress:
            progress(report)
    return report
