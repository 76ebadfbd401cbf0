"""A local, unthrottled server speaking Zendesk's cursor-based incremental ticket export.

    python -m benchmarks.export_server --tickets 1000000   # prints "port N", serves

`GET /api/v2/incremental/tickets/cursor[.json]` with `start_time` (first call) or
`cursor`, `per_page` (≤ 1000) and `include=metric_sets`, answered with the documented page
shape: `tickets`, `metric_sets`, `after_cursor`, `after_url`, `before_cursor`,
`before_url`, `end_of_stream`, and Zendesk's rate-limit headers (never spent). Basic auth
`email/token:token` is checked like Zendesk does.

Tickets are made on the fly from their number (nothing is kept in memory), as full
Zendesk ticket objects of about 1.5 kB (description, via, custom fields, satisfaction
rating ...) so the client parses what a real export sends. Each ticket is rendered from a
pre-built JSON template with `%` formatting, so serving a 1,000-ticket page costs the
server a few milliseconds and the measurement is the client's.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

START = 1_700_000_000  # the first ticket's created_at; one ticket every 30 s after it
REQUESTERS = 300_000
FIRST_USER = 370_000_000_000
FIRST_TICKET = 50_000_000
STATUSES = ("closed", "closed", "closed", "solved", "open", "pending", "new", "hold")
CHANNELS = ("web", "email", "email", "chat", "api")

_TICKET = json.dumps(
    {
        "url": "https://acme.zendesk.com/api/v2/tickets/@ID@.json",
        "id": "@ID@",
        "external_id": None,
        "via": {"channel": "@CHANNEL@", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": "@CREATED@",
        "updated_at": "@UPDATED@",
        "generated_timestamp": "@GENERATED@",
        "type": "question",
        "subject": "Problem with the CSV export #@ID@",
        "raw_subject": "Problem with the CSV export #@ID@",
        "description": (
            "Hi, I followed the article about CSV exports but the file still comes out "
            "empty when I pick more than one project. I tried again this morning after "
            "clearing the cache and the same thing happens. Could you take a look? Thanks!"
        ),
        "priority": "normal",
        "status": "@STATUS@",
        "recipient": "support@acme.example",
        "requester_id": "@REQUESTER@",
        "submitter_id": "@REQUESTER@",
        "assignee_id": 360_123_456_789,
        "organization_id": 360_000_111_222,
        "group_id": 360_000_333_444,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": ["csv", "export", "@CHANNEL@"],
        "custom_fields": [
            {"id": 360_000_000_001, "value": "web_app"},
            {"id": 360_000_000_002, "value": None},
        ],
        "satisfaction_rating": "@RATING@",
        "sharing_agreement_ids": [],
        "custom_status_id": 360_000_555_666,
        "fields": [
            {"id": 360_000_000_001, "value": "web_app"},
            {"id": 360_000_000_002, "value": None},
        ],
        "followup_ids": [],
        "ticket_form_id": 360_000_777_888,
        "brand_id": 360_000_999_000,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    },
    separators=(",", ":"),
)
_METRIC = json.dumps(
    {
        "url": "https://acme.zendesk.com/api/v2/ticket_metrics/@ID@.json",
        "id": "@ID@",
        "ticket_id": "@ID@",
        "created_at": "@CREATED@",
        "updated_at": "@UPDATED@",
        "group_stations": 1,
        "assignee_stations": 1,
        "reopens": 0,
        "replies": 2,
        "assignee_updated_at": "@UPDATED@",
        "requester_updated_at": "@CREATED@",
        "status_updated_at": "@UPDATED@",
        "initially_assigned_at": "@CREATED@",
        "assigned_at": "@CREATED@",
        "solved_at": "@SOLVED@",
        "latest_comment_added_at": "@UPDATED@",
        "reply_time_in_minutes": {"calendar": 42, "business": 42},
        "first_resolution_time_in_minutes": {"calendar": 600, "business": 300},
        "full_resolution_time_in_minutes": {"calendar": 600, "business": 300},
        "agent_wait_time_in_minutes": {"calendar": 30, "business": 30},
        "requester_wait_time_in_minutes": {"calendar": 570, "business": 270},
        "on_hold_time_in_minutes": {"calendar": 0, "business": 0},
    },
    separators=(",", ":"),
)


def _template(text: str) -> str:
    """Turn the JSON above into a %-format string (placeholders are quoted strings)."""
    text = text.replace("%", "%%")
    for name in ("ID", "GENERATED", "REQUESTER"):
        text = text.replace(f'"@{name}@"', f"%({name})d").replace(f"@{name}@", f"%({name})d")
    text = text.replace('"@RATING@"', "%(RATING)s").replace('"@SOLVED@"', "%(SOLVED)s")
    for name in ("CHANNEL", "CREATED", "UPDATED", "STATUS"):
        text = text.replace(f"@{name}@", f"%({name})s")
    return text


TICKET_TEMPLATE = _template(_TICKET)
METRIC_TEMPLATE = _template(_METRIC)
RATINGS = (
    '{"score":"good","comment":"Thanks!"}',
    '{"score":"bad","comment":"Still broken"}',
    '{"score":"offered"}',
    '{"score":"unoffered"}',
)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticket_values(n: int) -> dict:
    """The variable parts of ticket number n (0-based): deterministic, no state."""
    created = START + n * 30
    status = STATUSES[n % len(STATUSES)]
    solved = status in ("closed", "solved")
    return {
        "ID": FIRST_TICKET + n,
        "GENERATED": created + 3600,
        "REQUESTER": FIRST_USER + (n * 7919) % REQUESTERS,
        "CHANNEL": CHANNELS[n % len(CHANNELS)],
        "CREATED": _iso(created),
        "UPDATED": _iso(created + 3600),
        "STATUS": status if n % 997 else "deleted",
        "RATING": RATINGS[n % 7 % 4] if solved else RATINGS[3],
        "SOLVED": f'"{_iso(created + 36_000)}"' if solved else "null",
    }


def page(total: int, offset: int, per_page: int, base_url: str) -> bytes:
    """One export page starting at ticket `offset`."""
    end = min(total, offset + per_page)
    tickets, metrics = [], []
    for n in range(offset, end):
        values = ticket_values(n)
        tickets.append(TICKET_TEMPLATE % values)
        metrics.append(METRIC_TEMPLATE % values)
    cursor = base64.urlsafe_b64encode(f"{end}".encode()).decode()
    after_url = f"{base_url}/api/v2/incremental/tickets/cursor.json?cursor={cursor}"
    body = (
        f'{{"tickets":[{",".join(tickets)}],"metric_sets":[{",".join(metrics)}],'
        f'"after_cursor":"{cursor}","after_url":"{after_url}","before_cursor":null,'
        f'"before_url":null,"end_of_stream":{"true" if end >= total else "false"}}}'
    )
    return body.encode()


class PageMaker:
    """Renders the page after the one just served in the background: the client asks for
    it next, so the answer is ready and the measurement stays the client's."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pool = ThreadPoolExecutor(1)
        self.ahead: dict[tuple[int, int, str], Future] = {}
        self.lock = threading.Lock()

    def get(self, offset: int, per_page: int, base_url: str) -> bytes:
        key = (offset, per_page, base_url)
        with self.lock:
            future = self.ahead.pop(key, None)
            self.ahead.clear()  # a client that jumped elsewhere will not want the rest
            following = (offset + per_page, per_page, base_url)
            if offset + per_page < self.total:
                self.ahead[following] = self.pool.submit(page, self.total, *following)
        return future.result() if future else page(self.total, offset, per_page, base_url)


