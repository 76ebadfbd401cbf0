"""Admin access: a password login, the session, CSRF on every form, a login rate limit.

Sessions live in the store as well as in the signed cookie: logout deletes the stored one,
so a copied cookie is dead at once in every worker; a changed password ends every session
too (the cookie names the password it was made with). The rate limit is
:func:`login_bucket`'s.

Three modes, from the configuration:
- a password is set (`security.admin_password_env`): every page needs a login;
- no password, open demo: the admin is open and every page says so;
- no password anywhere else: every page refuses and names the variable to set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

from flask import (
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from plugin.config import Config
from plugin.security import (
    mint_csrf_token,
    mint_device_token,
    verify_csrf_token,
    verify_device_token,
)
from plugin.store.admin_sessions import (
    admin_session_alive,
    clear_login_failures,
    end_admin_session,
    recent_login_failures,
    record_login_failure,
    start_admin_session,
)
from plugin.web.admin import NAV, bp
from plugin.web.admin.formatting import HELPERS
from plugin.web.context import db, state

SESSION_SECONDS = 12 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 600
DEVICE_COOKIE = "jd_device"
DEVICE_SECONDS = 365 * 86_400
PUBLIC_ENDPOINTS = ("admin.login",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def access_mode(config: Config) -> str:
    """The access mode: "password", "open" (the demo without one) or "unconfigured"."""
    if config.admin_password:
        return "password"
    return "open" if config.demo_mode else "unconfigured"


@bp.before_request
def require_admin_login() -> Response | tuple | None:
    """Every admin request: the admin configured, a valid CSRF token on a form, signed in."""
    config = state().config
    mode = access_mode(config)
    if mode == "unconfigured":
        return render_template("admin/not_configured.html", config=config), 503
    if request.method not in SAFE_METHODS and not _csrf_ok(config):
        return _refused(403, "This form has expired. Go back, reload the page and try again.")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if mode == "open":
        g.admin_name = "demo"
        return None
    name = _signed_in_as(config)
    if name is None:
        if request.method in SAFE_METHODS:
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        return _refused(401, "Please sign in to the admin first.")
    g.admin_name = name
    return None


@bp.after_request
def no_store(response: Response) -> Response:
    # Admin pages hold customer data: never cached, never framed by another site.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


@bp.context_processor
def admin_context() -> dict:
    config = state().config
    return {
        "csrf_token": lambda: mint_csrf_token(config.secret, _session_id()),
        "admin_name": g.get("admin_name"),
        "access_mode": access_mode(config),
        "nav": NAV,
        "password_env": config.admin_password_env,
        **HELPERS,
    }


@bp.route("/login", methods=["GET", "POST"])
def login():
    config = state().config
    target = _safe_next(request.values.get("next"))
    if access_mode(config) == "open":
        return redirect(target)
    if request.method == "GET":
        return render_template("admin/login.html", next=target)
    bucket = login_bucket(config)
    wait = retry_after(bucket)
    if wait:
        message = f"Too many failed attempts. Try again in {wait // 60 + 1} minutes."
        return render_template("admin/login.html", next=target, error=message), 429
    if not _password_matches(config, request.form.get("password", "")):
        record_login_failure(db(), bucket, FAILURE_WINDOW_SECONDS)
        message = "That password is not right."
        return render_template("admin/login.html", next=target, error=message), 401
    clear_login_failures(db(), bucket)
    _start_session(config, request.form.get("name", "").strip()[:60] or "admin")
    return _remember_device(config, redirect(target))


@bp.post("/logout")
def logout():
    sid = session.get("jd_sid")
    if sid:
        end_admin_session(db(), sid)  # the cookie may have been copied: kill it server-side
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("admin.login"))


# --------------------------------------------------------------------------- session


def _session_id() -> str:
    """A random id per browser session; CSRF tokens are bound to it."""
    if "jd_sid" not in session:
        session["jd_sid"] = secrets.token_urlsafe(16)
    return session["jd_sid"]


def _csrf_ok(config: Config) -> bool:
    sid = session.get("jd_sid")
    return bool(sid) and verify_csrf_token(config.secret, sid, request.form.get("csrf_token"))


def _start_session(config: Config, name: str) -> None:
    # A fresh session (and CSRF id) at login: nothing set before it carries over.
    session.clear()
    session["jd_sid"] = secrets.token_urlsafe(16)
    session["jd_admin"] = {"name": name, "at": int(time.time()), "pw": _fingerprint(config)}
    start_admin_session(db(), session["jd_sid"], name, SESSION_SECONDS)


def admin_signed_in(config: Config) -> bool:
    """Does this request come from a signed-in admin (anyone, in the open demo)?"""
    mode = access_mode(config)
    return mode == "open" or (mode == "password" and _signed_in_as(config) is not None)


def _signed_in_as(config: Config) -> str | None:
    admin = session.get("jd_admin")
    if not isinstance(admin, dict):
        return None
    fresh = time.time() - admin.get("at", 0) < SESSION_SECONDS
    # A changed password signs everyone out: the session names the password it was made with.
    same_password = hmac.compare_digest(str(admin.get("pw", "")), _fingerprint(config))
    if not (fresh and same_password):
        return None
    # Logout (from this or a copied cookie) deleted the stored session: signed out everywhere.
    alive = admin_session_alive(db(), str(session.get("jd_sid", "")))
    return str(admin.get("name") or "admin") if alive else None


def _fingerprint(config: Config) -> str:
    password = config.admin_password.reveal() if config.admin_password else ""
    message = f"journeydesk/admin-session/v1|{password}".encode()
    return hmac.new(config.secret.reveal().encode(), message, hashlib.sha256).hexdigest()[:32]


def _password_matches(config: Config, presented: str) -> bool:
    if not config.admin_password:
        return False
    # Hash both sides first: equal lengths, so the comparison time tells nothing.
    expected = hashlib.sha256(config.admin_password.reveal().encode()).digest()
    return hmac.compare_digest(expected, hashlib.sha256(presented.encode()).digest())


def _safe_next(target: str | None) -> str:
    """Only admin paths of this site: a login link must not redirect anywhere else."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in target:
        return url_for("admin.dashboard")
    return target


