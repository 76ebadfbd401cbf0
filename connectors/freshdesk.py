"""Freshdesk (API v2) as journeydesk streams (DESIGN §3, reference helpdesk-apis.md §2).

Tickets and contacts come from the `updated_since` lists; the knowledge base from the
solutions tree (categories → folders → subfolders → articles) in every language of the
account. Freshdesk has no API for who read which article, so `touchpoints` and
`customer_touchpoints` yield nothing: views come from the portal snippet, and
`push_article_views` writes them back to the contact's timeline.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from requests.auth import HTTPBasicAuth

from connectors.errors import BadPayloadError, ConnectorError, RecordError
from connectors.http import (
    AccessDeniedError,
    HttpClient,
    HttpStatusError,
    ResourceNotFoundError,
)
from connectors.records import Article, Batch, Customer, CustomerRef, Note, Ticket, Touchpoint, utc

log = logging.getLogger("journeydesk.freshdesk")

# Codes from the v2 reference ("Ticket Properties"). Custom statuses use other numbers
# (UNVERIFIED which); they are kept "open" so SLA rules keep watching them.
STATUS_WORDS = {2: "open", 3: "pending", 4: "solved", 5: "closed"}
PRIORITY_WORDS = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
PRIORITY_CODES = {"low": 1, "normal": 2, "medium": 2, "high": 3, "urgent": 4}
SOURCE_WORDS = {
    1: "email",
    2: "web",  # the portal
    3: "phone",
    7: "chat",
    9: "feedback_widget",
    10: "outbound_email",
}
ARTICLE_DRAFT = 1  # solution article status: 1 draft, 2 published

PAGE_CAP = 300
"""`GET /tickets` returns at most 300 pages; page 301 is a 400 (reference §2.2)."""
MAX_PER_PAGE = 100  # larger values are a 400 on every list endpoint
FULL_SYNC_SINCE = datetime(2000, 1, 1, tzinfo=UTC)
"""Without `updated_since` the ticket list only returns the last 30 days."""
OVERLAP = timedelta(seconds=1)
"""`updated_since` has one-second resolution and Freshdesk does not say whether it is
inclusive: every query starts a second early and the overlap is dropped by id."""
ARTICLE_URL = re.compile(
    r"^(?:/[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,4})?)?/support/solutions/articles/(\d+)(?:-[^/]*)?/?$"
)


class FreshdeskConnector:
    """One Freshdesk account.

    `domain` is "acme.freshdesk.com" (a bare "acme" gets the suffix); `base_url`
    overrides where the API is called (tests, proxies) and `portal_url` the host of
    article links (default: the domain). `email_config_id` is the support mailbox
    outbound emails are sent from (required by the outbound email API).
    """

    def __init__(
        self,
        name: str,
        domain: str,
        api_key: str,
        base_url: str = "",
        http: HttpClient | None = None,
        *,
        email_config_id: int | None = None,
        portal_url: str = "",
        languages: Iterable[str] | None = None,
        page_cap: int = PAGE_CAP,
        per_page: int = MAX_PER_PAGE,
        include_requester: bool = False,
        timeout: float = 10.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        self.domain = domain if "." in domain else f"{domain}.freshdesk.com"
        self.email_config_id = email_config_id
        self.portal_url = (portal_url or f"https://{self.domain}").rstrip("/")
        self.languages = tuple(languages) if languages is not None else None
        self.page_cap = page_cap
        self.per_page = min(per_page, MAX_PER_PAGE)
        # Each embed costs 2 credits per call; the requester's email is the only thing
        # `include=requester` adds that we use, and contacts arrive by their own stream.
        self.include = "stats,requester" if include_requester else "stats"
        self.http = http or self._make_http(api_key, base_url, timeout, sleep)
        self._groups: dict[object, str] | None = None

    def _make_http(
        self, api_key: str, base_url: str, timeout: float, sleep: Callable[[float], None] | None
    ) -> HttpClient:
        extra = {"sleep": sleep} if sleep else {}
        return HttpClient(
            base_url or f"https://{self.domain}",
            HTTPBasicAuth(api_key, "X"),  # the API key is the user name; the password is unused
            desk="Freshdesk",
            credentials_setting=f"connectors.{self.name}.api_key_env",
            domain_setting=f"connectors.{self.name}.domain",
            timeout=timeout,
            **extra,
        )

    # -- streams --------------------------------------------------------------------------

    def tickets(self, since: str | None) -> Iterator[Batch]:
        params = {"order_by": "updated_at", "order_type": "asc", "include": self.include}
        parse = partial(_parse_ticket, group_name=self._group_name)
        return self._iter_ordered("tickets", "/api/v2/tickets", since, parse, params)

    def customers(self, since: str | None) -> Iterator[Batch]:
        """Contacts updated since the cursor.

        The contact list is not documented as sorted, so a page's last `updated_at`
        is no safe resume point: the cursor only moves on the last page, to the newest
        `updated_at` seen (a crash re-reads the run, which upserts make harmless).
        """
        start = _since(since) - OVERLAP
        query: dict | None = {"updated_since": _iso(start), "per_page": self.per_page}
        newest, url = start + OVERLAP, "/api/v2/contacts"
        while url:
            rows, next_url = self.http.get_json_page(url, params=query)
            batch = Batch("customers", [], since)
            for raw in _rows(rows, url):
                _collect(batch, raw, _parse_contact)
            newest = _newest(newest, batch.records) or newest
            if not next_url:
                batch.cursor = _iso(newest)
            yield batch
            url, query = next_url or "", None

    def articles(self, since: str | None) -> Iterator[Batch]:
        """Every article in every language, walking the whole tree.

        Solutions have no `updated_since`, so each run walks everything and yields
        what changed since the cursor. The cursor only moves on the final (empty)
        batch: a walk cut short must not skip the folders it never reached.
        """
        floor = _since(since) if since else None
        newest = floor
        for locale, suffix in self._language_paths():
            for folder, category in self._iter_folders(suffix):
                for batch in self._iter_folder_articles(folder, category, locale, suffix):
                    batch.records = [a for a in batch.records if _changed_since(a, floor)]
                    newest = _newest(newest, batch.records)
                    batch.cursor = since
                    if batch.records or batch.rejected:
                        yield batch
        yield Batch("articles", [], _iso(newest) if newest else since)

    def touchpoints(self, since: str | None) -> Iterator[Batch]:
        """Freshdesk keeps no reading history in its API (reference §2.7)."""
        return iter(())

    def customer_touchpoints(self, customer_source_id: str, since: str | None) -> Iterator[Batch]:
        return iter(())

    def _group_name(self, group_id: object) -> str:
        """A group's name (the account's groups read once per connector), else its id."""
        if self._groups is None:
            self._groups = {}
            url, query = "/api/v2/groups", {"per_page": 100}
            try:
                while url:
                    rows, next_url = self.http.get_json_page(url, params=query)
                    for group in rows if isinstance(rows, list) else ():
                        if isinstance(group, dict) and isinstance(group.get("name"), str):
                            self._groups[group.get("id")] = group["name"]
                    url, query = next_url or "", None
            except ConnectorError as exc:
                log.warning("%s: no group names (%s); tickets keep group ids", self.name, exc)
        return self._groups.get(group_id) or str(group_id)

    # -- one ticket, writes -----------------------------------------------------------------

    def fetch_ticket(self, ticket_id: str) -> tuple[Ticket, Customer | None] | None:
        """The ticket and its requester (embedded), or None when it does not exist."""
        try:
            raw = self.http.get_json(
                f"/api/v2/tickets/{int(ticket_id)}", params={"include": "requester,stats"}
            )
        except ResourceNotFoundError:
            return None
        try:
            ticket = _parse_ticket(raw, group_name=self._group_name)
        except RecordError as exc:
            raise BadPayloadError(f"Freshdesk ticket {ticket_id}: {exc}") from None
        return ticket, _requester(raw)

    def update_ticket(
        self, ticket_id: str, priority: str | None = None, add_tags: tuple[str, ...] = ()
    ) -> None:
        """Set the priority and add tags. `tags` replaces the whole list on Freshdesk
        (reference §2.4), so the current tags are read first and merged."""
        body: dict[str, Any] = {}
        if priority is not None:
            if priority not in PRIORITY_CODES:
                raise ValueError(f"unknown priority {priority!r}; use {sorted(PRIORITY_CODES)}")
            body["priority"] = PRIORITY_CODES[priority]
        if add_tags:
            current = self.http.get_json(f"/api/v2/tickets/{int(ticket_id)}").get("tags") or []
            merged = list(dict.fromkeys([*current, *add_tags]))
            if merged != current:
                body["tags"] = merged
        if body:
            self.http.put_json(f"/api/v2/tickets/{int(ticket_id)}", body)

    def post_note(self, ticket_id: str, note: Note) -> None:
        """A private note (Create a Note: `body` in HTML, `private: true`). Sent once: a
        failure is the caller's to retry after `has_note`."""
        self.http.post_json(
            f"/api/v2/tickets/{int(ticket_id)}/notes",
            {"body": note.html, "private": True},
            once=True,
        )

    def has_note(self, ticket_id: str, marker: str) -> bool:
        """Whether a conversation (reply or note) of the ticket carries `marker`."""
        url: str | None = f"/api/v2/tickets/{int(ticket_id)}/conversations"
        params: dict | None = {"per_page": 100}
        while url is not None:
            page, url = self.http.get_json_page(url, params)
            params = None  # the next link carries them
            for item in page if isinstance(page, list) else []:
                if isinstance(item, dict) and any(
                    marker in str(item.get(key) or "") for key in ("body", "body_text")
                ):
                    return True
        return False

    def send_outbound(
        self, customer: Customer, subject: str, body: str, *, key: str | None = None
    ) -> str:
        """Create an outbound email ticket (created closed, so no SLA timer runs).

        `body` is HTML when it starts with a tag; plain text is escaped and its line
        breaks kept. Returns the new ticket's id.
        """
        if self.email_config_id is None:
            raise ConnectorError(
                "Freshdesk outbound email needs the id of the support mailbox to send from; "
                f"set connectors.{self.name}.email_config_id",
                setting=f"connectors.{self.name}.email_config_id",
            )
        if not customer.email:
            raise ConnectorError(f"customer {customer.source_id} has no email address")
        payload = {
            "email": customer.email,
            "subject": subject,
            "description": _as_html(body),
            "email_config_id": self.email_config_id,
        }
        if customer.name:
            payload["name"] = customer.name
        created = self.http.post_json("/api/v2/tickets/outbound_email", payload)
        if not isinstance(created, dict) or "id" not in created:
            raise BadPayloadError("Freshdesk created the outbound email but sent no ticket id")
        return str(created["id"])

    def push_article_views(self, touchpoints: Iterable[Touchpoint]) -> int:
        """Write captured article views to the contacts' timelines; returns how many.

        The endpoint takes one activity per call, so a batch is a run of calls paced by
        the shared client. It is write-only and not idempotent: callers push each view
        once. A view the desk refuses (unknown contact) is logged and skipped.
        """
        pushed = 0
        for tp in touchpoints:
            body = self._activity(tp)
            if body is None:
                continue
            try:
                self.http.post_json("/api/v2/contact-activities", body)
            except HttpStatusError as exc:
                log.warning("Freshdesk refused the timeline entry for view %s: %s", tp.id, exc)
                continue
            pushed += 1
        return pushed

    def article_ref(self, url: str) -> str | None:
        """The article id in `/support/solutions/articles/<id>-<slug>` (optionally
        under `/<lang>`), on any host: portals often live on custom domains."""
        match = ARTICLE_URL.match(urlsplit(url.strip()).path)
        return match.group(1) if match else None

    # -- pagination -------------------------------------------------------------------------

    def _iter_ordered(
        self,
        stream: str,
        path: str,
        since: str | None,
        parse: Callable[[dict], Ticket],
        params: dict,
    ) -> Iterator[Batch]:
        """Walk a list sorted by `updated_at` ascending, as keyset pages.

        Following `link` page numbers alone loses records: when a record on an
        earlier page is updated mid-sync it moves to the end, everything shifts one
        place, and the first record of the next page is never served. So after each
        page the query restarts at the page's last `updated_at`; `link` is followed
        only while a whole page shares one second. That also keeps clear of the
        300-page cap (page 301 is an error). The cursor of a batch is its newest
        `updated_at`: everything older has been yielded.
        """
        window, cursor = _since(since) - OVERLAP, since
        seen: dict[tuple[str, str], datetime] = {}
        url, query = path, self._window_query(params, window)
        depth = 1  # pages followed by `link` inside one window
        while True:
            rows, next_url = self.http.get_json_page(url, params=query)
            batch, last = _unseen_batch(stream, _rows(rows, path), parse, seen, window)
            if newest := _newest(None, batch.records):
                cursor = _iso(newest)
            batch.cursor = cursor
            if batch.records or batch.rejected:
                yield batch
            if not next_url:
                return
            if last is not None and last - OVERLAP > window:  # restart further on
                window, depth = last - OVERLAP, 1
                seen = {key: stamp for key, stamp in seen.items() if stamp >= window}
                url, query = path, self._window_query(params, window)
            elif depth < self.page_cap:  # a page all in one second: page on
                url, query, depth = next_url, None, depth + 1
            else:
                raise ConnectorError(
                    f"Freshdesk: more than {self.page_cap * self.per_page} {stream} were "
                    f"updated within two seconds of {_iso(window)}; the list API cannot "
                    "page past them"
                )

    def _window_query(self, params: dict, window: datetime) -> dict:
        return {**params, "updated_since": _iso(window), "per_page": self.per_page}

    def _pages(self, path: str) -> Iterator[list]:
        """Every page of a small list endpoint, following `link`."""
        url, query = path, {"per_page": self.per_page}
        while url:
            rows, next_url = self.http.get_json_page(url, params=query)
            yield _rows(rows, path)
            url, query = next_url or "", None

    # -- knowledge base ---------------------------------------------------------------------

    def _language_paths(self) -> list[tuple[str, str]]:
        """(locale, path suffix) per language: the primary language uses the plain
        endpoints, the others `/<language_code>` (helpdesk settings list them)."""
        primary, others = self._account_languages()
        return [(primary, ""), *((lang, f"/{lang}") for lang in others if lang != primary)]

    def _account_languages(self) -> tuple[str, list[str]]:
        if self.languages is not None:
            return (self.languages[0] if self.languages else "en"), list(self.languages[1:])
        try:
            settings = self.http.get_json("/api/v2/settings/helpdesk")
        except (AccessDeniedError, ResourceNotFoundError, HttpStatusError) as exc:
            # An agent key without admin rights cannot read settings: primary only.
            log.warning("Freshdesk helpdesk settings unreadable (%s); primary language only", exc)
            return "en", []
        primary = str(settings.get("primary_language") or "en")
        others = [
            *(settings.get("supported_languages") or []),
            *(settings.get("portal_languages") or []),
        ]
        return primary, list(dict.fromkeys(str(x) for x in others if x))

    def _iter_folders(self, suffix: str) -> Iterator[tuple[dict, dict]]:
        """(folder, category) for every folder and subfolder, each once."""
        seen: set[Any] = set()
        for categories in self._pages(f"/api/v2/solutions/categories{suffix}"):
            for category in categories:
                todo = self._list(f"/api/v2/solutions/categories/{category['id']}/folders{suffix}")
                while todo:
                    folder = todo.pop(0)
                    if folder.get("id") in seen:
                        continue  # flexible hierarchy: a subfolder may also be listed at the top
                    seen.add(folder.get("id"))
                    yield folder, category
                    if folder.get("sub_folders_count", 1):  # absent without flexible hierarchy
                        todo += self._list(
                            f"/api/v2/solutions/folders/{folder['id']}/subfolders{suffix}"
                        )

    def _list(self, path: str) -> list[dict]:
        """All rows of a list; a list missing in this language is an empty one."""
        try:
            return [row for page in self._pages(path) for row in page]
        except ResourceNotFoundError:
            return []

    def _iter_folder_articles(
        self, folder: dict, category: dict, locale: str, suffix: str
    ) -> Iterator[Batch]:
        """One batch per page of a folder's articles in one language."""

        def parse(raw: dict) -> Article:
            return self._parse_article(raw, folder, category, locale, bool(suffix))

        try:
            for rows in self._pages(f"/api/v2/solutions/folders/{folder['id']}/articles{suffix}"):
                batch = Batch("articles", [], None)
                for raw in rows:
                    _collect(batch, raw, parse)
                yield batch
        except ResourceNotFoundError:
            return  # the folder has no translation in this language

    def _parse_article(
        self, raw: dict, folder: dict, category: dict, locale: str, localized: bool
    ) -> Article:
        article_id, title = _require_id(raw), raw.get("title")
        if not isinstance(title, str) or not title.strip():
            raise RecordError(f"article {article_id}: no title")
        prefix = f"/{locale}" if localized else ""
        return Article(
            id=article_id,
            locale=locale,
            title=title,
            url=f"{self.portal_url}{prefix}/support/solutions/articles/{article_id}-{_slug(title)}",
            section=folder.get("name"),
            category=category.get("name"),
            updated_at=_maybe_time(raw.get("updated_at")),
            draft=raw.get("status") == ARTICLE_DRAFT,
        )

    def _activity(self, tp: Touchpoint) -> dict | None:
        """The timeline entry for one article view (body shape: reference §2.7; the
        actor/object `type` values are UNVERIFIED against a live account)."""
        contact = _contact_ref(tp.customer)
        if tp.type != "article_view" or contact is None:
            return None
        title = tp.article_title or f"article {tp.article_id}"
        return {
            "activity": {
                "name": "Read a help article",
                "timestamp": _iso(utc(tp.occurred_at)),
                "description": title,
                "actor": {"type": "contact", "id": str(next(iter(contact.values())))},
                "source": {"name": "journeydesk", "id": self.name},
                "object": {
                    "type": "solution_article",
                    "id": str(tp.article_id),
                    "link": tp.article_url or "",
                },
                "context": {"touchpoint_id": tp.id, "locale": tp.article_locale or ""},
            },
            "contact": contact,
        }


