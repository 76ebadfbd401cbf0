"""How each help desk's sidebar app proves who it is (DESIGN §5), then gets the journey.

- Zendesk (signed URLs): Zendesk POSTs a JWT (form field `token`, RS256, the app's key) to
  `/zendesk/sidebar?origin=…&app_guid=…` on the first request only. We verify it and answer
  the page with a short-lived, source-wide agent token: the ticket id comes later from the ZAF
  client in the page. The page keeps `origin` and `app_guid` (its URL is the POST's), which
  `ZAFClient.init()` needs.
- Freshdesk: the app's server-side request template calls `POST /api/v1/desk-token/<source>`
  with the app secret (a secure iparam, never in the browser) and gets a ticket-scoped token.
- Chatwoot: dashboard apps are unauthenticated iframes. The app URL carries a per-install
  key; `/sidebar/chatwoot/<conversation>?key=…&contact=…` checks it (constant time), then asks
  Chatwoot's API that the conversation is in the account and belongs to that contact, and
  only then renders the journey.

Every failure is a 401/404 page (or JSON under /api) that shows no customer data.
"""

from __future__ import annotations

import logging
import re
import threading
import time

import jwt
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from connectors import fastjson
from connectors.chatwoot import ChatwootConnector
from connectors.errors import AuthError, ConnectorError
from connectors.records import Batch
from plugin.config import ConnectorConfig
from plugin.intake.sync import SyncReport, store_desk_batch
from plugin.security import (
    TokenError,
    key_matches,
    mint_agent_token,
    verify_zendesk_app_jwt,
)
from plugin.web.access import presented_token, require_agent
from plugin.web.context import db, state
from plugin.web.errors import ApiError
from plugin.web.i18n import pick_language, translator
from plugin.web.sidebar_page import page_config, page_response, render_sidebar

bp = Blueprint("desks", __name__)
log = logging.getLogger("journeydesk.desks")

ZAF_SDK_URL = "https://static.zdassets.com/zendesk_app_framework_sdk/2.0/zaf_sdk.min.js"
ZENDESK_TOKEN_TTL = 1800
"""Source-wide, so short; the sidebar asks the agent to reload the app after it (30 min)."""
DESK_TOKEN_TTL = 900
"""Ticket-scoped tokens for the Freshdesk app and the Chatwoot page (the app renews them)."""
CHATWOOT_CONFIRM_SECONDS = 30.0
"""How long a confirmed (key, conversation, contact) is trusted without asking Chatwoot again."""
_TICKET_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NOT_CONFIRMED = "No such conversation for this contact in the Chatwoot account."
_ZENDESK_MESSAGES = {
    "missing": "This page opens from the journeydesk app in Zendesk (a signed request).",
    "expired": "The signed request from Zendesk has expired; reload the ticket.",
    "bad_audience": "The Zendesk app installation does not match journeydesk's configuration "
    "(app_audience); the app may have been reinstalled.",
    "bad_issuer": "The signed request comes from another Zendesk account.",
}


# --- Zendesk ---------------------------------------------------------------------------------


@bp.route("/zendesk/sidebar", methods=["GET", "POST"])
def zendesk_sidebar() -> Response:
    if request.method != "POST":  # only Zendesk's signed POST opens the page
        raise ApiError(401, "token_missing", _ZENDESK_MESSAGES["missing"])
    signed = request.form.get("token")
    conf = _zendesk_connector(signed)
    claims = _verify_zendesk(conf, signed)
    token = mint_agent_token(
        state().config.secret,
        source=conf.name,
        ticket_id=None,
        agent=str(claims["sub"]) if claims.get("sub") is not None else None,
        ttl=ZENDESK_TOKEN_TTL,
    )
    lang = pick_language()
    t = translator(lang)
    config = page_config("zendesk", source=conf.name, ticket_id=None, token=token, lang=lang, t=t)
    config.update(origin=request.args.get("origin"), app_guid=request.args.get("app_guid"))
    html = render_template(
        "sidebar/page.html",
        journey=None,
        t=t,
        lang=lang,
        desk="zendesk",
        page_config=config,
        zaf_sdk_url=ZAF_SDK_URL,
        demo_open=False,
    )
    return page_response(
        html,
        frame_ancestors=f"https://{conf.get('subdomain')}.zendesk.com",
        script_src="https://static.zdassets.com",
    )