def _refused(status: int, message: str) -> tuple:
    return render_template("admin/refused.html", status=status, message=message), status


# --------------------------------------------------------------------------- rate limit


def login_bucket(config: Config) -> str:
    """Whose failed logins this attempt counts with: its browser's, else its address's.

    A lockout per address alone lets one attacker behind a shared address (an office, a
    VPN, a carrier NAT) lock every admin out, right password or not. OWASP's answer
    ("Slow Down Online Guessing Attacks with Device Cookies", and the Authentication
    Cheat Sheet's warning about lockout as denial of service) is followed here: a
    browser that once signed in carries a signed device cookie, and its attempts count
    only against that cookie. So:

    - a guesser without a device cookie gets MAX_FAILURES tries per address per window,
      then 429 without the password being checked (nothing to learn from the answer);
    - an admin who signed in from this browser before still gets in with the right
      password while the address is locked, and has MAX_FAILURES tries of their own;
    - a stolen device cookie buys a guesser only its own MAX_FAILURES per window.

    What remains: a browser that never signed in, behind a locked address, waits out the
    window (FAILURE_WINDOW_SECONDS). Failures are counted in the store, so the limit holds
    across gunicorn workers.
    """
    device = verify_device_token(config.secret, request.cookies.get(DEVICE_COOKIE))
    return f"device:{device}" if device else f"ip:{request.remote_addr or '?'}"


def retry_after(bucket: str) -> int:
    """Seconds until `bucket` may try again; 0 when it may now."""
    failures = recent_login_failures(db(), bucket, FAILURE_WINDOW_SECONDS)
    if len(failures) < MAX_FAILURES:
        return 0
    return max(1, failures[-MAX_FAILURES] + FAILURE_WINDOW_SECONDS - int(time.time()) + 1)


def _remember_device(config: Config, response: Response) -> Response:
    """Give a browser that just signed in its device cookie (kept if it has a valid one)."""
    if verify_device_token(config.secret, request.cookies.get(DEVICE_COOKIE)) is None:
        response.set_cookie(
            DEVICE_COOKIE,
            mint_device_token(config.secret),
            max_age=DEVICE_SECONDS,
            path=url_for("admin.login"),
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response