# -- parsing (pure) ------------------------------------------------------------------------


def _parse_ticket(raw: dict, group_name: Callable[[object], str] = str) -> Ticket:
    ticket_id = _require_id(raw)
    status = raw.get("status")
    if not isinstance(status, int):
        raise RecordError(f"ticket {ticket_id}: status {status!r} is not a code")
    requester = _requester_ref(raw)
    if requester.is_empty():
        raise RecordError(f"ticket {ticket_id}: no requester")
    stats = raw.get("stats") if isinstance(raw.get("stats"), dict) else raw
    tags = raw.get("tags") or []
    if not isinstance(tags, list):
        raise RecordError(f"ticket {ticket_id}: tags is not a list")
    return Ticket(
        id=ticket_id,
        requester=requester,
        subject=str(raw.get("subject") or ""),
        created_at=_time(raw, "created_at", f"ticket {ticket_id}"),
        updated_at=_time(raw, "updated_at", f"ticket {ticket_id}"),
        status=STATUS_WORDS.get(status, "open"),
        priority=PRIORITY_WORDS.get(raw.get("priority") or 0),
        channel=SOURCE_WORDS.get(raw["source"], "other") if raw.get("source") else None,
        tags=tuple(str(t) for t in tags),
        solved_at=_maybe_time(stats.get("resolved_at") or stats.get("closed_at")),
        first_response_at=_maybe_time(stats.get("first_responded_at")),
        deleted=bool(raw.get("deleted")),
        group=None if raw.get("group_id") is None else group_name(raw["group_id"]),
    )


