"""A stateful fake Chatwoot (application API) on pytest-httpserver.

What it models (facts: /work/shared/reference/helpdesk-apis.md §3.2 and Chatwoot's
`api/v1/conversations/partials/_conversation.json.jbuilder`):
- auth by the access-token header, read like Rails does from HTTP_API_ACCESS_TOKEN (401 JSON,
  Devise's message, without a valid one);
- accounts own conversations; `GET /api/v1/accounts/{account_id}/conversations/{id}` answers
  one conversation (its display id as `id`, `meta.sender` = the contact, `status`,
  `created_at`/`last_activity_at` as Unix seconds, `last_non_activity_message`) or a JSON 404
  when the id is not a conversation of that account;
- a token scoped to other inboxes gets a 403 (`forbid(...)`);
- a conversation's messages: Create New Message (`content`, `message_type`, `private`) and
  List Messages (`payload`, the latest 20; `before=<id>` for older ones);
- every request is recorded, so tests can count the calls the server made.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

TOKEN = "cw-agent-token-7f3a9c"
ACCOUNT_ID = 3
_CONVERSATION = re.compile(r"/api/v1/accounts/(\d+)/conversations/(\d+)")
_MESSAGES = re.compile(r"/api/v1/accounts/(\d+)/conversations/(\d+)/messages")
MESSAGES_PAGE = 20
"""Chatwoot lists a conversation's latest 20 messages; `before=<id>` reads older ones."""


@dataclass
class Contact:
    id: int
    name: str | None
    email: str | None
    identifier: str | None = None


@dataclass
class Conversation:
    id: int
    account_id: int
    contact: Contact
    created_at: int
    status: str = "open"
    channel: str = "Channel::WebWidget"
    last_message: str | None = "Hi, I cannot export my data to CSV"
    extra: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)


class FakeChatwoot:
    """Accounts, contacts and conversations, plus the dispatcher registered on `server`."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.token = TOKEN
        self.conversations: dict[tuple[int, int], Conversation] = {}
        self.forbidden: set[tuple[int, int]] = set()
        self.requests: list[tuple[str, str]] = []
        server.clear()
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def add_conversation(
        self,
        conversation_id: int,
        contact: Contact,
        *,
        account_id: int = ACCOUNT_ID,
        created_at: int,
        **fields: Any,
    ) -> Conversation:
        conversation = Conversation(conversation_id, account_id, contact, created_at, **fields)
        self.conversations[(account_id, conversation_id)] = conversation
        return conversation

    def forbid(self, conversation_id: int, account_id: int = ACCOUNT_ID) -> None:
        """The token's user is not a member of that conversation's inbox."""
        self.forbidden.add((account_id, conversation_id))

    def calls(self, path_part: str = "") -> int:
        return sum(1 for _, path in self.requests if path_part in path)

    # -- HTTP -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        # Rails reads the token from the Rack env key HTTP_API_ACCESS_TOKEN, which is what
        # an `Api-Access-Token` (or, where the server keeps it, `api_access_token`) header becomes.
        if request.environ.get("HTTP_API_ACCESS_TOKEN") != self.token:
            return _json({"error": "You need to sign in or sign up before continuing."}, 401)
        if (found := _MESSAGES.fullmatch(request.path)) is not None:
            return self._messages(request, (int(found[1]), int(found[2])))
        match = _CONVERSATION.fullmatch(request.path)
        if request.method != "GET" or match is None:
            return _json({"error": "Resource could not be found"}, 404)
        key = (int(match[1]), int(match[2]))
        if key in self.forbidden:
            return _json({"error": "You are not authorized to do this action"}, 403)
        conversation = self.conversations.get(key)
        if conversation is None:
            return _json({"error": "Resource could not be found"}, 404)
        return _json(_render(conversation), 200)

    def _messages(self, request: Request, key: tuple[int, int]) -> Response:
        """Create New Message (`content`, `message_type`, `private`) and List Messages
        (`payload`: the latest MESSAGES_PAGE, oldest first; `before=<id>` for older)."""
        conversation = self.conversations.get(key)
        if conversation is None or key in self.forbidden:
            return _json({"error": "Resource could not be found"}, 404)
        if request.method == "GET":
            rows = conversation.messages
            before = request.args.get("before")
            if before:
                rows = [m for m in rows if m["id"] < int(before)]
            return _json({"meta": {}, "payload": rows[-MESSAGES_PAGE:]}, 200)
        if request.method != "POST":
            return _json({"error": "Resource could not be found"}, 404)
        body = request.get_json(silent=True) or {}
        if not isinstance(body.get("content"), str) or not body["content"]:
            return _json({"error": "content can't be blank"}, 422)
        message = {
            "id": 1
            + max((m["id"] for c in self.conversations.values() for m in c.messages), default=0),
            "content": body["content"],
            "message_type": {"incoming": 0, "outgoing": 1}.get(body.get("message_type"), 1),
            "private": body.get("private") is True,
            "conversation_id": conversation.id,
        }
        conversation.messages.append(message)
        return _json(message, 200)


def _render(c: Conversation) -> dict[str, Any]:
    sender = {
        "id": c.contact.id,
        "name": c.contact.name,
        "email": c.contact.email,
        "identifier": c.contact.identifier,
        "phone_number": None,
        "thumbnail": "",
        "additional_attributes": {},
        "custom_attributes": {},
        "availability_status": "offline",
        "type": "contact",
    }
    message = (
        {"id": 1, "content": c.last_message, "message_type": 0, "created_at": c.created_at}
        if c.last_message
        else None
    )
    return {
        "meta": {"sender": sender, "channel": c.channel, "hmac_verified": False},
        "id": c.id,
        "messages": [message] if message else [],
        "account_id": c.account_id,
        "uuid": f"00000000-0000-4000-8000-{c.id:012d}",
        "additional_attributes": {},
        "agent_last_seen_at": 0,
        "assignee_last_seen_at": 0,
        "can_reply": True,
        "contact_last_seen_at": 0,
        "custom_attributes": {},
        "inbox_id": 1,
        "labels": [],
        "muted": False,
        "snoozed_until": None,
        "status": c.status,
        "created_at": c.created_at,
        "timestamp": c.created_at,
        "first_reply_created_at": 0,
        "unread_count": 1,
        "last_non_activity_message": message,
        "last_activity_at": c.created_at,
        "priority": None,
        "waiting_since": c.created_at,
        "sla_policy_id": None,
        **c.extra,
    }


def _json(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