def make_server(total: int, *, email: str, token: str, port: int = 0) -> ThreadingHTTPServer:
    expected = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
    pages = PageMaker(total)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like Zendesk

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if self.headers.get("Authorization") != expected:
                return self._send(401, b'{"error":"Couldn\'t authenticate you"}')
            if parts.path not in (
                "/api/v2/incremental/tickets/cursor",
                "/api/v2/incremental/tickets/cursor.json",
            ):
                return self._send(404, b'{"error":"InvalidEndpoint"}')
            if "cursor" in query:
                offset = int(base64.urlsafe_b64decode(query["cursor"].encode()).decode())
            elif "start_time" in query:
                offset = 0
            else:
                return self._send(400, b'{"error":"InvalidValue","description":"start_time"}')
            per_page = min(int(query.get("per_page", 1000)), 1000)
            host = f"http://{self.headers.get('Host', '127.0.0.1')}"
            self._send(200, pages.get(offset, per_page, host))

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Rate-Limit", "700")
            self.send_header("X-Rate-Limit-Remaining", "699")
            self.send_header(
                "Zendesk-RateLimit-incremental-exports-cursor", "total=20; remaining=19; resets=41"
            )
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:  # quiet: a million lines help nobody
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export_server")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--email", default="admin@acme.example")
    parser.add_argument("--token", default="benchmark-zendesk-token")
    args = parser.parse_args(argv)
    server = make_server(args.tickets, email=args.email, token=args.token, port=args.port)
    print(f"port {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