def _parse_contact(raw: dict) -> Customer:
    contact_id = _require_id(raw)
    attributes = {
        k: raw[k]
        for k in ("phone", "mobile", "company_id", "tags", "custom_fields", "active", "created_at")
        if raw.get(k) not in (None, [], {})
    }
    return Customer(
        source_id=contact_id,
        email=raw.get("email") or None,
        name=raw.get("name") or None,
        external_id=raw.get("unique_external_id") or None,
        other_emails=tuple(e for e in raw.get("other_emails") or () if isinstance(e, str) and e),
        time_zone=raw.get("time_zone") or None,
        locale=raw.get("language") or None,
        updated_at=_time(raw, "updated_at", f"contact {contact_id}"),
        attributes=attributes,
    )


def _requester_ref(raw: dict) -> CustomerRef:
    embedded = raw.get("requester") if isinstance(raw.get("requester"), dict) else {}
    source_id = raw.get("requester_id") or embedded.get("id")
    return CustomerRef(
        source_id=str(source_id) if source_id else None, email=embedded.get("email") or None
    )


def _requester(raw: dict) -> Customer | None:
    embedded = raw.get("requester")
    if not isinstance(embedded, dict) or not embedded.get("id"):
        return None
    return Customer(
        source_id=str(embedded["id"]),
        email=embedded.get("email") or None,
        name=embedded.get("name") or None,
    )


