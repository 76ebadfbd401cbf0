"""A stateful fake Zendesk on pytest-httpserver that speaks the documented API.

What it models (shapes from /work/shared/reference/helpdesk-apis.md §1):
- cursor-based incremental exports of users and tickets: `start_time` first (rejected
  when less than a minute old, as Zendesk does), then `cursor`; `per_page`;
  `after_cursor`/`after_url`/`end_of_stream`; `include=metric_sets`; deleted tickets;
- the Help Center incremental article export with `include=translations,sections,
  categories` (translations embedded in each article), `next_page` and `end_time`;
- user events with `filter[...]`, `page[size]`, `page[after]`, `meta.has_more` and
  `links` as an array (the docs' example) or an object (`links_shape`);
- ticket show (`include=users`), update (`safe_update` → 409 on a stale stamp; a
  `comment` with `body` or `html_body` and `public` is added to the ticket's comments,
  `fail_after_comment` answers 500 after adding it, `hold_after_comment` answers late), List
  Comments (cursor pagination: `page[size]`, `page[after]`, `meta.has_more`) and create
  (`requester_id` or `requester: {email, name}` — an unknown address becomes a new end
  user; the comment kept in `comments`; an `Idempotency-Key` repeat with the same body
  answers the first ticket with `x-idempotency-lookup: hit`, another body 400
  `IdempotentRequestError`; `fail_after_create` answers 500 after creating, as a desk
  that acted and then failed);
- the audience lists: `GET /api/v2/search/export` (`query=tags:<tag>`, `filter[type]`
  required and `type:` refused in the query, `page[size]` up to 1000, ordered by
  `created_at`, `meta.after_cursor`/`has_more`, `links.next`; a cursor older than
  `search_cursor_ttl` answers 400), `GET /api/v2/organizations/search?name=` (exact,
  case-insensitive) and `GET /api/v2/organizations/{id}/users` (cursor pagination, at
  most 100 a page, `role` filter, members of any of a user's organizations);
- rate-limit headers on every answer, and switches to inject faults (`fail`) and to
  answer slowly (`delay`).

Records are plain dicts as Zendesk writes them; tests add them with `add_user`,
`add_ticket`, `add_article`, `add_event` at any time (also after a first sync).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SUBDOMAIN = "acme"
EMAIL = "admin@acme.example"
TOKEN = "fake-zendesk-token-123"
HELP_CENTER = f"https://{SUBDOMAIN}.zendesk.com"


def ts(value: str) -> int:
    """Epoch seconds of an ISO time written the Zendesk way (`...Z`)."""
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    """An answer to give instead of the real one, `times` times, on matching paths."""

    path: str  # a substring of the request path
    status: int
    times: int = 1
    body: str | None = None
    headers: dict[str, str] | None = None
    delay: float = 0.0  # seconds to wait before answering (a call that times out)


class _ExportTable:
    """Records of one export in change order: each add/update gets the next sequence."""

    def __init__(self) -> None:
        self.rows: dict[Any, tuple[int, dict]] = {}
        self.seq = itertools.count(1)

    def put(self, key: Any, record: dict) -> None:
        self.rows[key] = (next(self.seq), record)

    def since(self, start_time: int, after_seq: int) -> list[tuple[int, dict]]:
        rows = sorted(self.rows.values(), key=lambda row: row[0])
        return [
            (seq, rec) for seq, rec in rows if seq > after_seq and _updated_epoch(rec) >= start_time
        ]


def _updated_epoch(record: dict) -> int:
    try:
        return ts(record.get("updated_at") or record.get("created_at") or "")
    except ValueError:
        return 0  # malformed records still appear in the export, as they would


class FakeZendesk:
    """Install on an `HTTPServer`; `base_url` is what the connector should talk to."""

    def __init__(self, server: HTTPServer, *, now: Callable[[], float] | None = None) -> None:
        self.server = server
        self.base_url = server.url_for("").rstrip("/")
        self.users = _ExportTable()
        self.tickets = _ExportTable()
        self.metric_sets: dict[int, dict] = {}
        self.articles: dict[int, dict] = {}
        self.sections: dict[int, dict] = {}
        self.categories: dict[int, dict] = {}
        self.groups: dict[int, dict] = {}
        self.events: dict[int, list[dict]] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.writes: list[tuple[str, str, Any]] = []
        self.links_shape = "array"  # "array" (docs' example) or "object"
        self.events_status: int | None = None  # e.g. 403: plan without the Events API
        self.events_newest_first = False  # the docs do not say how events are sorted
        self.deleted_users: set[int] = set()  # their events answer 404
        self.embed_translations = True  # False: an answer without `translations`
        self.article_page_size = 1000
        self.rate_limit_remaining = 699
        self.concurrent_tags: list[str] = []  # another agent adds these before our next PUT
        self.delay = 0.0  # seconds every answer waits first: a slow desk
        self.organizations: dict[int, dict] = {}
        self.memberships: dict[int, list[int]] = {}  # organization id → user ids
        self.search_cursor_ttl = 3600.0  # seconds a search export cursor lives (docs: 1 h)
        self._now = now or (lambda: datetime.now(UTC).timestamp())
        self._ticket_ids = itertools.count(10_000)
        self._user_ids = itertools.count(90_000)
        self.comments: dict[int, list[dict]] = {}  # ticket id → its comments
        self.idempotency: dict[str, tuple[str, dict]] = {}  # key → (body, first answer)
        self.fail_after_create = 0  # the next N creates succeed, then answer 500
        self.fail_after_comment = 0  # the next N comments are added, then answer 500
        self.hold_after_comment = 0.0  # seconds a comment's answer waits once it is added
        self._comment_ids = itertools.count(700_000)
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            (
                "GET",
                re.compile(r"/api/v2/incremental/(users|tickets)/cursor(?:\.json)?"),
                self._export,
            ),
            (
                "GET",
                re.compile(r"/api/v2/help_center/incremental/articles(?:\.json)?"),
                self._articles,
            ),
            ("GET", re.compile(r"/api/v2/users/(\d+)/events(?:\.json)?"), self._events),
            ("GET", re.compile(r"/api/v2/search/export(?:\.json)?"), self._search_export),
            ("GET", re.compile(r"/api/v2/organizations/search(?:\.json)?"), self._org_search),
            ("GET", re.compile(r"/api/v2/organizations/(\d+)/users(?:\.json)?"), self._org_users),
            ("GET", re.compile(r"/api/v2/groups(?:\.json)?"), self._groups),
            ("GET", re.compile(r"/api/v2/tickets/(\d+)(?:\.json)?"), self._show_ticket),
            (
                "GET",
                re.compile(r"/api/v2/tickets/(\d+)/comments(?:\.json)?"),
                self._list_comments,
            ),
            ("PUT", re.compile(r"/api/v2/tickets/(\d+)(?:\.json)?"), self._update_ticket),
            ("POST", re.compile(r"/api/v2/tickets(?:\.json)?"), self._create_ticket),
        ]
        server.expect_request(re.compile(r"/.*")).respond_with_handler(self._dispatch)

    # -- test API: data --------------------------------------------------------------------

    def add_user(self, user: dict) -> dict:
        """Add or update a user (any dict: malformed ones too). Defaults fill the rest."""
        record = {"role": "end-user", "active": True, "user_fields": {}, **user}
        self.users.put(record.get("id", object()), record)
        return record

    def add_organization(self, org_id: int, name: str, members: list[int] = ()) -> None:
        """An organization and the users who belong to it (any of their organizations)."""
        self.organizations[org_id] = {"id": org_id, "name": name, "tags": []}
        self.memberships[org_id] = list(members)

    def add_ticket(self, ticket: dict, metric_set: dict | None = None) -> dict:
        record = {"status": "open", "tags": [], "via": {"channel": "web"}, **ticket}
        self.tickets.put(record.get("id", object()), record)
        if metric_set is not None:
            self.metric_sets[record["id"]] = {"ticket_id": record["id"], **metric_set}
        return record

    def add_group(self, group_id: int, name: str) -> None:
        self.groups[group_id] = {"id": group_id, "name": name, "deleted": False}

    def add_category(self, category_id: int, name: str, translations: dict | None = None) -> None:
        self.categories[category_id] = {"id": category_id, "name": name, **_trans(translations)}

    def add_section(
        self, section_id: int, name: str, category_id: int, translations: dict | None = None
    ) -> None:
        self.sections[section_id] = {
            "id": section_id,
            "name": name,
            "category_id": category_id,
            **_trans(translations),
        }

    def add_article(
        self,
        article_id: int,
        titles: dict[str, str],
        updated_at: str,
        section_id: int | None = None,
        source_locale: str | None = None,
    ) -> None:
        """An article in every locale of `titles` ({locale: title}); one id for all."""
        source = source_locale or next(iter(titles))
        self.articles[article_id] = {
            "id": article_id,
            "section_id": section_id,
            "source_locale": source,
            "updated_at": updated_at,
            "translations": [
                {
                    "id": article_id * 10 + i,
                    "locale": locale,
                    "title": title,
                    "html_url": f"{HELP_CENTER}/hc/{locale}/articles/{article_id}-{_slug(title)}",
                    "draft": False,
                    "updated_at": updated_at,
                    "source_id": article_id,
                    "source_type": "Article",
                }
                for i, (locale, title) in enumerate(titles.items())
            ],
        }

    def add_event(
        self,
        user_id: int,
        kind: str,
        created_at: str,
        properties: dict | None = None,
        event_id: str | None = None,
    ) -> dict:
        events = self.events.setdefault(user_id, [])
        event = {
            "id": event_id or f"01EV{user_id:06d}{len(events):06d}",
            "type": kind,
            "source": "zendesk",
            "description": "",
            "created_at": created_at,
            "received_at": created_at,
            "properties": properties or {},
        }
        events.append(event)
        return event

    # -- test API: faults and inspection -------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        times: int = 1,
        body: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer `status` (with `body`, `Retry-After`) the next `times` calls on `path`,
        after waiting `delay` seconds."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        self.faults.append(Fault(path, status, times, body, headers, delay))

    def calls(self, path: str, method: str = "GET") -> list[dict[str, str]]:
        """Query parameters of every call whose path contains `path`."""
        return [args for m, p, args in self.requests if m == method and path in p]

    # -- dispatch ----------------------------------------------------------------------

    def _dispatch(self, request: Request) -> Response:
        self.requests.append((request.method, request.path, dict(request.args)))
        if self.delay:
            time.sleep(self.delay)
        if not _authorized(request):
            return _json({"error": "Couldn't authenticate you"}, 401)
        if (fault := self._take_fault(request.path)) is not None:
            return fault
        for method, pattern, handler in self._routes:
            if request.method == method and (match := pattern.fullmatch(request.path)):
                return self._with_rate_headers(handler(request, *match.groups()))
        return _json({"error": "InvalidEndpoint", "description": "Not found"}, 404)

    def _take_fault(self, path: str) -> Response | None:
        for fault in self.faults:
            if fault.times > 0 and fault.path in path:
                fault.times -= 1
                time.sleep(fault.delay)
                body = fault.body if fault.body is not None else json.dumps({"error": "fault"})
                kind = "application/json" if body.startswith("{") else "text/html"
                return Response(body, fault.status, headers=fault.headers, content_type=kind)
        return None

    def _with_rate_headers(self, response: Response) -> Response:
        response.headers["X-Rate-Limit"] = "700"
        response.headers["X-Rate-Limit-Remaining"] = str(self.rate_limit_remaining)
        return response

    # -- incremental exports -----------------------------------------------------------

    def _export(self, request: Request, resource: str) -> Response:
        table = self.users if resource == "users" else self.tickets
        per_page = min(int(request.args.get("per_page", 1000)), 1000)
        if "cursor" in request.args:
            start_time, after_seq = _decode_cursor(request.args["cursor"])
        elif "start_time" in request.args:
            start_time, after_seq = int(request.args["start_time"]), 0
            if start_time > self._now() - 60:
                return _json({"error": "InvalidValue", "description": "start_time too recent"}, 400)
        else:
            return _json({"error": "InvalidValue", "description": "start_time is required"}, 400)
        rows = table.since(start_time, after_seq)
        page, more = rows[:per_page], len(rows) > per_page
        last_seq = page[-1][0] if page else max(after_seq, _max_seq(table))
        cursor = _encode_cursor(start_time, last_seq)
        body: dict[str, Any] = {
            resource: [record for _, record in page],
            "after_cursor": cursor,
            "after_url": f"{HELP_CENTER}/api/v2/incremental/{resource}/cursor.json?cursor={cursor}",
            "before_cursor": None,
            "before_url": None,
            "end_of_stream": not more,
        }
        if resource == "tickets" and "metric_sets" in request.args.get("include", ""):
            ids = [record.get("id") for _, record in page]
            body["metric_sets"] = [self.metric_sets[i] for i in ids if i in self.metric_sets]
        response = _json(body)
        if resource == "users":
            response.headers["Zendesk-RateLimit-incremental-exports-cursor"] = (
                f"total=20; remaining={min(self.rate_limit_remaining, 19)}; resets=41"
            )
        return response

    # -- Help Center -------------------------------------------------------------------

    def _articles(self, request: Request) -> Response:
        start = int(request.args.get("start_time", 0))
        include = set(request.args.get("include", "").split(","))
        changed = sorted(
            (a for a in self.articles.values() if ts(a["updated_at"]) >= start),
            key=lambda a: (ts(a["updated_at"]), a["id"]),
        )
        page = changed[: self.article_page_size]
        more = len(changed) > len(page)
        end_time = ts(page[-1]["updated_at"]) if page else start
        next_page = None
        if more:
            next_page = f"{HELP_CENTER}/api/v2/help_center/incremental/articles.json?" + urlencode(
                {"start_time": end_time, "include": request.args.get("include", "")}
            )
        body: dict[str, Any] = {
            "articles": [self._article_json(a, "translations" in include) for a in page],
            "next_page": next_page,
            "end_time": end_time,
            "count": len(page),
        }
        section_ids = {a["section_id"] for a in page if a["section_id"] in self.sections}
        if "sections" in include:
            body["sections"] = [self._sideload(self.sections[i], include) for i in section_ids]
        if "categories" in include:
            category_ids = {self.sections[i]["category_id"] for i in section_ids}
            body["categories"] = [
                self._sideload(self.categories[i], include)
                for i in category_ids
                if i in self.categories
            ]
        return _json(body)

    def _article_json(self, article: dict, with_translations: bool) -> dict:
        source = next(t for t in article["translations"] if t["locale"] == article["source_locale"])
        out = {
            "id": article["id"],
            "url": f"{HELP_CENTER}/api/v2/help_center/en-us/articles/{article['id']}.json",
            "html_url": source["html_url"],
            "title": source["title"],
            "locale": source["locale"],
            "source_locale": article["source_locale"],
            "section_id": article["section_id"],
            "draft": False,
            "created_at": article["updated_at"],
            "updated_at": article["updated_at"],
        }
        if with_translations and self.embed_translations:
            out["translations"] = [dict(t) for t in article["translations"]]
        return out

    @staticmethod
    def _sideload(item: dict, include: set[str]) -> dict:
        if "translations" in include:
            return dict(item)
        return {k: v for k, v in item.items() if k != "translations"}

    # -- user events -------------------------------------------------------------------

    def _events(self, request: Request, user_id: str) -> Response:
        if self.events_status is not None:
            return _json({"error": "Forbidden", "description": "Events API not enabled"}, 403)
        if int(user_id) in self.deleted_users:
            return _json({"error": "RecordNotFound", "description": "Not found"}, 404)
        args = request.args
        events = self.events.get(int(user_id), [])
        if "filter[source]" in args:
            events = [e for e in events if e["source"] == args["filter[source]"]]
        if "filter[type]" in args:
            events = [e for e in events if e["type"] == args["filter[type]"]]
        if "filter[start_time]" in args:
            start = _instant(args["filter[start_time]"])
            events = [e for e in events if _instant(e["created_at"]) >= start]
        events = sorted(
            events, key=lambda e: _instant(e["created_at"]), reverse=self.events_newest_first
        )
        offset = int(base64.b64decode(args["page[after]"]).decode()) if "page[after]" in args else 0
        size = min(int(args.get("page[size]", 100)), 100)
        page, more = events[offset : offset + size], len(events) > offset + size
        after = base64.b64encode(str(offset + len(page)).encode()).decode()
        query = {k: v for k, v in args.items() if k != "page[after]"} | {"page[after]": after}
        next_url = f"{HELP_CENTER}/api/v2/users/{user_id}/events?{urlencode(query)}"
        links: Any = {"next": next_url if more else None, "prev": None}
        if self.links_shape == "array":
            links = [{"next": next_url}] if more else []
        return _json(
            {
                "events": page,
                "links": links,
                "meta": {"has_more": more, "after_cursor": after if more else None},
            }
        )

    # -- audience lists ----------------------------------------------------------------

    def _search_export(self, request: Request) -> Response:
        args = request.args
        kind, query = args.get("filter[type]"), args.get("query", "")
        if kind not in ("ticket", "organization", "user", "group") or "type:" in query:
            return _json({"error": "InvalidValue", "description": "filter[type] required"}, 400)
        size = int(args.get("page[size]", 100))
        if not 1 <= size <= 1000:
            return _json({"error": "InvalidValue", "description": "page[size] 1-1000"}, 400)
        tags = [t.removeprefix("tags:") for t in query.split() if t.startswith("tags:")]
        users = [rec for _, rec in self.users.rows.values() if isinstance(rec.get("id"), int)]
        found = sorted(
            (u for u in users if any(t in (u.get("tags") or ()) for t in tags)),
            key=lambda u: (u.get("created_at") or "", u["id"]),
        )
        offset = 0
        if "page[after]" in args:
            issued, offset = _decode_cursor(args["page[after]"])
            if self._now() - issued > self.search_cursor_ttl:
                return _json({"error": "InvalidCursor", "description": "cursor expired"}, 400)
        page, more = found[offset : offset + size], len(found) > offset + size
        after = _encode_cursor(int(self._now()), offset + len(page)) if more else None
        return _json(
            {
                "results": [{**u, "result_type": "user"} for u in page],
                "facets": None,
                "links": {"next": _next_link(request, after), "prev": None},
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
            }
        )

    def _org_search(self, request: Request) -> Response:
        name = request.args.get("name", "").strip().casefold()
        found = [o for o in self.organizations.values() if o["name"].casefold() == name]
        return _json({"organizations": found, "count": len(found), "next_page": None})

    def _org_users(self, request: Request, org_id: str) -> Response:
        if int(org_id) not in self.organizations:
            return _json({"error": "RecordNotFound", "description": "Not found"}, 404)
        args = request.args
        size = int(args.get("page[size]", 100))
        if size > 100:
            return _json({"error": "InvalidPaginationParameter", "description": "max 100"}, 400)
        members = set(self.memberships.get(int(org_id), ()))
        users = sorted(
            (rec for _, rec in self.users.rows.values() if rec.get("id") in members),
            key=lambda u: u["id"],
        )
        if "role" in args:
            users = [u for u in users if u.get("role") == args["role"]]
        offset = int(base64.b64decode(args["page[after]"]).decode()) if "page[after]" in args else 0
        page, more = users[offset : offset + size], len(users) > offset + size
        after = base64.b64encode(str(offset + len(page)).encode()).decode() if more else None
        return _json(
            {
                "users": page,
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
                "links": {"next": _next_link(request, after), "prev": None},
            }
        )

    # -- tickets -----------------------------------------------------------------------

    def _groups(self, request: Request) -> Response:
        """GET /api/v2/groups with cursor pagination (`page[size]`, `page[after]`)."""
        size = min(int(request.args.get("page[size]", 100)), 100)
        ids = sorted(self.groups)
        after = request.args.get("page[after]")
        start = ids.index(int(after)) + 1 if after else 0
        chunk = ids[start : start + size]
        more = start + size < len(ids)
        return _json(
            {
                "groups": [self.groups[i] for i in chunk],
                "meta": {"has_more": more, "after_cursor": str(chunk[-1]) if more else None},
                "links": {"next": None},
            }
        )

    def _ticket(self, ticket_id: str) -> dict | None:
        row = self.tickets.rows.get(int(ticket_id))
        return row[1] if row and row[1].get("status") != "deleted" else None

    def _show_ticket(self, request: Request, ticket_id: str) -> Response:
        ticket = self._ticket(ticket_id)
        if ticket is None:
            return _json({"error": "RecordNotFound", "description": "Not found"}, 404)
        body: dict[str, Any] = {"ticket": ticket}
        if "users" in request.args.get("include", ""):
            wanted = {ticket.get("requester_id"), ticket.get("submitter_id")}
            body["users"] = [rec for _, rec in self.users.rows.values() if rec.get("id") in wanted]
        return _json(body)

    def _update_ticket(self, request: Request, ticket_id: str) -> Response:
        ticket = self._ticket(ticket_id)
        if ticket is None:
            return _json({"error": "RecordNotFound", "description": "Not found"}, 404)
        change = (request.get_json(silent=True) or {}).get("ticket") or {}
        self.writes.append(("PUT", ticket_id, change))
        if self.concurrent_tags:
            ticket = {**ticket, "tags": [*ticket["tags"], *self.concurrent_tags]}
            ticket["updated_at"] = iso(_instant(ticket["updated_at"]).timestamp() + 1)
            self.tickets.put(int(ticket_id), ticket)
            self.concurrent_tags = []
        if change.get("safe_update") and change.get("updated_stamp") != ticket.get("updated_at"):
            return _json({"error": "UpdateConflict", "description": "ticket changed"}, 409)
        comment = change.get("comment")
        if comment is not None and (problem := _comment_problem(comment)):
            return _json({"error": "RecordInvalid", "description": problem}, 422)
        updated = {**ticket, "updated_at": iso(self._now() - 61)}
        for key in ("priority", "tags", "status"):
            if key in change:
                updated[key] = change[key]
        self.tickets.put(int(ticket_id), updated)
        if comment is not None:
            self._add_comment(int(ticket_id), comment)
            if self.hold_after_comment:
                time.sleep(self.hold_after_comment)
            if self.fail_after_comment > 0:
                self.fail_after_comment -= 1
                return _json({"error": "InternalError", "description": "try again"}, 500)
        return _json({"ticket": updated, "audit": {"events": []}})

    def _add_comment(self, ticket_id: int, comment: dict) -> None:
        """A comment as Zendesk stores it: `html_body` given or built from `body`, the
        text forms derived from it, `public` true unless said otherwise."""
        html = comment.get("html_body") or f"<p>{comment.get('body', '')}</p>"
        text = re.sub(r"<[^>]+>", " ", html)
        self.comments.setdefault(ticket_id, []).append(
            {
                "id": next(self._comment_ids),
                "type": "Comment",
                "author_id": 1,
                "body": comment.get("body") or text,
                "html_body": html,
                "plain_body": " ".join(text.split()),
                "public": comment.get("public", True),
                "created_at": iso(self._now()),
            }
        )

    def private_comments(self, ticket_id: int) -> list[dict]:
        """The ticket's internal notes (comments with `public: false`)."""
        return [c for c in self.comments.get(ticket_id, []) if c["public"] is False]

    def _list_comments(self, request: Request, ticket_id: str) -> Response:
        """List Comments with cursor pagination: `page[size]` (at most 100) and
        `page[after]`; `meta.has_more`, `meta.after_cursor` and `links.next`."""
        if self._ticket(ticket_id) is None:
            return _json({"error": "RecordNotFound", "description": "Not found"}, 404)
        size = min(int(request.args.get("page[size]", 100)), 100)
        start = int(request.args.get("page[after]") or 0)
        rows = self.comments.get(int(ticket_id), [])
        page = rows[start : start + size]
        more = start + size < len(rows)
        after = str(start + size) if more else None
        query = urlencode({"page[size]": size, "page[after]": after}) if after else ""
        return _json(
            {
                "comments": page,
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
                "links": {"next": f"{self.base_url}{request.path}?{query}" if more else None},
            }
        )

    def _create_ticket(self, request: Request) -> Response:
        data = (request.get_json(silent=True) or {}).get("ticket") or {}
        self.writes.append(("POST", "", data))
        key = request.headers.get("Idempotency-Key")
        raw = json.dumps(data, sort_keys=True)
        if key and key in self.idempotency:
            body, first = self.idempotency[key]
            if body != raw:
                error = {"error": "IdempotentRequestError", "description": "key reused"}
                return _json(error, 400)
            answer = _json(first, 201)
            answer.headers["x-idempotency-lookup"] = "hit"
            return answer
        comment = data.get("comment") or {}
        if not comment.get("body"):
            return _json({"error": "RecordInvalid", "description": "comment required"}, 422)
        requester_id = data.get("requester_id")
        if requester_id is None and isinstance(data.get("requester"), dict):
            requester_id = self._user_by_email(data["requester"])
        if requester_id is None:
            details = {"requester": [{"description": "Requester: cannot be blank"}]}
            return _json({"error": "RecordInvalid", "details": details}, 422)
        now = iso(self._now() - 61)
        ticket = {
            "id": next(self._ticket_ids),
            "subject": data.get("subject", ""),
            "requester_id": requester_id,
            "status": "new",
            "priority": data.get("priority"),
            "tags": data.get("tags", []),
            "via": {"channel": "api"},
            "created_at": now,
            "updated_at": now,
        }
        self.tickets.put(ticket["id"], ticket)
        self.comments[ticket["id"]] = [
            {"body": comment["body"], "public": comment.get("public", True)}
        ]
        if key:
            self.idempotency[key] = (raw, {"ticket": ticket})
        if self.fail_after_create > 0:
            self.fail_after_create -= 1
            return _json({"error": "InternalError", "description": "try again"}, 500)
        return _json({"ticket": ticket}, 201)

    def _user_by_email(self, requester: dict) -> int | None:
        email = (requester.get("email") or "").lower()
        if not email:
            return None
        for _, user in self.users.rows.values():
            if (user.get("email") or "").lower() == email:
                return user["id"]
        return self.add_user(
            {"id": next(self._user_ids), "email": email, "name": requester.get("name") or email}
        )["id"]


