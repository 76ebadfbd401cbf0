"""`/u/<token>`: the unsubscribe page of proactive emails (docs/outreach.md).

GET shows a confirm button and changes nothing (mail scanners follow links); POST
unsubscribes, whether from the page's form or a mail client's RFC 8058 one-click POST
(body `List-Unsubscribe=One-Click`); POST `/u/<token>/resubscribe` opts back in. The token
is the only credential (no session, no CSRF token: the signed link is the capability).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from plugin.clock import now_epoch
from plugin.outreach.unsubscribe import resubscribe, subscribed, unsubscribe
from plugin.web.context import db, state
from plugin.web.i18n import pick_language, translator

bp = Blueprint("unsubscribe", __name__)


def _page(token: str, email: str, is_subscribed: bool, done: str | None = None, status=200):
    lang = pick_language()
    html = render_template(
        "outreach/unsubscribe.html",
        token=token,
        email=email,
        subscribed=is_subscribed,
        done=done,
        lang=lang,
        t=translator(lang),
    )
    return html, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.get("/u/<token>")
def show(token: str):
    email, is_subscribed = subscribed(db(), state().config.secret, token)
    return _page(token, email, is_subscribed)


@bp.post("/u/<token>")
def opt_out(token: str):
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    how = "one-click (RFC 8058)" if one_click else "unsubscribe page"
    email = unsubscribe(db(), state().config.secret, token, how=how, now=now_epoch())
    return _page(token, email, False, done="unsubscribed")


@bp.post("/u/<token>/resubscribe")
def opt_in(token: str):
    email = resubscribe(db(), state().config.secret, token)
    return _page(token, email, True, done="resubscribed")
