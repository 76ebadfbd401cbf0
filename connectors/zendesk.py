"""Zendesk: incremental exports, Guide articles, user events and ticket writes (DESIGN §3).

Facts used here are in /work/shared/reference/helpdesk-apis.md §1 and the Zendesk pages
cited next to each constant. Everything network-related goes through `HttpClient`
(retries, 429 Retry-After, pacing by rate-limit headers); this module adds what is
Zendesk's own: the export budget, cursors, payload shapes and URL forms.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from requests.auth import HTTPBasicAuth

from connectors.errors import (
    AuthError,
    BadPayloadError,
    ConnectorError,
    FeatureUnavailableError,
    NotFoundError,
    RecordError,
)
from connectors.http import HttpClient, HttpStatusError, ResourceNotFoundError
from connectors.records import (
    Article,
    Batch,
    Customer,
    CustomerRef,
    Note,
    Record,
    Ticket,
    Touchpoint,
)

log = logging.getLogger("journeydesk.zendesk")

EXPORT_REQUESTS_PER_MINUTE = 10
"""Incremental exports share 10 requests/min (30 with High Volume). Reference:
https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
(section "Rate limits"). We pace below it instead of waiting for the 429."""
EXPORT_MIN_INTERVAL = 60.0 / EXPORT_REQUESTS_PER_MINUTE
"""Seconds between two export calls of one connector (users and tickets share it)."""
EXPORT_PAGE_SIZE = 1000
"""`per_page` maximum (and default) of the incremental exports."""
EXPORT_MIN_AGE = 61
"""`start_time` must be at least one minute in the past; one second of margin."""
EVENTS_PAGE_SIZE = 100
"""`page[size]` cap of cursor-paginated endpoints such as the user events."""
ACTIVE_DAYS = 90
"""Users who signed in within this many days have their reading history read even
without a ticket (90 days: the Events API's shortest retention, Team and Growth).
`history_signed_in_days` changes it; 0 turns that pass off."""
AUDIENCE_USERS_PER_SYNC = 500
"""Default cap on the users a sync reads because of their tag or organization
(`history_users_per_sync`). Each costs at least one Events API call; 500 per 5-minute
sync is 100 calls/min, under half the smallest Events budget (250/min, Team)."""
AUDIENCE_PAGE_SIZE = 100
"""`page[size]` of the audience lists: the cap of `/organizations/{id}/users`, and the
size the docs recommend for `/search/export` (which allows 1000)."""
EVENTS_SOURCE = "zendesk"
"""The reserved source of Zendesk's own events (Guide, Support)."""
PRIORITIES = ("low", "normal", "high", "urgent")

ARTICLE_EVENTS = {"article_viewed": "direct"}
"""Guide event type of an article view → how the customer reached it (properties["via"])."""
CLICK_EVENTS = {
    "article_search_result_clicked": "search_result",
    "article_instant_search_result_clicked": "instant_search_result",
    "suggested_article_clicked": "suggested_article",
}
"""Guide clicks on a suggested or found article → where the click happened. The view the
click leads to fires its own `article_viewed`, so a click is a search touchpoint (with
the article it chose), never a second view of the article."""
SEARCH_EVENTS = {"help_center_searched": "help_center", "answers_suggested": "request_form"}
"""Guide search event type → where the search happened (the default channel)."""
MERGE_EVENT = "user_merged"

_ARTICLE_PATH = re.compile(
    r"/(?:hc|api/v2/help_center)/(?:[^/]+/)?articles/(\d+)(?=[-/.]|$)", re.IGNORECASE
)
_HTTP_STATUS = re.compile(r"HTTP (\d{3})")


class _Pacer:
    """Keeps calls at least `interval` seconds apart, waiting before a call only."""

    def __init__(
        self, interval: float, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.interval - self._clock()
            if remaining > 0:
                self._sleep(remaining)
        self._last = self._clock()


class ZendeskConnector:
    """Zendesk Support + Guide behind the `Connector` protocol.

    `user_cursor(user_id)` returns the per-user events cursor the store persisted
    (Batch.scope = user id); `touchpoints()` uses it so a requester's history is never
    fetched twice. Without it every sync re-reads whole histories (still idempotent).
    `clock`, `sleep` and `now` are injectable so tests neither wait nor depend on time.
    """

    def __init__(
        self,
        name: str,
        subdomain: str,
        email: str,
        token: str,
        base_url: str = "",
        http: HttpClient | None = None,
        events_page_size: int = EVENTS_PAGE_SIZE,
        *,
        export_page_size: int = EXPORT_PAGE_SIZE,
        export_interval: float = EXPORT_MIN_INTERVAL,
        start_time: int = 0,
        plan_field: str = "plan",
        purchased_at_field: str = "purchased_at",
        renewal_at_field: str = "renewal_at",
        lifetime_value_field: str = "lifetime_value",
        user_cursor: Callable[[str], str | None] | None = None,
        history_signed_in_days: int = ACTIVE_DAYS,
        history_user_tags: Iterable[str] = (),
        history_organizations: Iterable[str | int] = (),
        history_users_per_sync: int = AUDIENCE_USERS_PER_SYNC,
        audience_page_size: int = AUDIENCE_PAGE_SIZE,
        audience_setting: str = "history_organizations",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not (base_url or subdomain):
            raise ValueError("Zendesk needs a subdomain or a base_url")
        self.name = name
        self.base_url = (base_url or f"https://{subdomain}.zendesk.com").rstrip("/")
        self._http = http or HttpClient(
            self.base_url,
            HTTPBasicAuth(f"{email}/token", token),
            desk="Zendesk",
            credentials_setting=f"connectors[{name}].email / token_env",
            domain_setting=f"connectors[{name}].subdomain / base_url",
            sleep=sleep,
            clock=clock,
        )
        self.events_page_size = events_page_size
        self.export_page_size = export_page_size
        self.start_time = start_time
        self.fields = {
            "plan": plan_field,
            "purchased_at": purchased_at_field,
            "renewal_at": renewal_at_field,
            "lifetime_value": lifetime_value_field,
        }
        self._user_cursor = user_cursor
        self.signed_in_days = history_signed_in_days
        self.audience = tuple(
            [f"tag:{tag}" for tag in history_user_tags]
            + [f"org:{org}" for org in history_organizations]
        )
        """Where the widened audience comes from, in order: `tag:<tag>`, `org:<id or name>`."""
        self.audience_cap = history_users_per_sync
        self.audience_page_size = audience_page_size
        self._audience_setting = audience_setting
        self._now = now
        self._export_pacer = _Pacer(export_interval, clock, sleep)
        self._events_seen = False  # the events API answered once: a later 404 is one user
        self._groups: dict[Any, str] | None = None

    # -- streams --------------------------------------------------------------------------

    def customers(self, since: str | None) -> Iterator[Batch]:
        """End users from the cursor-based user export; agents and admins are skipped.

        The next page is fetched and parsed while the caller stores this one.
        """
        return read_ahead(self._customer_batches(since))

    def _customer_batches(self, since: str | None) -> Iterator[Batch]:
        for _page, users, cursor in self._export("users", since):
            records, rejected = _parse_all(users, self._parse_user, "user")
            yield Batch("customers", records, cursor, rejected=rejected)

    def tickets(self, since: str | None) -> Iterator[Batch]:
        """Tickets (deletions included) from the cursor-based ticket export.

        The next page is fetched and parsed while the caller stores this one.
        """
        return read_ahead(self._ticket_batches(since))

    def _ticket_batches(self, since: str | None) -> Iterator[Batch]:
        for page, tickets, cursor in self._export("tickets", since, include="metric_sets"):
            groups = self._groups_of(tickets)
            records, rejected = _parse_tickets(tickets, _metric_sets(page), groups)
            yield Batch("tickets", records, cursor, rejected=rejected)

    def articles(self, since: str | None) -> Iterator[Batch]:
        """Help Center articles, one record per locale, from the incremental export.

        The cursor is an epoch: the page's `end_time`, which the docs define as the time
        of the last change on the page and the `start_time` of the next request.
        """
        start = _epoch_cursor(since, self.start_time)
        while True:
            page = self._http.get_json(
                "/api/v2/help_center/incremental/articles",
                {"start_time": start, "include": "translations,sections,categories"},
            )
            raws = _items(page, "articles")
            parse = partial(
                _parse_article,
                sections=_by_id(page.get("sections")),
                categories=_by_id(page.get("categories")),
            )
            records, rejected = _parse_all(raws, parse, "article")
            end = _end_time(page, records, start)
            yield Batch("articles", records, str(end), rejected=rejected)
            if not raws or not page.get("next_page") or page.get("end_of_stream"):
                return
            # A full page sharing one second would repeat forever; step past it.
            start = end if end > start else start + 1

    def touchpoints(self, since: str | None) -> Iterator[Batch]:
        """Reading history of the customers worth reading, each from their own cursor.

        Three passes, in this order:
        1. requesters of the tickets the ticket export returns after its cursor;
        2. end users the user export returns after its cursor who signed in within
           `signed_in_days` and after their last event we stored (people who read
           without writing in); skipped when `signed_in_days` is 0;
        3. the widened audience: end users carrying one of `history_user_tags` or
           members of one of `history_organizations`, at most `audience_cap` per run,
           the rest left for the next run (`_audience`).
        Each one's events come from `customer_touchpoints` with their per-user cursor.
        The stream cursor (`_Position`) holds both export cursors, where the audience
        pass stands and the users already read on the page in progress; it moves with
        each user's last batch, so a run stopped every few seconds still gets further.
        """
        at = _Position.load(since)
        read: dict[str, str | None] = {}  # cursors reached in this run, per user
        skip = set(at.ticket_page_read)  # read before a restart, on the page resumed
        for _page, tickets, cursor in self._export("tickets", at.tickets):
            for user_id in _requester_ids(tickets):
                if user_id not in skip:
                    at = at.read_on_ticket_page(user_id)
                    yield from self._history(user_id, read, at.dump())
            at, skip = at.after_ticket_page(cursor), set()
            yield Batch("touchpoints", [], at.dump())
        if self.signed_in_days > 0:
            skip = set(at.user_page_read)
            for _page, users, cursor in self._export("users", at.users):
                for user_id in self._signed_in_since_read(users, read):
                    if user_id not in skip:
                        at = at.read_on_user_page(user_id)
                        yield from self._history(user_id, read, at.dump())
                at, skip = at.after_user_page(cursor), set()
                yield Batch("touchpoints", [], at.dump())
        if self.audience:
            yield from self._audience(at, read)

    def _audience(self, at: _Position, read: dict[str, str | None]) -> Iterator[Batch]:
        """Pass 3 of `touchpoints`: the users named by tag or organization.

        One round walks every source of `self.audience` in order, page by page, and
        reads the history of each end user on it (a user already read in this run is
        skipped and not counted). After `audience_cap` users the run stops; the
        position (source, page cursor, users read on that page) is stored with the
        last user's events, and the next run goes on from there. A finished round
        leaves no position, so the next run starts a new one: every member is read
        once per round, and a round costs at most one run when the audience fits the
        cap.
        """
        budget = self.audience_cap
        start = self.audience.index(at.audience) if at.audience in self.audience else 0
        if at.audience not in self.audience:  # a new round, or the sources changed
            at = at.audience_at(self.audience[0])
        for key in self.audience[start:]:
            if at.audience != key:
                at = at.audience_at(key)
            skip = set(at.audience_read)
            for users, after in self._audience_pages(key, at.audience_page):
                for user_id in _audience_ids(users):
                    if user_id in skip or user_id in read:
                        continue
                    if budget <= 0:
                        return  # the position stored with the last user resumes here
                    budget -= 1
                    at = at.read_on_audience_page(user_id)
                    yield from self._history(user_id, read, at.dump())
                if after is None:
                    break
                at, skip = at.after_audience_page(after), set()
                yield Batch("touchpoints", [], at.dump())
                if budget <= 0:
                    return
        yield Batch("touchpoints", [], at.audience_done().dump())

    def _audience_pages(self, key: str, after: str | None) -> Iterator[tuple[list, str | None]]:
        """(items, next page cursor or None) of one audience source, from `after`.

        `tag:<tag>` is `GET /api/v2/search/export?query=tags:<tag>&filter[type]=user`
        (cursor pagination; the type goes in `filter[type]`, never in the query; the
        docs say its cursor expires after an hour, so a stale stored cursor restarts
        the source from its first page). `org:<id or name>` is
        `GET /api/v2/organizations/{id}/users?role=end-user`, a name found first by
        `GET /api/v2/organizations/search?name=` (exact, case-insensitive).
        """
        kind, _, value = key.partition(":")
        if kind == "tag":
            path, items_key = "/api/v2/search/export", "results"
            base: dict[str, Any] = {"query": f"tags:{value}", "filter[type]": "user"}
        else:
            path = f"/api/v2/organizations/{self._organization_id(value)}/users"
            items_key, base = "users", {"role": "end-user"}
        base["page[size]"] = self.audience_page_size
        while True:
            params = base | ({"page[after]": after} if after else {})
            try:
                page = self._http.get_json(path, params)
            except HttpStatusError as exc:
                if after is None or exc.status not in (400, 422):
                    raise
                after = None  # an expired cursor (status UNVERIFIED): start the source over
                continue
            except ResourceNotFoundError as exc:
                if kind != "org":
                    raise
                raise self._no_organization(value) from exc
            items = _items(page, items_key)
            meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
            if not meta.get("has_more"):
                yield items, None
                return
            following = meta.get("after_cursor")
            if not following or following == after:
                raise BadPayloadError(f"Zendesk said more of {key} follow but gave no cursor")
            yield items, following
            after = following

    def _organization_id(self, value: str) -> str:
        """An organization id as configured, or the id of the one with that exact name."""
        if value.isdigit():
            return value
        page = self._http.get_json("/api/v2/organizations/search", {"name": value})
        for org in _items(page, "organizations"):
            name = org.get("name") if isinstance(org, dict) else None
            if isinstance(name, str) and name.strip().casefold() == value.strip().casefold():
                return _require_id(org)
        raise self._no_organization(value)

    def _no_organization(self, value: str) -> NotFoundError:
        return NotFoundError(
            f"Zendesk has no organization {value!r} (GET /api/v2/organizations/search finds "
            f"organizations by their exact name); check {self._audience_setting}",
            setting=self._audience_setting,
        )

    def _history(self, user_id: str, read: dict[str, str | None], position: str) -> Iterator[Batch]:
        """One user's new events, from this run's cursor or the stored one; the last batch
        also carries the stream's `position` past this user (one transaction for both)."""
        stored = self._user_cursor(user_id) if self._user_cursor else None
        read.setdefault(user_id, None)
        last = None
        for batch in self.customer_touchpoints(user_id, read[user_id] or stored):
            read[user_id] = batch.cursor
            if last is not None:
                yield last
            last = batch
        if last is None:  # nothing to read (e.g. a user the desk deleted): move on alone
            yield Batch("touchpoints", [], position)
        else:
            last.stream_cursor = position
            yield last

    def _signed_in_since_read(self, users: list, read: dict[str, str | None]) -> list[str]:
        """End users of an export page who signed in recently, after their last event."""
        recent = datetime.fromtimestamp(self._now(), UTC) - timedelta(days=self.signed_in_days)
        found = []
        for raw in users:
            if not isinstance(raw, dict) or raw.get("role", "end-user") != "end-user":
                continue
            user_id, login = str(raw.get("id", "")), _lenient_time(raw.get("last_login_at"))
            if not user_id.isdigit() or user_id in read or login is None or login < recent:
                continue
            stored = self._user_cursor(user_id) if self._user_cursor else None
            last_event = _lenient_time(stored)
            if raw.get("active") is not False and (last_event is None or login > last_event):
                found.append(user_id)
        return found

    def customer_touchpoints(self, customer_source_id: str, since: str | None) -> Iterator[Batch]:
        """Guide events of one user (article views, searches) after the `since` cursor.

        `since` is the latest `created_at` already stored; `filter[start_time]` is
        inclusive, so the event at exactly that instant comes back and is dropped here.
        The sort order of events is not documented: the cursor only moves forward
        mid-stream while the pages arrive oldest first, else only after the last page.
        """
        user_id = str(customer_source_id).strip()
        if not user_id.isdigit():
            return  # not a Zendesk user (e.g. a portal-only visitor): no history here
        floor = _parse_time(since) if since else None
        base: dict[str, Any] = {
            "filter[source]": EVENTS_SOURCE,
            "page[size]": self.events_page_size,
        }
        if since:
            base["filter[start_time]"] = since
        path = f"/api/v2/users/{user_id}/events"
        where: str | None = path
        params: dict[str, Any] | None = base
        latest, ordered = floor, True
        while where is not None:
            page = self._get_events(where, params)
            if page is None:
                return
            parse = partial(_parse_event, user_id=user_id)
            records, rejected = _parse_all(_items(page, "events"), parse, "event")
            records = [r for r in records if floor is None or r.occurred_at > floor]
            times = [r.occurred_at for r in records]
            ordered = ordered and _ascending(times, latest)
            latest = max([*times, *([latest] if latest else [])], default=None)
            where, params = _next_page(page, path, base)
            cursor = latest if (ordered or where is None) else floor
            yield Batch(
                "touchpoints", records, _iso(cursor) if cursor else since, user_id, rejected
            )

    # -- single tickets -------------------------------------------------------------------

    def fetch_ticket(self, ticket_id: str) -> tuple[Ticket, Customer | None] | None:
        """One ticket and its requester (sideloaded), or None when it does not exist."""
        if not str(ticket_id).isdigit():
            return None
        try:
            page = self._http.get_json(f"/api/v2/tickets/{ticket_id}.json", {"include": "users"})
        except ResourceNotFoundError:
            return None
        raw = page.get("ticket") if isinstance(page, dict) else None
        if not isinstance(raw, dict):
            raise BadPayloadError(f"Zendesk answered ticket {ticket_id} without a ticket")
        try:
            ticket = _parse_ticket(raw, None, self._groups_of([raw]))
        except RecordError as why:
            raise BadPayloadError(f"Zendesk ticket {ticket_id} is malformed: {why}") from None
        return ticket, self._requester(page.get("users"), ticket.requester.source_id)

    def _groups_of(self, tickets: list) -> dict[Any, str]:
        """The group names tickets need (none asked for when no ticket has a group)."""
        if any(isinstance(t, dict) and t.get("group_id") is not None for t in tickets):
            return self._group_names()
        return {}

    def _group_names(self) -> dict[Any, str]:
        """{group id: name} of the account, read once per connector (one sync run); a
        desk that will not list them leaves tickets with their group's id."""
        if self._groups is None:
            self._groups = {}
            where, params = "/api/v2/groups", {"page[size]": 100}
            try:
                while where:
                    page = self._http.get_json(where, params)
                    for group in page.get("groups") or () if isinstance(page, dict) else ():
                        if isinstance(group, dict) and isinstance(group.get("name"), str):
                            self._groups[group.get("id")] = group["name"]
                    where, params = _next_page(page, where, params)
            except ConnectorError as exc:
                log.warning("%s: no group names (%s); tickets keep group ids", self.name, exc)
        return self._groups

    def update_ticket(
        self, ticket_id: str, priority: str | None = None, add_tags: tuple[str, ...] = ()
    ) -> None:
        """Set the priority and add tags, keeping every tag already on the ticket.

        `tags` in an update replaces the whole list, so we read the current tags first
        and send them back with ours appended. `safe_update` makes Zendesk refuse (409)
        if someone changed the ticket in between; we then read and merge once more.
        """
        ticket_id = _digits(ticket_id, "ticket id")
        if priority is not None and priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
        if priority is None and not add_tags:
            return
        for attempt in range(2):
            current = self._ticket_json(ticket_id)
            body = _ticket_changes(current, priority, add_tags)
            if not body:
                return
            try:
                self._http.put_json(f"/api/v2/tickets/{ticket_id}.json", {"ticket": body})
                return
            except HttpStatusError as exc:
                if exc.status != 409 or attempt:
                    raise

    def post_note(self, ticket_id: str, note: Note) -> None:
        """A private comment (an internal note): a ticket update whose `comment` has
        `html_body` and `public: false`. Sent once: a PUT adding a comment is not
        idempotent, so a failure is the caller's to retry after `has_note`."""
        ticket_id = _digits(ticket_id, "ticket id")
        comment = {"html_body": note.html, "public": False}
        self._http.put_json(
            f"/api/v2/tickets/{ticket_id}.json", {"ticket": {"comment": comment}}, once=True
        )

    def has_note(self, ticket_id: str, marker: str) -> bool:
        """Whether a comment of the ticket carries `marker` (List Comments, cursor pages
        of 100: a ticket holds at most 5,000 comments)."""
        ticket_id = _digits(ticket_id, "ticket id")
        path: str | None = f"/api/v2/tickets/{ticket_id}/comments.json"
        params: dict | None = {"page[size]": 100}
        base = dict(params)
        while path is not None:
            page = self._http.get_json(path, params)
            for comment in _items(page, "comments"):
                if isinstance(comment, dict) and any(
                    marker in str(comment.get(key) or "")
                    for key in ("html_body", "body", "plain_body")
                ):
                    return True
            path, params = _next_page(page, path, base)
        return False

    def send_outbound(
        self, customer: Customer, subject: str, body: str, *, key: str | None = None
    ) -> str:
        """Open a ticket for the customer with a public comment; returns its id.

        Whether Zendesk emails it depends on the account's triggers (a default account
        notifies the requester of a new ticket with a public comment). With `key`, the
        call carries an `Idempotency-Key`: Zendesk answers a repeat within two hours with
        the ticket it already created instead of opening a second one.
        """
        ticket: dict[str, Any] = {"subject": subject, "comment": {"body": body, "public": True}}
        if customer.source_id.isdigit():
            ticket["requester_id"] = int(customer.source_id)
        elif customer.email:
            ticket["requester"] = {"email": customer.email, "name": customer.name or customer.email}
        else:
            raise ValueError(f"customer {customer.source_id!r} has no Zendesk id and no email")
        headers = {"Idempotency-Key": key} if key else None
        answer = self._http.post_json("/api/v2/tickets.json", {"ticket": ticket}, headers=headers)
        new = answer.get("ticket") if isinstance(answer, dict) else None
        if not isinstance(new, dict) or new.get("id") is None:
            raise BadPayloadError("Zendesk created the ticket but did not return its id")
        return str(new["id"])

    def article_ref(self, url: str) -> str | None:
        """The article id in any Help Center or API article URL, on any host."""
        return article_id_from_url(url)

    # -- calls ----------------------------------------------------------------------------

    def _export(
        self, resource: str, since: str | None, include: str | None = None
    ) -> Iterator[tuple[dict, list, str | None]]:
        """Pages of a cursor-based incremental export: (page, items, after_cursor).

        The first call of a full sync sends `start_time`; every later one `cursor`, so
        resuming from a persisted `after_cursor` continues exactly where it stopped.
        """
        base: dict[str, Any] = {"per_page": self.export_page_size}
        if include:
            base["include"] = include
        cursor = since
        while True:
            where = {"cursor": cursor} if cursor else {"start_time": self._first_start_time()}
            self._export_pacer.wait()
            page = self._http.get_json(f"/api/v2/incremental/{resource}/cursor", base | where)
            items = _items(page, resource)
            after = page.get("after_cursor") or cursor
            yield page, items, after
            if page.get("end_of_stream") or not page.get("after_cursor"):
                return
            if after == cursor:
                raise BadPayloadError(f"Zendesk {resource} export cursor did not advance")
            cursor = after

    def _first_start_time(self) -> int:
        return max(0, min(self.start_time, int(self._now()) - EXPORT_MIN_AGE))

    def _get_events(self, where: str, params: dict | None) -> dict | None:
        """One page of user events; None when that user no longer exists."""
        try:
            page = self._http.get_json(where, params)
        except AuthError as exc:
            # AuthError carries no status: the client writes it in the message.
            if _status(exc) == 401:
                raise
            raise _events_unavailable(exc) from exc
        except ResourceNotFoundError as exc:
            if self._events_seen:
                return None  # the API works for others: this user was deleted
            raise _events_unavailable(exc) from exc
        self._events_seen = True
        return page

    def _ticket_json(self, ticket_id: str) -> dict:
        page = self._http.get_json(f"/api/v2/tickets/{ticket_id}.json")
        raw = page.get("ticket") if isinstance(page, dict) else None
        if not isinstance(raw, dict):
            raise BadPayloadError(f"Zendesk answered ticket {ticket_id} without a ticket")
        return raw

    # -- parsing that needs settings ------------------------------------------------------

    def _parse_user(self, raw: dict) -> list[Customer]:
        """A Customer for an end user; [] for agents and admins (not customers)."""
        if raw.get("role", "end-user") != "end-user":
            return []
        user_id = _require_id(raw)
        fields = raw.get("user_fields") if isinstance(raw.get("user_fields"), dict) else {}
        attributes = {k: v for k, v in fields.items() if v is not None}
        for key in ("tags", "organization_id"):
            if raw.get(key):
                attributes.setdefault(key, raw[key])
        if raw.get("active") is False:
            # Deleted or merged away. The export names no survivor, and the
            # `user_merged` event names the winner by display name only, so
            # `merged_into` stays unset; the store sees `active: false`.
            attributes["active"] = False
        return [
            Customer(
                source_id=user_id,
                email=raw.get("email") or None,
                name=raw.get("name") or None,
                external_id=_str_or_none(raw.get("external_id")),
                signup_at=_time_field(raw, "created_at"),
                updated_at=_time_field(raw, "updated_at"),
                time_zone=raw.get("time_zone") or None,
                locale=raw.get("locale") or None,
                attributes=attributes,
                **self._commercial_facts(fields),
            )
        ]

    def _commercial_facts(self, fields: dict) -> dict[str, Any]:
        """Plan, purchase, renewal and value from the configured user-field keys.

        Admin-typed custom fields are messy: a value we cannot read leaves that fact
        empty (the raw value stays in attributes) rather than dropping the customer.
        """
        plan = fields.get(self.fields["plan"])
        return {
            "plan": str(plan) if plan not in (None, "") else None,
            "purchased_at": _lenient_time(fields.get(self.fields["purchased_at"])),
            "renewal_at": _lenient_time(fields.get(self.fields["renewal_at"])),
            "lifetime_value": _lenient_float(fields.get(self.fields["lifetime_value"])),
        }

    def _requester(self, users: Any, requester_id: str | None) -> Customer | None:
        for raw in users if isinstance(users, list) else []:
            if isinstance(raw, dict) and str(raw.get("id")) == requester_id:
                try:
                    found = self._parse_user(raw)
                except RecordError:
                    return None
                return found[0] if found else None
        return None


def read_ahead(items: Iterator[Batch]) -> Iterator[Batch]:
    """`items`, with the next one made in a helper thread while the caller uses this one.

    An export page is megabytes of JSON: downloading and parsing page n+1 while page n
    is written to the store overlaps the network, the desk and SQLite (which release the
    GIL) with our Python work. Only one item is ever ahead, so memory stays flat; the
    helper runs the whole generator, so it never runs in two threads at once. An error
    surfaces where it did before: when the caller asks for the item it spoiled. A caller
    that stops early leaves at most one request in flight, which ends on its own.
    """
    pool = ThreadPoolExecutor(1, thread_name_prefix="zendesk-read-ahead")
    done = object()
    try:
        pending = pool.submit(next, items, done)
        while True:
            item = pending.result()
            if item is done:
                return
            pending = pool.submit(next, items, done)
            yield item
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# -- payload parsing (pure) -----------------------------------------------------------------


def article_id_from_url(url: Any) -> str | None:
    """The id in `/hc/{locale}/articles/{id}-{slug}`, `/hc/articles/{id}` or the API's
    `/api/v2/help_center/{locale}/articles/{id}.json`; any host (custom help-center
    domains), scheme, query or fragment. None for anything else."""
    if not isinstance(url, str) or not url.strip():
        return None
    match = _ARTICLE_PATH.search(urlsplit(url.strip()).path)
    return match.group(1) if match else None


def _parse_all(
    raws: list, parse: Callable[[dict], list], label: str
) -> tuple[list[Record], list[str]]:
    """Parse every item; a bad one becomes a reason in `rejected`, the rest are kept."""
    records: list[Record] = []
    rejected: list[str] = []
    for index, raw in enumerate(raws):
        if not isinstance(raw, dict):
            rejected.append(f"{label} #{index}: not an object")
            continue
        try:
            records.extend(parse(raw))
        except RecordError as why:
            rejected.append(f"{label} {raw.get('id', f'#{index}')}: {why}")
    return records, rejected


def _parse_tickets(raws: list, metrics: dict, groups: dict) -> tuple[list[Record], list[str]]:
    """`_parse_all` for an export page of tickets, each with its `metric_sets` entry
    (the sync's hot loop: one call per ticket, no per-ticket partial or list)."""
    records: list[Record] = []
    rejected: list[str] = []
    for index, raw in enumerate(raws):
        if not isinstance(raw, dict):
            rejected.append(f"ticket #{index}: not an object")
            continue
        try:
            records.append(_parse_ticket(raw, metrics.get(raw.get("id")), groups))
        except RecordError as why:
            rejected.append(f"ticket {raw.get('id', f'#{index}')}: {why}")
    return records, rejected


def _parse_ticket(raw: dict, metrics: dict | None, groups: dict) -> Ticket:
    get = raw.get
    ticket_id = _require_id(raw)
    created = _time_field(raw, "created_at")
    if created is None:
        raise RecordError("no created_at")
    status = str(get("status") or "open")
    requester = get("requester_id")
    if requester is None and status != "deleted":
        raise RecordError("no requester_id")
    via = get("via")
    rating = get("satisfaction_rating")
    score = comment = None
    if isinstance(rating, dict):
        score = rating.get("score")
        if score in ("good", "bad"):
            comment = rating.get("comment") or None
        else:
            score = None
    solved = first = None
    if metrics:  # solved_at and first response from the `metric_sets` sideload
        reply = metrics.get("reply_time_in_minutes")
        minutes = reply.get("calendar") if isinstance(reply, dict) else None
        if isinstance(minutes, int | float):
            first = created + timedelta(minutes=minutes)
        solved = _lenient_time(metrics.get("solved_at"))
    return Ticket(
        ticket_id,
        CustomerRef(str(requester)) if requester is not None else CustomerRef(),
        str(get("subject") or get("raw_subject") or ""),
        created,
        _time_field(raw, "updated_at"),
        status,
        get("priority") or None,
        (via.get("channel") or None) if isinstance(via, dict) else None,
        tuple(map(str, get("tags") or ())),
        solved,
        first,
        score,
        comment,
        status == "deleted",
        None if (group := get("group_id")) is None else groups.get(group) or str(group),
    )


def _parse_article(raw: dict, sections: dict, categories: dict) -> list[Article]:
    """One Article per locale; translations share the article id (Zendesk's own).

    The docs say `include=translations` embeds them in each article; they do not say
    the incremental endpoint honours it. Without them the article itself is its one
    known locale, so both shapes are read.
    """
    article_id = _require_id(raw)
    translations = raw.get("translations")
    if not isinstance(translations, list) or not translations:
        translations = [raw]
    section = sections.get(raw.get("section_id"))
    category = categories.get(section.get("category_id")) if section else None
    articles = []
    for item in translations:
        if not isinstance(item, dict) or not item.get("locale"):
            raise RecordError("a translation without a locale")
        locale = str(item["locale"])
        articles.append(
            Article(
                id=article_id,
                locale=locale,
                title=str(item.get("title") or raw.get("title") or ""),
                url=str(item.get("html_url") or raw.get("html_url") or ""),
                section=_localized_name(section, locale),
                category=_localized_name(category, locale),
                updated_at=_time_field(item, "updated_at") or _time_field(raw, "updated_at"),
                draft=bool(item.get("draft")),
            )
        )
    return articles


def _parse_event(raw: dict, user_id: str) -> list[Touchpoint]:
    """A Touchpoint for a Guide event (and user merges); [] for other event types."""
    kind = raw.get("type")
    props = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
    if kind in ARTICLE_EVENTS:
        extra = {
            "type": "article_view",
            **_article_fields(props),
            "properties": {"via": ARTICLE_EVENTS[kind]},
        }
    elif kind in CLICK_EVENTS:
        extra = _click_fields(kind, props)
    elif kind in SEARCH_EVENTS:
        extra = _search_fields(kind, props)
    elif kind == MERGE_EVENT:
        extra = {"type": MERGE_EVENT, "properties": {"winner": props.get("winner")}}
    else:
        return []
    extra["properties"]["zendesk_event"] = kind
    if not raw.get("id"):
        raise RecordError("no id")
    occurred = _time_field(raw, "created_at")
    if occurred is None:
        raise RecordError("no created_at")
    return [
        Touchpoint(
            id=str(raw["id"]),
            occurred_at=occurred,
            customer=CustomerRef(source_id=user_id),
            **extra,
        )
    ]


def _article_fields(props: dict) -> dict[str, Any]:
    article = props.get("article") if isinstance(props.get("article"), dict) else {}
    url = article.get("url") or None
    article_id = props.get("article_id")
    if article_id is None and url:
        article_id = article_id_from_url(url)
    if article_id is None:
        raise RecordError("an article event without article_id")
    return {
        "channel": props.get("channel") or "help_center",
        "article_id": str(article_id),
        "article_title": article.get("display_name") or None,
        "article_url": url,
        "article_locale": props.get("locale") or None,
    }


def _click_fields(kind: str, props: dict) -> dict[str, Any]:
    """A click on a search result or suggested article: a `search` touchpoint that names
    the article chosen (its columns and `properties.article_id`), marked `result_click`."""
    fields = _article_fields(props)
    if kind == "suggested_article_clicked" and not props.get("channel"):
        fields["channel"] = SEARCH_EVENTS["answers_suggested"]  # the request form
    properties = {
        "result_click": True,
        "article_id": fields["article_id"],
        "via": CLICK_EVENTS[kind],
    }
    return {"type": "search", **fields, "properties": properties}


def _search_fields(kind: str, props: dict) -> dict[str, Any]:
    """`search_query` is an object for help_center_searched, a string for
    answers_suggested (per the docs); either shape is read for either type."""
    query = props.get("search_query")
    details = query if isinstance(query, dict) else {}
    text = details.get("query") if details else query
    properties = {
        "query": "" if text is None else str(text),
        "result_count": props.get("result_count"),
    }
    properties |= {k: details[k] for k in ("locale", "page", "search_id") if k in details}
    return {
        "type": "search",
        "channel": details.get("channel") or SEARCH_EVENTS[kind],
        "properties": properties,
    }


# -- small helpers ----------------------------------------------------------------------------


def _items(page: Any, key: str) -> list:
    """The record list of a page; a page without one is malformed as a whole."""
    items = page.get(key) if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise BadPayloadError(f"Zendesk answered without a `{key}` list")
    return items


def _by_id(items: Any) -> dict:
    return {i["id"]: i for i in items or () if isinstance(i, dict) and "id" in i}


def _metric_sets(page: dict) -> dict:
    sets = page.get("metric_sets") or ()
    return {m.get("ticket_id"): m for m in sets if isinstance(m, dict)}


def _localized_name(item: dict | None, locale: str) -> str | None:
    if not item:
        return None
    for translation in item.get("translations") or ():
        if isinstance(translation, dict) and translation.get("locale") == locale:
            return translation.get("title") or item.get("name")
    return item.get("name") or None


def _ascending(times: list[datetime], previous: datetime | None) -> bool:
    """True while events arrive oldest first (within and across pages)."""
    return times == sorted(times) and not (times and previous and times[0] < previous)


def _requester_ids(tickets: Iterable) -> list[str]:
    seen: dict[str, None] = {}
    for raw in tickets:
        if isinstance(raw, dict) and raw.get("requester_id") is not None:
            seen.setdefault(str(raw["requester_id"]), None)
    return list(seen)


def _audience_ids(users: Iterable) -> list[str]:
    """End users of an audience page whose history can be read (agents, deactivated
    users and other result types left out), in the desk's order, each once."""
    seen: dict[str, None] = {}
    for raw in users:
        if not isinstance(raw, dict) or raw.get("result_type", "user") != "user":
            continue
        user_id = str(raw.get("id", ""))
        if raw.get("role", "end-user") == "end-user" and raw.get("active") is not False:
            if user_id.isdigit():
                seen.setdefault(user_id, None)
    return list(seen)


@dataclass(frozen=True)
class _Position:
    """Where the reading-history stream stands: the ticket and user export cursors, and
    the users already read on the page that starts at the cursor being read (tickets
    first, then users). A restart re-fetches that page and skips them."""

    tickets: str | None = None
    users: str | None = None
    ticket_page_read: tuple[str, ...] = ()
    user_page_read: tuple[str, ...] = ()
    audience: str | None = None  # the audience source in progress (None: none begun)
    audience_page: str | None = None  # the cursor of its page in progress
    audience_read: tuple[str, ...] = ()  # users read on that page

    @classmethod
    def load(cls, since: str | None) -> _Position:
        """A stored cursor; a plain one (an older version's) is the ticket cursor alone."""
        if not since or not since.startswith("{"):
            return cls(since)
        try:
            both = json.loads(since)
        except ValueError:
            raise ValueError(f"a Zendesk touchpoints cursor is not {since!r}") from None
        read = both.get("read") or {}
        audience = both.get("audience") or {}
        return cls(
            both.get("tickets"),
            both.get("users"),
            tuple(read.get("tickets") or ()),
            tuple(read.get("users") or ()),
            audience.get("at"),
            audience.get("page"),
            tuple(audience.get("read") or ()),
        )

    def dump(self) -> str:
        both: dict[str, Any] = {"tickets": self.tickets, "users": self.users}
        if self.ticket_page_read or self.user_page_read:
            both["read"] = {"tickets": self.ticket_page_read, "users": self.user_page_read}
        if self.audience is not None:
            both["audience"] = {
                "at": self.audience,
                "page": self.audience_page,
                "read": self.audience_read,
            }
        return json.dumps(both, separators=(",", ":"))

    def read_on_ticket_page(self, user_id: str) -> _Position:
        return replace(self, ticket_page_read=(*self.ticket_page_read, user_id))

    def after_ticket_page(self, cursor: str) -> _Position:
        return replace(self, tickets=cursor, ticket_page_read=())

    def read_on_user_page(self, user_id: str) -> _Position:
        return replace(self, user_page_read=(*self.user_page_read, user_id))

    def after_user_page(self, cursor: str) -> _Position:
        return replace(self, users=cursor, user_page_read=())

    def audience_at(self, source: str) -> _Position:
        return replace(self, audience=source, audience_page=None, audience_read=())

    def read_on_audience_page(self, user_id: str) -> _Position:
        return replace(self, audience_read=(*self.audience_read, user_id))

    def after_audience_page(self, cursor: str) -> _Position:
        return replace(self, audience_page=cursor, audience_read=())

    def audience_done(self) -> _Position:
        return replace(self, audience=None, audience_page=None, audience_read=())


def _next_page(page: Any, path: str, base: dict | None) -> tuple[str | None, dict | None]:
    """(where, params) of the next page of a cursor-paginated list (user events, groups,
    ticket comments), or (None, None) after the last one.

    `links` is an array of `{"next": url}` in the docs' example and an object
    elsewhere in Zendesk's cursor pagination: both are read. Without a link, the
    `meta.after_cursor` is sent as `page[after]` with the first request's filters.
    """
    if not isinstance(page, dict):
        return None, None
    base = base or {}
    meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
    if not meta.get("has_more"):
        return None, None
    links = page.get("links")
    for link in links if isinstance(links, list) else [links]:
        if isinstance(link, dict) and isinstance(link.get("next"), str) and link["next"]:
            return link["next"], None
    if meta.get("after_cursor"):
        return path, base | {"page[after]": meta["after_cursor"]}
    raise BadPayloadError(f"Zendesk said more of {path} follows but gave no way to fetch it")


def _ticket_changes(current: dict, priority: str | None, add_tags: Iterable[str]) -> dict:
    """The update body: only what changes, tags merged in order without duplicates."""
    tags = [str(t) for t in current.get("tags") or ()]
    merged = list(dict.fromkeys([*tags, *add_tags]))
    body: dict[str, Any] = {}
    if priority is not None and priority != current.get("priority"):
        body["priority"] = priority
    if merged != tags:
        body["tags"] = merged
    if body and current.get("updated_at"):
        body |= {"safe_update": True, "updated_stamp": current["updated_at"]}
    return body


def _events_unavailable(exc: Exception) -> FeatureUnavailableError:
    return FeatureUnavailableError(
        "Zendesk's Events API is not available on this account (plan below Suite Team, "
        "or not activated in Admin Center); reading history must then come from the "
        f"portal snippet. ({exc})"
    )


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    match = _HTTP_STATUS.search(str(exc))
    return int(match.group(1)) if match else None


def _require_id(raw: dict) -> str:
    value = raw.get("id")
    if value is None or value == "":
        raise RecordError("no id")
    return str(value)


def _digits(value: Any, what: str) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise ValueError(f"a Zendesk {what} is a number, not {value!r}")
    return text


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _parse_time(value: Any) -> datetime:
    """ISO-8601 (Zendesk writes `Z` and up to nanoseconds) or a bare date → aware UTC."""
    if type(value) is str and len(value) == 20 and value[19] == "Z":
        # Zendesk's usual "2024-05-01T12:00:00Z": fromisoformat reads it as aware UTC
        # (the general path below gives the same datetime, five calls later).
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a time: {value!r}")
    text = value.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _time_field(raw: dict, key: str) -> datetime | None:
    """A present date must parse (else the record is rejected); an absent one is None."""
    value = raw.get(key)
    if value in (None, ""):
        return None
    try:
        return _parse_time(value)
    except ValueError:
        raise RecordError(f"unparsable {key} {value!r}") from None


def _lenient_time(value: Any) -> datetime | None:
    try:
        return _parse_time(value) if value not in (None, "") else None
    except ValueError:
        return None


def _lenient_float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch_cursor(since: str | None, default: int) -> int:
    if not since:
        return max(default, 0)
    if not since.isdigit():
        raise ValueError(f"a Zendesk articles cursor is an epoch, not {since!r}")
    return int(since)


def _end_time(page: dict, records: list[Record], start: int) -> int:
    """The page's `end_time`, else the newest `updated_at` on it, else `start`."""
    end = page.get("end_time")
    if isinstance(end, int) and not isinstance(end, bool):
        return end
    times = [int(r.updated_at.timestamp()) for r in records if getattr(r, "updated_at", None)]
    return max(times, default=start)
