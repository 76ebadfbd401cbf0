"""Who may see agent data: a valid signed agent token, or anyone in the open demo."""

from __future__ import annotations

from flask import request

from plugin.security import AgentClaims, TokenError, verify_agent_token
from plugin.web.context import state
from plugin.web.errors import ApiError

MESSAGES = {
    "missing": "This page needs a signed agent token; open it from the help desk app.",
    "expired": "The agent token has expired; reload the ticket to get a new one.",
}


def presented_token() -> str | None:
    header = request.environ.get("HTTP_AUTHORIZATION", "")  # = request.headers.get(…)
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.args.get("token") or None


def require_agent(source: str | None, ticket_id: str | None) -> AgentClaims | None:
    """Check the agent token for this ticket (or source); None means the open demo.

    `source=None` asks for a source-wide token of any source (customer journeys).

    Raises ApiError 401 for a missing, invalid or expired token, 403 for a token that
    belongs to another ticket.
    """
    app_state = state()
    token = presented_token()
    if app_state.config.demo_mode and token is None:
        return None
    try:
        claims = verify_agent_token(app_state.config.secret, token)
    except TokenError as exc:
        message = MESSAGES.get(exc.reason, "The agent token is not valid.")
        raise ApiError(401, f"token_{exc.reason}", message) from None
    if not claims.allows(source or claims.source, ticket_id):
        raise ApiError(403, "token_wrong_ticket", "This token was issued for another ticket.")
    return claims