def _contact_ref(ref: CustomerRef) -> dict | None:
    """How the timeline API finds a contact: one of email, id, unique_external_id."""
    if ref.email:
        return {"email": ref.email}
    if ref.source_id and ref.source_id.isdigit():
        return {"id": int(ref.source_id)}
    if ref.external_id:
        return {"unique_external_id": ref.external_id}
    return None


def _unseen_batch(
    stream: str,
    rows: list,
    parse: Callable[[dict], Any],
    seen: dict[tuple[str, str], datetime],
    window: datetime,
) -> tuple[Batch, datetime | None]:
    """The rows not yielded before (the overlap re-reads some), and the page's last
    `updated_at`. A record updated again has a new key, so it is yielded again."""
    batch, last = Batch(stream, [], None), None
    for raw in rows:
        if not isinstance(raw, dict):
            _collect(batch, raw, parse)  # rejected, with the reason
            continue
        stamp = _maybe_time(raw.get("updated_at"))
        last = stamp or last
        key = (str(raw.get("id")), str(raw.get("updated_at")))
        if key not in seen:
            seen[key] = stamp or window
            _collect(batch, raw, parse)
    return batch, last


def _changed_since(article: Article, floor: datetime | None) -> bool:
    return floor is None or article.updated_at is None or article.updated_at >= floor


