"""GET /sidebar/<source>/<ticket_id>: the journey page shown in the desk's iframe.

One page for every desk: the generic signed-token page (`?token=`, Freshdesk, scripts), the
Chatwoot page (after its key and API check, in `desks.py`), and the Zendesk app, whose page
loads the journey as a fragment (`?fragment=1`) once the ZAF client has said which ticket is
open. All of them render `sidebar/_journey.html` from `build_ticket_journey`, the same payload
the JSON API returns.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, make_response, render_template, request

from plugin.clock import now_epoch
from plugin.intake.freshness import missing_ticket
from plugin.journey.reasons import value_word
from plugin.sidebar import OUTREACH_DAYS
from plugin.store.sync_state import last_successful_sync
from plugin.web.access import presented_token, require_agent
from plugin.web.context import db, state, ticket_journey_now
from plugin.web.i18n import Dates, ago, pick_language, translator

bp = Blueprint("sidebar", __name__)

JS_STRINGS = (
    "guard_no_links",
    "guard_ok_one",
    "guard_ok_many",
    "guard_clear_one",
    "guard_clear_many",
    "guard_error",
    "guard_strong",
    "guard_soft",
    "guard_instead",
    "search_empty",
    "search_read",
    "search_read_detail",
    "search_unread",
    "session_expired",
    "not_in_zendesk",
    "ticket_not_found",
    "load_error",
    "confirm_title",
    "confirm_live",
    "send_anyway",
    "edit_reply",
    "confirm_reject",
    "confirm_expired",
)
"""The UI strings sidebar.js renders itself (warnings, search results, the save prompt)."""


@bp.get("/sidebar/<source>/<ticket_id>")
def sidebar(source: str, ticket_id: str) -> Response:
    require_agent(source, ticket_id)
    return render_sidebar(
        source,
        ticket_id,
        token=presented_token(),
        desk="page",
        fragment=request.args.get("fragment") == "1",
    )


def render_sidebar(
    source: str,
    ticket_id: str,
    *,
    token: str | None,
    desk: str,
    fragment: bool = False,
    frame_ancestors: str | None = None,
    back: dict[str, str] | None = None,
) -> Response:
    """The sidebar page (or its journey fragment) of one ticket, for an authorised caller.
    `back` ({url, label}) is a link above it to the page the reader came from (the admin)."""
    app_state = state()
    lang = pick_language()
    journey, freshness = ticket_journey_now(source, ticket_id, lang)
    t = translator(lang)
    if journey is None:
        synced = last_successful_sync(db(), source)
        when = Dates(t, now_epoch()).moment(synced) if synced else None
        raise missing_ticket(source, ticket_id, freshness, last_sync=when)
    context = {
        "journey": journey,
        "t": t,
        "ago": ago,
        "dates": Dates(t, now_epoch()),
        "plan_name": lambda plan: value_word("plan", plan, lang),
        "lang": lang,
        "lookback_days": app_state.sidebar.lookback_days,
        "outreach_days": OUTREACH_DAYS,
        "js_strings": js_strings(t),
    }
    if fragment:
        return page_response(render_template("sidebar/fragment.html", **context))
    config = page_config(desk, source=source, ticket_id=ticket_id, token=token, lang=lang, t=t)
    html = render_template(
        "sidebar/page.html",
        **context,
        desk=desk,
        page_config=config,
        zaf_sdk_url=None,
        demo_open=app_state.config.demo_mode and token is None,
        back=back,
    )
    return page_response(html, frame_ancestors=frame_ancestors)


def js_strings(t: Any) -> dict[str, str]:
    return {key: t(key) for key in JS_STRINGS}


def page_config(
    desk: str, *, source: str, ticket_id: str | None, token: str | None, lang: str, t: Any
) -> dict[str, Any]:
    """What sidebar.js needs, embedded as JSON (never executed, autoescaped by `tojson`)."""
    return {
        "desk": desk,
        "source": source,
        "ticket_id": ticket_id,
        "token": token,
        "lang": lang,
        "api": request.script_root + "/api/v1",
        "strings": js_strings(t),
    }


def page_response(
    html: str, *, frame_ancestors: str | None = None, script_src: str = ""
) -> Response:
    """A sidebar page with the headers that keep its agent token and data where they belong.

    - CSP: scripts only from us (and the Zendesk SDK's CDN where asked), no inline script, so
      an injected title could not run even if escaping failed; `frame-ancestors` when the
      desk's origin is known (Zendesk, Chatwoot). Freshdesk's app origin is not documented,
      so the generic page does not restrict framing: it is read-only and token-gated.
    - no caching and no referrer: the page (and sometimes its URL) carries an agent token.
    """
    policy = [
        "default-src 'none'",
        f"script-src 'self' {script_src}".strip(),
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    if frame_ancestors:
        policy.append(f"frame-ancestors {frame_ancestors}")
    response = make_response(html)
    response.headers["Content-Security-Policy"] = "; ".join(policy)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
