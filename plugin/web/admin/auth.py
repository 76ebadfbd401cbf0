"""Admin access: a password login, the session, CSRF on every form, a login rate limit.

Three modes, from the configuration:
- a password is set (`security.admin_password_env`): every page needs a login;
- no password, open demo: the admin is open and every page says so;
- no password anywhere else: every page refuses and names the variable to set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
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
from plugin.security import mint_csrf_token, verify_csrf_token
from plugin.web.admin import NAV, bp
from plugin.web.admin.formatting import HELPERS
from plugin.web.context import state

SESSION_SECONDS = 12 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 600
PUBLIC_ENDPOINTS = ("admin.login",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def access_mode(config: Config) -> str:
    """The access mode: "password", "open" (the demo without one) or "unconfigured"."""
    if config.admin_password:
        return "password"
    return "open" if config.demo_mode else "unconfigured"


@bp.before_request
def guard() -> Response | tuple | None:
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
    limiter = _limiter()
    who = request.remote_addr or "?"
    wait = limiter.retry_after(who)
    if wait:
        message = f"Too many failed attempts. Try again in {wait // 60 + 1} minutes."
        return render_template("admin/login.html", next=target, error=message), 429
    if not _password_matches(config, request.form.get("password", "")):
        limiter.failed(who)
        message = "That password is not right."
        return render_template("admin/login.html", next=target, error=message), 401
    limiter.succeeded(who)
    _start_session(config, request.form.get("name", "").strip()[:60] or "admin")
    return redirect(target)


@bp.post("/logout")
def logout():
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


def _signed_in_as(config: Config) -> str | None:
    admin = session.get("jd_admin")
    if not isinstance(admin, dict):
        return None
    fresh = time.time() - admin.get("at", 0) < SESSION_SECONDS
    # A changed password signs everyone out: the session names the password it was made with.
    same_password = hmac.compare_digest(str(admin.get("pw", "")), _fingerprint(config))
    return str(admin.get("name") or "admin") if fresh and same_password else None


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


class LoginLimiter:
    """At most MAX_FAILURES failed logins per address per window (per process)."""

    def __init__(
        self, max_failures: int = MAX_FAILURES, window: int = FAILURE_WINDOW_SECONDS
    ) -> None:
        self.max_failures, self.window = max_failures, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, who: str) -> int:
        """Seconds until `who` may try again; 0 when they may now."""
        now = time.monotonic()
        with self._lock:
            times = self._prune(who, now)
            if len(times) < self.max_failures:
                return 0
            return int(times[0] + self.window - now) + 1

    def failed(self, who: str) -> None:
        with self._lock:
            self._failures.setdefault(who, deque()).append(time.monotonic())
            if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, who: str) -> None:
        with self._lock:
            self._failures.pop(who, None)

    def _prune(self, who: str, now: float) -> deque[float]:
        times = self._failures.get(who, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times


def _limiter() -> LoginLimiter:
    return current_app.extensions.setdefault("journeydesk.admin_login", LoginLimiter())