def _newest(start: datetime | None, records: Iterable[Any]) -> datetime | None:
    stamps = [r.updated_at for r in records if r.updated_at is not None]
    return max([start, *stamps] if start else stamps, default=None)


def _collect(batch: Batch, raw: Any, parse: Callable[[dict], Any]) -> None:
    """Parse one row into the batch, or record why it was skipped."""
    if not isinstance(raw, dict):
        batch.rejected.append(f"{batch.stream}: a row is {type(raw).__name__}, not an object")
        return
    try:
        batch.records.append(parse(raw))
    except RecordError as exc:
        batch.rejected.append(str(exc))


def _rows(payload: Any, path: str) -> list:
    if not isinstance(payload, list):
        raise BadPayloadError(f"Freshdesk {path} answered {type(payload).__name__}, not a list")
    return payload


def _require_id(raw: dict) -> str:
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise RecordError(f"a record has no usable id ({value!r})")
    return str(value)


def _time(raw: dict, key: str, what: str) -> datetime:
    value = _maybe_time(raw.get(key))
    if value is None:
        raise RecordError(f"{what}: {key} {raw.get(key)!r} is not a timestamp")
    return value


def _maybe_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def _since(since: str | None) -> datetime:
    if not since:
        return FULL_SYNC_SINCE
    parsed = _maybe_time(since)
    if parsed is None:
        raise ValueError(f"cursor {since!r} is not an ISO timestamp")
    return parsed


def _iso(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(title: str) -> str:
    """URL slug like the portal's (the portal resolves articles by id alone)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80]


def _as_html(body: str) -> str:
    if body.lstrip().startswith("<"):
        return body
    return html.escape(body).replace("\n", "<br>\n")
