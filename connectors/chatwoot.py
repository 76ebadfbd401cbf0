"""Chatwoot: confirm a dashboard-app conversation and its contact through the API (DESIGN §5).

Chatwoot's dashboard apps are unauthenticated iframes and Chatwoot signs nothing, so the
journeydesk server checks every sidebar request here before showing anything: the
conversation must exist in the configured account and its contact must be the one the app
named. Facts: /work/shared/reference/helpdesk-apis.md §3 and Chatwoot's
`app/views/api/v1/conversations/partials/_conversation.json.jbuilder`:

- `GET /api/v1/accounts/{account_id}/conversations/{id}` with the access-token header
  (see `ApiAccessToken`) answers the conversation: `id` (the display id the dashboard
  shows and sends), `status` (open | resolved | pending | snoozed), `created_at` (Unix
  seconds), `meta.sender` (the contact: `id`, `name`, `email`, `identifier`, ...), `meta.channel`
  and `last_non_activity_message` (`content`).
- A conversation of another account, or none, is a 404.

This connector is deliberately minimal: it pulls no streams (Chatwoot keeps no per-contact
reading history, §3.4; reading comes from the portal snippet), it writes no ticket fields, and
its only jobs are `confirm_conversation` and the journey note (`post_note`: a private
message, `POST .../conversations/{id}/messages` with `private: true`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from requests import PreparedRequest
from requests.auth import AuthBase

from connectors.errors import FeatureUnavailableError, NotFoundError
from connectors.http import AccessDeniedError, HttpClient
from connectors.records import Batch, Customer, CustomerRef, Note, Ticket

STATUSES = {"open": "open", "pending": "pending", "snoozed": "hold", "resolved": "solved"}
"""Chatwoot conversation status → the ticket status the store uses."""
CHANNELS = {
    "Channel::WebWidget": "chat",
    "Channel::Email": "email",
    "Channel::Api": "api",
    "Channel::Whatsapp": "whatsapp",
    "Channel::Sms": "sms",
    "Channel::TwilioSms": "sms",
    "Channel::FacebookPage": "facebook",
    "Channel::Telegram": "telegram",
    "Channel::Line": "line",
    "Channel::Instagram": "instagram",
}
SUBJECT_CHARS = 120
NOTE_PAGES = 50
"""Pages of messages `has_note` reads at most (the note is among a conversation's first)."""
CONFIRM_TIMEOUT = 5.0
"""Seconds per call: an agent is waiting for the sidebar, so fail fast rather than retry long."""


class ApiAccessToken(AuthBase):
    """Chatwoot's access-token header (the attribute name lets HttpClient redact it).

    Sent as `Api-Access-Token`, the hyphenated spelling of the documented `api_access_token`:
    Chatwoot reads `request.headers[:HTTP_API_ACCESS_TOKEN]` (Api::BaseController), which
    both spellings become in Rack, but proxies and servers commonly drop header names with
    underscores (nginx without `underscores_in_headers on`, gunicorn, werkzeug).
    """

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Api-Access-Token"] = self.token
        return request


class ChatwootConnector:
    """One Chatwoot account, seen through an agent's (or bot's) API access token."""

    def __init__(
        self,
        name: str,
        base_url: str,
        account_id: int,
        token: str,
        *,
        http: HttpClient | None = None,
        timeout: float = CONFIRM_TIMEOUT,
        max_retries: int = 1,
    ) -> None:
        self.name = name
        self.account_id = int(account_id)
        self.http = http or HttpClient(
            base_url,
            ApiAccessToken(token),
            desk="Chatwoot",
            credentials_setting=f"connectors.{name}.token_env",
            timeout=timeout,
            max_retries=max_retries,
        )

    def confirm_conversation(
        self, conversation_id: str, contact_id: str
    ) -> tuple[Ticket, Customer] | None:
        """The conversation as a ticket and its contact, if it is in this account and its
        contact is `contact_id`; None otherwise (the caller does not say which check failed).

        Raises AuthError (a bad token: 401) or ConnectorError (Chatwoot unreachable).
        """
        if not (conversation_id.isdigit() and contact_id.isdigit()):
            return None
        try:
            found = self.http.get_json(
                f"/api/v1/accounts/{self.account_id}/conversations/{conversation_id}"
            )
        except (NotFoundError, AccessDeniedError):
            # absent from this account, or in an inbox the token's user cannot see
            return None
        return _parse(found, conversation_id, contact_id)

    def fetch_ticket(self, ticket_id: str) -> tuple[Ticket, Customer | None] | None:
        """A conversation by id, whoever its contact (webhooks, on-demand freshness)."""
        try:
            found = self.http.get_json(
                f"/api/v1/accounts/{self.account_id}/conversations/{ticket_id}"
            )
        except NotFoundError:
            return None
        sender = _sender(found)
        return _parse(found, ticket_id, str(sender.get("id"))) if sender else None

    # -- the rest of the connector protocol: nothing to pull, nothing to push -------------

    def customers(self, since: str | None) -> Iterator[Batch]:
        return iter(())

    def tickets(self, since: str | None) -> Iterator[Batch]:
        return iter(())

    def articles(self, since: str | None) -> Iterator[Batch]:
        return iter(())

    def touchpoints(self, since: str | None) -> Iterator[Batch]:
        return iter(())

    def customer_touchpoints(self, customer_source_id: str, since: str | None) -> Iterator[Batch]:
        return iter(())

    def update_ticket(
        self, ticket_id: str, priority: str | None = None, add_tags: tuple[str, ...] = ()
    ) -> None:
        raise FeatureUnavailableError("journeydesk does not write to Chatwoot conversations yet")

    def post_note(self, ticket_id: str, note: Note) -> None:
        """A private message (Create New Message: `content` in Chatwoot's Markdown,
        `message_type: outgoing`, `private: true`): agents see it, the contact never does.
        Sent once: a failure is the caller's to retry after `has_note`."""
        self.http.post_json(
            f"/api/v1/accounts/{self.account_id}/conversations/{int(ticket_id)}/messages",
            {"content": note.text, "message_type": "outgoing", "private": True},
            once=True,
        )

    def has_note(self, ticket_id: str, marker: str) -> bool:
        """Whether a message of the conversation carries `marker` (newest first, pages
        of older messages through `before`)."""
        path = f"/api/v1/accounts/{self.account_id}/conversations/{int(ticket_id)}/messages"
        params: dict = {}
        for _ in range(NOTE_PAGES):
            answer = self.http.get_json(path, params or None)
            messages = [m for m in _dict(answer).get("payload") or [] if isinstance(m, dict)]
            if any(marker in str(m.get("content") or "") for m in messages):
                return True
            ids = [m["id"] for m in messages if isinstance(m.get("id"), int)]
            if not ids:
                return False
            params = {"before": min(ids)}
        return False

    def send_outbound(
        self, customer: Customer, subject: str, body: str, *, key: str | None = None
    ) -> str:
        raise FeatureUnavailableError("journeydesk does not send through Chatwoot yet")

    def article_ref(self, url: str) -> str | None:
        return None  # Chatwoot names articles by slug; the reply guard matches those by URL


def _sender(found: object) -> dict:
    meta = found.get("meta") if isinstance(found, dict) else None
    sender = meta.get("sender") if isinstance(meta, dict) else None
    return sender if isinstance(sender, dict) else {}


def _parse(found: object, conversation_id: str, contact_id: str) -> tuple[Ticket, Customer] | None:
    """Check the answer names this conversation and contact, and turn it into records."""
    sender = _sender(found)
    if not isinstance(found, dict) or str(found.get("id")) != conversation_id:
        return None
    if str(sender.get("id")) != contact_id:
        return None
    customer = Customer(
        source_id=contact_id,
        email=_text(sender.get("email")),
        name=_text(sender.get("name")),
        external_id=_text(sender.get("identifier")),
    )
    created = _time(found.get("created_at")) or datetime.now(UTC)
    ticket = Ticket(
        id=conversation_id,
        requester=CustomerRef(
            source_id=contact_id, email=customer.email, external_id=customer.external_id
        ),
        subject=_subject(found, conversation_id),
        created_at=created,
        updated_at=_time(found.get("last_activity_at")) or created,
        status=STATUSES.get(str(found.get("status")), "open"),
        channel=CHANNELS.get(str(_dict(found.get("meta")).get("channel")), "chat"),
        priority=_text(found.get("priority")),
        group=_text(_dict(_dict(found.get("meta")).get("team")).get("name")),
    )
    return ticket, customer


def _subject(found: dict, conversation_id: str) -> str:
    message = _dict(found.get("last_non_activity_message"))
    content = _text(message.get("content"))
    if content:
        line = " ".join(content.split())
        return line if len(line) <= SUBJECT_CHARS else line[: SUBJECT_CHARS - 1] + "…"
    return f"Conversation #{conversation_id}"


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _time(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None