# -- helpers ---------------------------------------------------------------------------------


def _comment_problem(comment: Any) -> str | None:
    """What Zendesk would refuse in a ticket update's `comment`, or None."""
    if not isinstance(comment, dict):
        return "comment must be an object"
    if not (comment.get("body") or comment.get("html_body")):
        return "comment needs a body or an html_body"
    if "public" in comment and not isinstance(comment["public"], bool):
        return "public must be true or false"
    return None


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json; charset=utf-8")


def _next_link(request: Request, after: str | None) -> str | None:
    """`links.next` of cursor pagination: the same query with `page[after]`."""
    if after is None:
        return None
    query = {k: v for k, v in request.args.items() if k != "page[after]"}
    return f"{HELP_CENTER}{request.path}?{urlencode(query | {'page[after]': after})}"


def _authorized(request: Request) -> bool:
    expected = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
    return request.headers.get("Authorization") == f"Basic {expected}"


def _encode_cursor(start_time: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{start_time}:{seq}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, int]:
    start_time, seq = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
    return int(start_time), int(seq)


def _max_seq(table: _ExportTable) -> int:
    return max((seq for seq, _ in table.rows.values()), default=0)


def _instant(value: str) -> datetime:
    """A Zendesk time; a malformed one (injected by a test) sorts first."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")


def _trans(translations: dict | None) -> dict:
    if not translations:
        return {}
    return {"translations": [{"locale": k, "title": v} for k, v in translations.items()]}
