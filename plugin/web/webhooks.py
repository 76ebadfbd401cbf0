"""POST /webhooks/<source>: a desk says a ticket was created or updated; fetch it now.

Bodies (DESIGN §4): `{"ticket_id": "123"}` — what docs/connectors.md tells admins to
paste into a Zendesk trigger or a Freshdesk automation — or Zendesk's event shape
`{"type": "zen:event-type:ticket.created", "detail": {"id": "123", ...}}`.

The signature is checked on the raw body before anything is parsed: Zendesk's own
headers for Zendesk connectors, our `X-Journeydesk-Signature` for every other desk,
both keyed with the connector's `webhook_secret_env`. Then the ticket, its requester
and the requester's reading history are fetched and stored (`plugin.intake.freshness`, the same
fetch an agent opening the ticket triggers) and the customer's journey recomputed.
The answer comes within a short budget: 200 when it is all stored, 202 when the desk
is slow and the fetch finishes in the background.

A signed delivery is remembered (in the store: every worker sees it) for as long as its
signature verifies; a replay of it is answered 200 `"duplicate"` without fetching again.
A delivery whose fetch failed is forgotten, so the desk's retry does the work.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request

from connectors import fastjson
from connectors.errors import ConnectorError
from plugin.config import ConnectorConfig
from plugin.intake.freshness import refresh
from plugin.security import (
    Secret,
    TokenError,
    delivery_fingerprint,
    verify_generic_webhook,
    verify_zendesk_webhook,
)
from plugin.store.webhook_deliveries import claim_delivery, release_delivery
from plugin.web.context import db, state
from plugin.web.errors import ApiError

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

MAX_BODY_BYTES = 64 * 1024
"""A trigger's body is a few hundred bytes; Zendesk's event payloads a few kilobytes."""
BUDGET_SECONDS = 3.0
"""How long the desk's webhook call waits for our fetch (Zendesk gives up after 12 s)."""
REPLAY_MEMORY_SECONDS = 2 * 300
"""The verifiers accept a timestamp up to 300 s either side of now, so one delivery
verifies for at most 600 s from when it is first seen: remember it that long."""
TICKET_EVENT_PREFIX = "zen:event-type:ticket."
_TICKET_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SIGNATURE_MESSAGES = {
    "missing": "The webhook carries no signature headers.",
    "malformed": "The webhook signature headers are malformed.",
    "bad_signature": "The webhook signature does not match: check the signing secret.",
    "stale": "The webhook timestamp is too old or in the future (a replay, or a wrong clock).",
}


@bp.post("/<source>")
def receive(source: str):
    app_state = state()
    conf = app_state.config.connector(source)
    if conf is None:
        raise ApiError(404, "unknown_source", f"No connector named {source!r} takes webhooks.")
    secret = conf.secrets.get("webhook_secret_env")
    if not secret:
        raise ApiError(
            403,
            "webhooks_not_configured",
            f"Webhooks are off for {source}: set webhook_secret_env on its [[connectors]] entry.",
        )
    body = _raw_body()
    delivery = delivery_fingerprint(_verify(conf, secret, body), body)
    ticket_id = ticket_id_from(_parse(body))
    if ticket_id is None:
        return jsonify({"status": "ignored", "reason": "not a ticket event"}), 200
    answer: dict[str, Any] = {"source": source, "ticket_id": ticket_id}
    if not claim_delivery(db(), source, delivery, REPLAY_MEMORY_SECONDS):
        return jsonify(answer | {"status": "duplicate"}), 200
    try:
        return _fetch(source, ticket_id, answer)
    except ApiError:
        release_delivery(db(), source, delivery)  # nothing stored: a retry must redo it
        raise


def _fetch(source: str, ticket_id: str, answer: dict[str, Any]):
    """Fetch and store the ticket and its requester's history; the webhook's answer."""
    app_state = state()
    outcome = refresh(
        app_state.config,
        app_state.model,
        source,
        ticket_id,
        fetches=app_state.fetches,
        budget=BUDGET_SECONDS,
    )
    if not outcome.done:
        return jsonify(answer | {"status": "accepted"}), 202
    if isinstance(outcome.error, ConnectorError):
        raise ApiError(502, "desk_error", str(outcome.error))
    if outcome.error is not None:
        raise ApiError(503, "fetch_failed", "The ticket could not be stored; the sync will retry.")
    result = outcome.result
    if not result.found:
        return jsonify(answer | {"status": "ticket_not_found"}), 200
    return jsonify(
        answer
        | {
            "status": "fetched",
            "customer_id": str(result.customer_id) if result.customer_id else None,
            "history": result.history,
            "history_records": result.events,
        }
    ), 200


def ticket_id_from(data: Any) -> str | None:
    """The ticket id a webhook body names; None for a non-ticket Zendesk event.

    Raises ApiError 400 for a body that names no usable ticket.
    """
    if not isinstance(data, dict):
        raise _malformed("the body must be a JSON object")
    if "ticket_id" in data:
        return _valid_id(data["ticket_id"])
    kind = data.get("type")
    if not isinstance(kind, str):
        raise _malformed('give {"ticket_id": "<id>"} or a Zendesk ticket event')
    if not kind.startswith(TICKET_EVENT_PREFIX):
        return None
    detail = data.get("detail")
    if not isinstance(detail, dict) or "id" not in detail:
        raise _malformed("a Zendesk ticket event needs detail.id")
    return _valid_id(detail["id"])


def _raw_body() -> bytes:
    """The body exactly as sent (signatures cover these bytes), size-checked first."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"Webhook bodies are limited to {MAX_BODY_BYTES} B.")
    body = request.get_data(cache=True)
    if len(body) > MAX_BODY_BYTES:  # chunked bodies carry no Content-Length
        raise ApiError(413, "body_too_large", f"Webhook bodies are limited to {MAX_BODY_BYTES} B.")
    return body


def _verify(conf: ConnectorConfig, secret: Secret, body: bytes) -> str:
    """Check the signature; return the signed timestamp (a delivery's identity with the body)."""
    headers = request.headers
    try:
        if conf.type == "zendesk":
            return verify_zendesk_webhook(
                secret,
                body,
                headers.get("X-Zendesk-Webhook-Signature"),
                headers.get("X-Zendesk-Webhook-Signature-Timestamp"),
            )
        return verify_generic_webhook(secret, body, headers.get("X-Journeydesk-Signature"))
    except TokenError as exc:
        message = SIGNATURE_MESSAGES.get(exc.reason, "The webhook signature is not valid.")
        raise ApiError(401, f"signature_{exc.reason}", message) from None


def _parse(body: bytes) -> Any:
    try:
        return fastjson.loads(body)  # the shared parser: never RecursionError
    except (UnicodeDecodeError, ValueError):
        raise _malformed("the body is not JSON") from None


def _valid_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _malformed("the ticket id must be a string or a number")
    text = str(value).strip()
    if not _TICKET_ID.fullmatch(text):
        raise _malformed("the ticket id must be 1-64 letters, digits, - or _")
    return text


def _malformed(why: str) -> ApiError:
    return ApiError(400, "malformed_body", f"Webhook body: {why}.")
