"""A stateful fake Freshdesk (API v2) on pytest-httpserver that speaks the documented API.

What it models (facts from /work/shared/reference/helpdesk-apis.md §2 and the v2 reference):
- Basic auth with the API key as user name (401 otherwise);
- list pagination: `page`, `per_page` ≤ 100 (a 400 otherwise), the `link` header written
  with the account's own host (as Freshdesk does behind any proxy), absent on the last page;
- `GET /tickets`: `updated_since` (inclusive, or exclusive with `since_inclusive=False`,
  since the docs do not say), `order_by`/`order_type`, `include=stats,requester`, the
  last-30-days default without `updated_since`, and the page cap (page > cap is a 400);
- `GET /contacts` by `updated_since`, served in id order (not sorted by update);
- the solutions tree per language, with flexible-hierarchy subfolders, and
  `/settings/helpdesk` listing the languages;
- ticket view/update (tags replace), outbound email, contact-activities;
- Create a Note (`POST /tickets/{id}/notes`: `body` HTML, `private`; `fail_after_note`
  answers 500 after creating it, `hold_after_note` answers late) and List All
  Conversations (`GET /tickets/{id}/conversations`, paged);
- unknown query parameters are a 400 (`invalid_field`), as Freshdesk validates them;
- rate-limit headers on every answer (credits: 1 + 2 per include) and 429 + Retry-After
  when the budget is spent; `refill()` starts a new minute;
- `fail(...)` to inject faults: any status, Retry-After, a slow answer, a malformed body.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

DOMAIN = "acme.freshdesk.com"
API_KEY = "fd-live-key-5b1e9c7d2a"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

LIST_PARAMS = {"page", "per_page"}
TICKET_LIST_PARAMS = LIST_PARAMS | {
    "filter",
    "requester_id",
    "email",
    "unique_external_id",
    "company_id",
    "updated_since",
    "order_by",
    "order_type",
    "include",
}
CONTACT_LIST_PARAMS = LIST_PARAMS | {
    "email",
    "mobile",
    "phone",
    "company_id",
    "state",
    "updated_since",
}
TICKET_UPDATE_FIELDS = {"priority", "status", "tags", "subject", "description", "type"}
NOTE_FIELDS = {"body", "private", "incoming", "notify_emails", "user_id"}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Fault:
    """An answer to give instead of the real one, `times` times, on matching requests."""

    path: str = ""  # a substring of the path; "" matches every request
    status: int | None = 500  # None: answer normally (after `delay`)
    times: int = 1
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    method: str | None = None


class FakeFreshdesk:
    """The account's state plus the HTTP dispatcher registered on `server`."""

    def __init__(self, server: HTTPServer, *, page_cap: int = 300, rate_total: int = 10_000):
        self.server = server
        self.api_key = API_KEY
        self.page_cap = page_cap
        self.since_inclusive = True
        self.link_base = f"https://{DOMAIN}"
        self.rate_total = self.remaining = rate_total
        self.retry_after = 30
        self.now = EPOCH + timedelta(days=400)
        self.tickets: dict[int, dict] = {}
        self.contacts: dict[int, dict] = {}
        self.groups: dict[int, dict] = {}
        self.categories: dict[int, dict] = {}
        self.folders: dict[int, dict] = {}
        self.articles: dict[int, dict] = {}
        self.primary_language = "en"
        self.languages: list[str] = []
        self.settings_status = 200
        self.activities: list[dict] = []
        self.conversations: dict[int, list[dict]] = {}  # ticket id → replies and notes
        self.fail_after_note = 0  # the next N notes are created, then answer 500
        self.hold_after_note = 0.0  # seconds a note's answer waits once it is created
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.statuses: list[int] = []  # the status of each answer, in order
        self.after_request: Callable[[FakeFreshdesk, Request], None] | None = None
        self._ids = itertools.count(1_000)
        server.clear()
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    # -- data -------------------------------------------------------------------------------

    def tick(self) -> str:
        self.now += timedelta(seconds=1)
        return iso(self.now)

    def add_contact(self, contact_id: int | None = None, **fields: Any) -> dict:
        contact_id = contact_id or next(self._ids)
        stamp = fields.pop("updated_at", None) or self.tick()
        contact = {
            "id": contact_id,
            "name": f"Contact {contact_id}",
            "email": f"c{contact_id}@example.com",
            "unique_external_id": None,
            "language": "en",
            "time_zone": "Eastern Time (US & Canada)",
            "active": True,
            "created_at": stamp,
            "updated_at": stamp,
            **fields,
        }
        self.contacts[contact_id] = contact
        return contact

    def add_ticket(self, ticket_id: int | None = None, **fields: Any) -> dict:
        ticket_id = ticket_id or next(self._ids)
        stamp = fields.pop("updated_at", None) or self.tick()
        ticket = {
            "id": ticket_id,
            "subject": f"Ticket {ticket_id}",
            "requester_id": 1,
            "status": 2,
            "priority": 1,
            "source": 2,
            "tags": [],
            "spam": False,
            "created_at": stamp,
            "updated_at": stamp,
            **fields,
        }
        self.tickets[ticket_id] = ticket
        return ticket

    def put_raw_ticket(self, raw: dict) -> None:
        """A record as-is (missing or malformed fields included); sorted by updated_at."""
        self.tickets[raw.get("id") or next(self._ids)] = raw

    def touch_ticket(self, ticket_id: int) -> None:
        self.tickets[ticket_id]["updated_at"] = self.tick()

    def add_category(self, names: dict[str, str]) -> int:
        category_id = next(self._ids)
        self.categories[category_id] = {"id": category_id, "names": names}
        return category_id

    def add_folder(self, category_id: int, names: dict[str, str], parent: int | None = None) -> int:
        folder_id = next(self._ids)
        self.folders[folder_id] = {
            "id": folder_id,
            "category_id": category_id,
            "parent_folder_id": parent,
            "names": names,
        }
        return folder_id

    def add_article(self, folder_id: int, titles: dict[str, str], status: int = 2) -> int:
        article_id = next(self._ids)
        stamp = self.tick()
        self.articles[article_id] = {
            "id": article_id,
            "folder_id": folder_id,
            "status": status,
            "versions": {lang: {"title": t, "updated_at": stamp} for lang, t in titles.items()},
        }
        return article_id

    def fail(self, status: int | None = 500, **options: Any) -> Fault:
        fault = Fault(status=status, **options)
        self.faults.append(fault)
        return fault

    def refill(self) -> None:
        """A new rate-limit minute starts."""
        self.remaining = self.rate_total

    def paths(self, method: str = "GET") -> list[str]:
        return [path for m, path, _ in self.requests if m == method]

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path, dict(request.args)))
        try:
            response = self._answer(request)
            self.statuses.append(response.status_code)
            return response
        finally:
            if self.after_request:
                self.after_request(self, request)

    def _answer(self, request: Request) -> Response:
        fault = self._take_fault(request)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status is not None:
            return Response(fault.body or "", fault.status, headers=fault.headers)
        if not self._authorized(request):
            return _json(
                {"code": "invalid_credentials", "message": "You have to be logged in."}, 401
            )
        cost = 1 + 2 * len(_includes(request))
        if self.remaining < cost:
            return _json({"message": "rate limited"}, 429, {"Retry-After": str(self.retry_after)})
        self.remaining -= cost
        response = self._route(request)
        response.headers["X-Ratelimit-Total"] = str(self.rate_total)
        response.headers["X-Ratelimit-Remaining"] = str(self.remaining)
        response.headers["X-Ratelimit-Used-CurrentRequest"] = str(cost)
        return response

    def _take_fault(self, request: Request) -> Fault | None:
        for fault in self.faults:
            matches = fault.path in request.path and fault.method in (None, request.method)
            if fault.times > 0 and matches:
                fault.times -= 1
                return fault
        return None

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.api_key}:X".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _route(self, request: Request) -> Response:
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, request.path)
            if match and request.method == method:
                return handler(request, *match.groups())
        return Response("<html><body>Page not found</body></html>", 404, mimetype="text/html")

    def _routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        lang = r"(?:/([a-z]{2}(?:-[A-Za-z]{2})?))?"
        return [
            ("GET", r"/api/v2/tickets", self._list_tickets),
            ("GET", r"/api/v2/tickets/(\d+)", self._view_ticket),
            ("PUT", r"/api/v2/tickets/(\d+)", self._update_ticket),
            ("POST", r"/api/v2/tickets/outbound_email", self._outbound_email),
            ("POST", r"/api/v2/tickets/(\d+)/notes", self._create_note),
            ("GET", r"/api/v2/tickets/(\d+)/conversations", self._list_conversations),
            ("GET", r"/api/v2/contacts", self._list_contacts),
            ("GET", r"/api/v2/groups", self._list_groups),
            ("POST", r"/api/v2/contact-activities", self._contact_activity),
            ("GET", r"/api/v2/settings/helpdesk", self._settings),
            ("GET", rf"/api/v2/solutions/categories{lang}", self._list_categories),
            ("GET", rf"/api/v2/solutions/categories/(\d+)/folders{lang}", self._list_folders),
            ("GET", rf"/api/v2/solutions/folders/(\d+)/subfolders{lang}", self._list_subfolders),
            ("GET", rf"/api/v2/solutions/folders/(\d+)/articles{lang}", self._list_articles),
        ]

    # -- tickets ----------------------------------------------------------------------------

    def _list_tickets(self, request: Request) -> Response:
        args = request.args
        if error := _check(
            args, TICKET_LIST_PARAMS, includes={"stats", "requester", "description"}
        ):
            return error
        if args.get("order_by", "created_at") not in {
            "created_at",
            "due_by",
            "updated_at",
            "status",
        }:
            return _invalid("order_by")
        if args.get("order_type", "desc") not in {"asc", "desc"}:
            return _invalid("order_type")
        rows = [t for t in self.tickets.values() if self._since_matches(t, args)]
        key = args.get("order_by", "created_at")
        rows.sort(key=lambda t: (str(t.get(key)), str(t.get("id"))))
        if args.get("order_type", "desc") == "desc":
            rows.reverse()
        shown = [self._embed(t, _includes(request)) for t in rows]
        return self._page(request, shown, cap=self.page_cap)

    def _since_matches(self, record: dict, args: Any) -> bool:
        if "updated_since" not in args:  # the documented default: created in the last 30 days
            return str(record.get("created_at")) >= iso(self.now - timedelta(days=30))
        since, stamp = iso(parse(args["updated_since"])), str(record.get("updated_at"))
        return stamp >= since if self.since_inclusive else stamp > since

    def _embed(self, ticket: dict, includes: set[str]) -> dict:
        shown = dict(ticket)
        if "stats" in includes:
            shown["stats"] = {
                "first_responded_at": ticket.get("_first_responded_at"),
                "resolved_at": ticket.get("_resolved_at"),
                "closed_at": None,
            }
        if "requester" in includes and (contact := self.contacts.get(ticket.get("requester_id"))):
            shown["requester"] = {k: contact.get(k) for k in ("id", "name", "email")}
        return {k: v for k, v in shown.items() if not k.startswith("_")}

    def _view_ticket(self, request: Request, ticket_id: str) -> Response:
        if error := _check(request.args, set(), includes={"stats", "requester", "company"}):
            return error
        ticket = self.tickets.get(int(ticket_id))
        if ticket is None:
            return Response("", 404, mimetype="application/json")
        return _json(self._embed(ticket, _includes(request)))

    def _update_ticket(self, request: Request, ticket_id: str) -> Response:
        ticket = self.tickets.get(int(ticket_id))
        if ticket is None:
            return Response("", 404, mimetype="application/json")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _validation("body", "invalid_json")
        if unknown := set(body) - TICKET_UPDATE_FIELDS:
            return _validation(sorted(unknown)[0], "invalid_field")
        if "priority" in body and body["priority"] not in (1, 2, 3, 4):
            return _validation("priority", "invalid_value")
        ticket.update(body)  # `tags` replaces the list, as Freshdesk does
        ticket["updated_at"] = self.tick()
        return _json(self._embed(ticket, set()))

    def _outbound_email(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        for required in ("email", "subject", "email_config_id"):
            if not body.get(required):
                return _validation(required, "missing_field")
        contact = next((c for c in self.contacts.values() if c["email"] == body["email"]), None)
        contact = contact or self.add_contact(email=body["email"], name=body.get("name"))
        ticket = self.add_ticket(
            subject=body["subject"],
            requester_id=contact["id"],
            status=5,
            source=10,
            description=body.get("description"),
            email_config_id=body["email_config_id"],
        )
        location = {"Location": f"{self.link_base}/api/v2/tickets/{ticket['id']}"}
        return _json(self._embed(ticket, set()), 201, location)

    def _create_note(self, request: Request, ticket_id: str) -> Response:
        """Create a Note: `body` (HTML) required, `private` (default true); 201 with it."""
        if int(ticket_id) not in self.tickets:
            return Response("", 404, mimetype="application/json")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _validation("body", "invalid_json")
        if unknown := set(body) - NOTE_FIELDS:
            return _validation(sorted(unknown)[0], "invalid_field")
        if not isinstance(body.get("body"), str) or not body["body"].strip():
            return _validation("body", "missing_field")
        if not isinstance(body.get("private", True), bool):
            return _validation("private", "datatype_mismatch")
        note = {
            "id": next(self._ids),
            "ticket_id": int(ticket_id),
            "body": body["body"],
            "body_text": " ".join(re.sub(r"<[^>]+>", " ", body["body"]).split()),
            "private": body.get("private", True),
            "incoming": False,
            "source": 2,  # a note
            "user_id": 1,
            "created_at": self.tick(),
        }
        self.conversations.setdefault(int(ticket_id), []).append(note)
        if self.hold_after_note:
            time.sleep(self.hold_after_note)
        if self.fail_after_note > 0:
            self.fail_after_note -= 1
            return _json({"code": "internal_error", "message": "try again"}, 500)
        return _json(note, 201)

    def _list_conversations(self, request: Request, ticket_id: str) -> Response:
        """List All Conversations of a Ticket: replies and notes, oldest first, paged."""
        if error := _check(request.args, LIST_PARAMS):
            return error
        if int(ticket_id) not in self.tickets:
            return Response("", 404, mimetype="application/json")
        return self._page(request, self.conversations.get(int(ticket_id), []))

    def private_notes(self, ticket_id: int) -> list[dict]:
        return [n for n in self.conversations.get(ticket_id, []) if n["private"] is True]

    # -- contacts ---------------------------------------------------------------------------

    def _list_contacts(self, request: Request) -> Response:
        if error := _check(request.args, CONTACT_LIST_PARAMS):
            return error
        rows = sorted(self.contacts.values(), key=lambda c: c["id"])
        rows = [c for c in rows if self._since_matches(c, request.args)]
        return self._page(request, rows)

    def _list_groups(self, request: Request) -> Response:
        if error := _check(request.args, {"page", "per_page"}):
            return error
        return self._page(request, [self.groups[i] for i in sorted(self.groups)])

    def add_group(self, group_id: int, name: str) -> None:
        self.groups[group_id] = {"id": group_id, "name": name, "description": ""}

    def _contact_activity(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        activity, contact = body.get("activity") or {}, body.get("contact") or {}
        if not activity.get("name") or not activity.get("timestamp"):
            return _validation("activity", "missing_field")
        keys = ("email", "id", "unique_external_id", "twitter_id", "facebook_id")
        if not any(contact.get(k) for k in keys):
            return _validation("contact", "missing_field")
        known = any(
            c["email"] == contact.get("email") or c["id"] == contact.get("id")
            for c in self.contacts.values()
        )
        if not known:
            return _validation("contact", "invalid_value")
        self.activities.append(body)
        return Response("", 200, mimetype="application/json")

    # -- solutions --------------------------------------------------------------------------

    def _settings(self, request: Request) -> Response:
        if self.settings_status != 200:
            return _json({"code": "access_denied", "message": "No access"}, self.settings_status)
        return _json(
            {
                "primary_language": self.primary_language,
                "supported_languages": self.languages,
                "portal_languages": self.languages,
            }
        )

    def _lang(self, lang: str | None) -> str:
        return lang or self.primary_language

    def _list_categories(self, request: Request, lang: str | None) -> Response:
        lang = self._lang(lang)
        rows = [
            {"id": c["id"], "name": c["names"][lang], "description": None}
            for c in self.categories.values()
            if lang in c["names"]
        ]
        return self._page(request, rows)

    def _folder_rows(self, folders: Iterator[dict], lang: str) -> list[dict]:
        return [
            {
                "id": f["id"],
                "name": f["names"][lang],
                "parent_folder_id": f["parent_folder_id"],
                "category_id": f["category_id"],
                "sub_folders_count": sum(
                    1 for g in self.folders.values() if g["parent_folder_id"] == f["id"]
                ),
            }
            for f in folders
            if lang in f["names"]
        ]

    def _list_folders(self, request: Request, category_id: str, lang: str | None) -> Response:
        if int(category_id) not in self.categories:
            return Response("", 404, mimetype="application/json")
        top = (
            f
            for f in self.folders.values()
            if f["category_id"] == int(category_id) and f["parent_folder_id"] is None
        )
        return self._page(request, self._folder_rows(top, self._lang(lang)))

    def _list_subfolders(self, request: Request, folder_id: str, lang: str | None) -> Response:
        children = (f for f in self.folders.values() if f["parent_folder_id"] == int(folder_id))
        return self._page(request, self._folder_rows(children, self._lang(lang)))

    def _list_articles(self, request: Request, folder_id: str, lang: str | None) -> Response:
        lang, folder = self._lang(lang), self.folders.get(int(folder_id))
        if folder is None or lang not in folder["names"]:
            return Response("", 404, mimetype="application/json")
        rows = [
            {
                "id": a["id"],
                "title": a["versions"][lang]["title"],
                "status": a["status"],
                "folder_id": a["folder_id"],
                "category_id": folder["category_id"],
                "hits": 0,
                "created_at": a["versions"][lang]["updated_at"],
                "updated_at": a["versions"][lang]["updated_at"],
            }
            for a in self.articles.values()
            if a["folder_id"] == int(folder_id) and lang in a["versions"]
        ]
        return self._page(request, rows)

    # -- pagination -------------------------------------------------------------------------

    def _page(self, request: Request, rows: list[dict], cap: int | None = None) -> Response:
        args = request.args
        try:
            per_page, page = int(args.get("per_page", 30)), int(args.get("page", 1))
        except ValueError:
            return _invalid("per_page")
        if not 1 <= per_page <= 100:
            return _invalid("per_page")
        if page < 1 or (cap is not None and page > cap):
            return _invalid("page")
        start = (page - 1) * per_page
        headers = {}
        if start + per_page < len(rows):
            query = urlencode({**args, "page": page + 1})
            headers["Link"] = f'<{self.link_base}{request.path}?{query}>; rel="next"'
        return _json(rows[start : start + per_page], 200, headers)


# -- helpers ---------------------------------------------------------------------------------


def _includes(request: Request) -> set[str]:
    return {part for part in request.args.get("include", "").split(",") if part}


def _check(args: Any, allowed: set[str], includes: set[str] | None = None) -> Response | None:
    """Freshdesk rejects unknown query parameters and embeds with a validation error."""
    if unknown := set(args) - allowed - ({"include"} if includes else set()):
        return _validation(sorted(unknown)[0], "invalid_field")
    if (
        includes is not None
        and not {i for i in args.get("include", "").split(",") if i} <= includes
    ):
        return _invalid("include")
    if "updated_since" in args:
        try:
            parse(args["updated_since"])
        except ValueError:
            return _invalid("updated_since")
    return None


def _invalid(name: str) -> Response:
    return _validation(name, "invalid_value")


def _validation(name: str, code: str) -> Response:
    error = {"field": name, "message": f"{name} is not valid", "code": code}
    return _json({"description": "Validation failed", "errors": [error]}, 400)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status, headers=headers or {}, mimetype="application/json")