def _zendesk_connector(signed: str | None) -> ConnectorConfig:
    """The Zendesk connector whose account issued `signed` (read unverified, only to choose
    which key verifies it), or the only one with signed URLs set up."""
    ready = [
        c
        for c in state().config.connectors
        if c.type == "zendesk" and c.secrets.get("app_public_key_env") and c.get("app_audience")
    ]
    if not ready:
        raise ApiError(
            401,
            "zendesk_not_configured",
            "journeydesk is not set up for the Zendesk app yet: set app_public_key_env and "
            "app_audience in the Zendesk [[connectors]] entry.",
        )
    issuer = _unverified_claim(signed, "iss")
    for conf in ready:
        if issuer in zendesk_issuers(conf):
            return conf
    return ready[0]


def zendesk_issuers(conf: ConnectorConfig) -> tuple[str, ...]:
    """The account's name as a signed URL's `iss` may write it: the docs show the bare
    host; accounts have been seen sending it as a URL."""
    host = f"{conf.get('subdomain')}.zendesk.com"
    return (host, f"https://{host}", f"https://{host}/")


def _unverified_claim(signed: str | None, name: str) -> object:
    """A claim of a JWT read without checking it: only to choose a key, or to log."""
    try:
        value = jwt.decode(signed or "", options={"verify_signature": False}).get(name)
    except jwt.PyJWTError:
        return None
    return value[:200] if isinstance(value, str) else value


def _verify_zendesk(conf: ConnectorConfig, signed: str | None) -> dict:
    pem = conf.secrets["app_public_key_env"].reveal().replace("\\n", "\n").strip()
    try:
        return verify_zendesk_app_jwt(
            signed,
            public_key_pem=pem,
            audience=conf.get("app_audience"),
            issuer=zendesk_issuers(conf),
        )
    except TokenError as exc:
        _log_refusal(conf, signed, exc.reason)
        message = _ZENDESK_MESSAGES.get(exc.reason, "The signed request from Zendesk is not valid.")
        raise ApiError(401, f"zendesk_{exc.reason}", message) from None
    except ValueError:  # the configured PEM is not an RSA public key
        raise ApiError(
            401,
            "zendesk_not_configured",
            f"The Zendesk app public key ({conf.settings['app_public_key_env']}) is not an RSA "
            "public key in PEM form.",
        ) from None


def _log_refusal(conf: ConnectorConfig, signed: str | None, reason: str) -> None:
    """Say which claim refused a signed request, with what Zendesk sent and what was
    expected (claims are not secret), so an admin can fix app_audience or the subdomain."""
    log.warning(
        "Zendesk app: signed request refused (%s) for connectors.%s: iss %r (expected %s), "
        "aud %r (expected %r), exp %r",
        reason,
        conf.name,
        _unverified_claim(signed, "iss"),
        " or ".join(repr(i) for i in zendesk_issuers(conf)),
        _unverified_claim(signed, "aud"),
        conf.get("app_audience"),
        _unverified_claim(signed, "exp"),
    )


# --- Freshdesk -------------------------------------------------------------------------------


@bp.post("/api/v1/desk-token/<source>")
def desk_token(source: str) -> Response:
    """A ticket-scoped agent token for the Freshdesk app's server-side request template."""
    conf = state().config.connector(source)
    secret = conf.secrets.get("app_secret_env") if conf and conf.type == "freshdesk" else None
    header = request.headers.get("Authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else None
    # Compare even when there is nothing to compare with, so timing says nothing either way.
    matched = key_matches(secret or "\x00no-secret", presented) and secret is not None
    if not matched:
        raise ApiError(401, "app_secret_invalid", "The app secret is missing or not valid.")
    data = _json_body()
    ticket_id = data.get("ticket_id") if isinstance(data, dict) else None
    if isinstance(ticket_id, int) and not isinstance(ticket_id, bool):
        ticket_id = str(ticket_id)
    if not isinstance(ticket_id, str) or not _TICKET_ID.fullmatch(ticket_id):
        raise ApiError(400, "ticket_id_required", 'Send {"ticket_id": "<the ticket id>"}.')
    token = mint_agent_token(
        state().config.secret, source=source, ticket_id=ticket_id, ttl=DESK_TOKEN_TTL
    )
    response = jsonify({"token": token, "expires_in": DESK_TOKEN_TTL, "ticket_id": ticket_id})
    response.headers["Cache-Control"] = "no-store"
    return response


def _json_body() -> object:
    """The request's JSON, or None when it is not JSON (the shared parser: a body nested
    too deeply is refused like any other, never a RecursionError)."""
    try:
        return fastjson.loads(request.get_data(cache=False))
    except ValueError:
        return None


# --- Chatwoot --------------------------------------------------------------------------------


@bp.get("/chatwoot/app")
def chatwoot_app() -> Response:
    """The dashboard app page: it only hosts apps/chatwoot/dashboard.js (no customer data)."""
    conf = _chatwoot_for_key(request.args.get("key"))
    lang = pick_language()
    html = render_template("sidebar/chatwoot_app.html", t=translator(lang), lang=lang)
    return page_response(html, frame_ancestors=_origin(conf.get("base_url")))


@bp.get("/sidebar/chatwoot/<conversation_id>")
def chatwoot_sidebar(conversation_id: str) -> Response:
    if presented_token() is not None or (state().config.demo_mode and "key" not in request.args):
        # a signed agent token works here as on any sidebar (a source named "chatwoot")
        require_agent("chatwoot", conversation_id)
        return render_sidebar("chatwoot", conversation_id, token=presented_token(), desk="page")
    conf = _chatwoot_for_key(request.args.get("key"))
    contact = request.args.get("contact", "")
    if not _is_confirmed(conf, conversation_id, contact):
        raise ApiError(404, "conversation_not_found", _NOT_CONFIRMED)
    token = mint_agent_token(
        state().config.secret, source=conf.name, ticket_id=conversation_id, ttl=DESK_TOKEN_TTL
    )
    return render_sidebar(
        conf.name,
        conversation_id,
        token=token,
        desk="chatwoot",
        frame_ancestors=f"'self' {_origin(conf.get('base_url'))}",
    )


def _chatwoot_for_key(key: str | None) -> ConnectorConfig:
    """The Chatwoot connector whose dashboard-app key is `key` (every key compared)."""
    found = None
    for conf in state().config.connectors:
        secret = conf.secrets.get("app_key_env") if conf.type == "chatwoot" else None
        if secret is not None and key_matches(secret, key):
            found = conf
    if found is None:
        raise ApiError(401, "app_key_invalid", "This dashboard app URL has no valid key.")
    return found


def _is_confirmed(conf: ConnectorConfig, conversation_id: str, contact: str) -> bool:
    """Ask Chatwoot (or a confirmation from the last few seconds) and store what it says."""
    cache_key = (conf.name, conf.get("base_url"), conf.get("account_id"), conversation_id, contact)
    confirmations = chatwoot_confirmations()
    if confirmations.confirmed(cache_key):
        return True
    connector = ChatwootConnector(
        conf.name,
        conf.get("base_url"),
        conf.get("account_id"),
        conf.secrets["token_env"].reveal(),
    )
    try:
        found = connector.confirm_conversation(conversation_id, contact)
    except AuthError:
        raise ApiError(
            502,
            "chatwoot_auth",
            f"Chatwoot refused journeydesk's API token; check connectors.{conf.name}.token_env.",
        ) from None
    except ConnectorError:
        raise ApiError(502, "chatwoot_unreachable", "Chatwoot could not be reached.") from None
    finally:
        connector.http.close()
    if found is None:
        return False
    ticket, customer = found
    batch = Batch("tickets", [customer, ticket], None)
    store_desk_batch(db(), conf.name, batch, SyncReport(conf.name))
    confirmations.remember(cache_key, CHATWOOT_CONFIRM_SECONDS)
    return True


class ChatwootConfirmations:
    """The (connector, conversation, contact) triples Chatwoot confirmed lately, each until
    when it is trusted: one per app (`chatwoot_confirmations`), shared by its threads."""

    def __init__(self) -> None:
        self._until: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def confirmed(self, key: tuple) -> bool:
        with self._lock:
            return self._until.get(key, 0.0) > time.monotonic()

    def remember(self, key: tuple, seconds: float) -> None:
        with self._lock:
            self._until[key] = time.monotonic() + seconds

    def clear(self) -> None:
        with self._lock:
            self._until.clear()


def chatwoot_confirmations(app: Flask | None = None) -> ChatwootConfirmations:
    """This app's confirmations (the current app's unless `app` is given)."""
    extensions = (app or current_app).extensions
    return extensions.setdefault("journeydesk.chatwoot_confirmed", ChatwootConfirmations())


def _origin(url: str) -> str:
    match = re.match(r"https?://[^/?#]+", url or "", re.IGNORECASE)
    return match.group(0).lower() if match else "'none'"
