"""The one HTTP client every connector uses (DESIGN §3).

It owns what every desk needs alike: a session with auth attached, a timeout on every
call, retries with exponential backoff and jitter, the desk's `Retry-After` on 429,
pacing by the rate-limit headers so we rarely reach 429 at all, and errors that name
the setting to fix without ever carrying a credential.

Retry policy: GET and PUT are idempotent, so they are retried on 5xx, 429, timeouts
and connection errors. POST may create things (an outbound email, a timeline entry),
so it is retried only when the desk certainly did not act on it: a 429, or a
connection that failed before the request was sent.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.auth import AuthBase, HTTPBasicAuth

from connectors import fastjson
from connectors.errors import (
    AuthError,
    BadPayloadError,
    ConnectorError,
    NotFoundError,
    RetriesExhaustedError,
)

log = logging.getLogger("journeydesk.http")

USER_AGENT = "journeydesk/0.1"
PACE_RESERVE = 1
"""Stop and wait once a rate-limit budget is down to this many calls: other apps on the
account share the budget (Freshdesk counts every app's calls, DESIGN reference §2.8)."""
PACE_DEFAULT_WAIT = 60.0
"""Seconds to wait when a budget is spent but the desk gives no reset time: Zendesk's
`X-Rate-Limit-*` and Freshdesk's `X-RateLimit-*` budgets are per minute."""
MAX_BACKOFF = 30.0
"""Ceiling of one backoff wait (seconds), whatever the attempt number."""
MIN_SECRET_LENGTH = 6
"""Shorter auth parts (Freshdesk's dummy password "X") are not secrets and redacting
them would mangle every message."""
REDACTED = "[redacted]"

_SECRET_ATTRS = ("token", "api_key", "api_token", "access_token", "password", "username")
_ZENDESK_BUDGET = re.compile(r"remaining=(\d+)(?:.*?resets=(\d+))?")


class HttpStatusError(ConnectorError):
    """The desk refused a call with a status we do not retry (a 4xx other than
    401/403/404/429, or a 5xx on a POST, which may have been applied)."""

    def __init__(self, message: str, status: int, setting: str | None = None) -> None:
        super().__init__(message, setting)
        self.status = status


class AccessDeniedError(AuthError):
    """403: the credentials work but their role (or the plan) does not allow this call.
    Callers probing an optional endpoint catch this; a 401 stays a plain AuthError."""


class ResourceNotFoundError(NotFoundError):
    """A 404 for one record (a deleted ticket), the desk itself answering: the base URL
    is fine. Callers that look one record up catch this and treat it as absent."""


class _Retry(Exception):
    """Internal: one attempt failed in a retriable way; `wait` overrides the backoff."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class HttpClient:
    """A requests session bound to one desk, with retries, pacing and redacted errors.

    `desk` names the desk in messages ("Freshdesk"); `credentials_setting` and
    `domain_setting` are the config keys an admin fixes when the desk rejects the
    credentials or does not exist. `sleep` and `clock` are injectable so tests never
    wait. `secrets` adds strings to redact beyond those read from `auth`.
    """

    def __init__(
        self,
        base_url: str,
        auth: AuthBase | None,
        *,
        desk: str,
        credentials_setting: str,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        max_retry_after: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        domain_setting: str = "base_url",
        secrets: Iterable[str] = (),
        pace_default_wait: float = PACE_DEFAULT_WAIT,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.desk = desk
        self.credentials_setting = credentials_setting
        self.domain_setting = domain_setting
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_retry_after = max_retry_after
        self.pace_default_wait = pace_default_wait
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._secrets = _collect_secrets(auth, secrets, base_url)
        self._not_before = 0.0  # clock time before which the rate budget is spent
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})

    # -- public calls -------------------------------------------------------------------

    def get(
        self, path_or_url: str, params: dict | None = None, timeout: float | None = None
    ) -> requests.Response:
        """GET a path under the base URL, or an absolute `next` URL the desk gave us."""
        return self._request("GET", path_or_url, params=params, timeout=timeout)

    def get_json(
        self, path_or_url: str, params: dict | None = None, timeout: float | None = None
    ) -> Any:
        """GET and parse JSON; a non-JSON answer is a BadPayloadError."""
        return self._json(self.get(path_or_url, params=params, timeout=timeout))

    def get_json_page(
        self, path_or_url: str, params: dict | None = None, timeout: float | None = None
    ) -> tuple[Any, str | None]:
        """GET one page of a list: its parsed JSON and the `Link: <...>; rel="next"` URL
        (None on the last page). Pass that URL back as `path_or_url` for the next page."""
        response = self.get(path_or_url, params=params, timeout=timeout)
        next_url = response.links.get("next", {}).get("url")
        return self._json(response), next_url

    def post_json(
        self,
        path: str,
        body: Any,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        once: bool = False,
    ) -> Any:
        """POST a JSON body (with extra `headers`); returns the parsed answer (None when
        the desk sends none). `once`: no retry at all, not even of a 429 (the caller
        retries later, after checking what the desk did)."""
        extra = {"headers": dict(headers)} if headers else {}
        answer = self._request("POST", path, json=body, timeout=timeout, once=once, **extra)
        return self._json(answer, empty_ok=True)

    def put_json(
        self, path: str, body: Any, timeout: float | None = None, *, once: bool = False
    ) -> Any:
        """PUT a JSON body; returns the parsed answer (None when the desk sends none).
        `once`: no retry (a PUT that adds a comment is not idempotent)."""
        answer = self._request("PUT", path, json=body, timeout=timeout, once=once)
        return self._json(answer, empty_ok=True)

    def close(self) -> None:
        self.session.close()

    def redact(self, text: str) -> str:
        """`text` with every known credential replaced (for messages built elsewhere)."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    # -- the retry loop -----------------------------------------------------------------

    def _request(
        self, method: str, path_or_url: str, *, once: bool = False, **kwargs: Any
    ) -> requests.Response:
        url = self.url_for(path_or_url)
        where = f"{method} {self._describe(url)}"
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        last_reason, asked_wait = "", None
        retries = 0 if once else self.max_retries
        for attempt in range(retries + 1):
            if attempt:
                # The desk's own Retry-After, when it gave one, replaces our backoff.
                wait = asked_wait if asked_wait is not None else self._backoff(attempt)
                self._sleep_logged(wait, f"retrying {where} after {last_reason}")
            self._wait_for_budget()
            try:
                return self._attempt(method, url, where, **kwargs)
            except _Retry as retry:
                last_reason, asked_wait = retry.reason, retry.wait
        raise RetriesExhaustedError(
            self.redact(
                f"{self.desk} kept failing on {where} after {retries + 1} attempts "
                f"(last: {last_reason}); try again later"
            )
        )

    def _attempt(self, method: str, url: str, where: str, **kwargs: Any) -> requests.Response:
        """One request: returns a good response, raises _Retry or a ConnectorError."""
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise self._transport_error(method, where, exc) from exc
        if response.status_code != 429:  # on 429, Retry-After alone says how long to wait
            self._note_budget(response)
        if response.status_code < 400:
            self._check_redirect(response, where)
            return response
        raise self._status_error(method, where, response)

    def _transport_error(
        self, method: str, where: str, exc: requests.RequestException
    ) -> Exception:
        """Map a failure with no HTTP answer to _Retry or a final ConnectorError."""
        if _is_dns_failure(exc):
            host = urlsplit(self.base_url).hostname or self.base_url
            return NotFoundError(
                f"{self.desk}: the host {host} does not resolve (DNS); check {self.domain_setting}",
                setting=self.domain_setting,
            )
        kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
        reason = f"{kind}: {type(exc).__name__}"
        if method != "POST" or _failed_before_sending(exc):
            return _Retry(reason)
        return ConnectorError(
            self.redact(
                f"{self.desk}: {where} {kind} after the request was sent; not retried "
                "because the desk may already have acted on it"
            )
        )

    def _status_error(self, method: str, where: str, response: requests.Response) -> Exception:
        status = response.status_code
        if status in (401, 403):
            error = AccessDeniedError if status == 403 else AuthError
            return error(
                f"{self.desk} rejected the credentials (HTTP {status} on {where}); "
                f"check {self.credentials_setting} and that the user's role allows this",
                setting=self.credentials_setting,
            )
        if status == 429:
            return _Retry("HTTP 429 rate limited", wait=self._retry_after(response))
        if status >= 500 and method != "POST":
            return _Retry(f"HTTP {status}")
        if status == 404:
            return self._not_found(where, response)
        detail = self.redact(_error_detail(response))
        if status >= 500:  # only a POST gets here
            detail = f"{detail}; not retried: the desk may already have acted on it".lstrip("; ")
        return HttpStatusError(
            f"{self.desk} answered HTTP {status} on {where}" + (f": {detail}" if detail else ""),
            status=status,
        )

    def _not_found(self, where: str, response: requests.Response) -> NotFoundError:
        """A JSON or empty 404 is the API saying one record is absent; a page of HTML
        means we are not talking to the desk's API at all (wrong domain, proxy)."""
        if _looks_like_json(response) or not response.content.strip():
            return ResourceNotFoundError(f"{self.desk}: {where} not found (HTTP 404)")
        return NotFoundError(
            f"{self.desk} has no API at {self._describe(self.base_url)} (HTTP 404 on {where}); "
            f"check {self.domain_setting}",
            setting=self.domain_setting,
        )

    def _check_redirect(self, response: requests.Response, where: str) -> None:
        """Desks redirect unknown account names to their marketing site: a GET that ends
        on another host is a wrong domain, not a payload problem."""
        if not response.history:
            return
        start, end = urlsplit(response.history[0].url), urlsplit(response.url)
        if start.hostname != end.hostname:
            raise NotFoundError(
                f"{self.desk}: {where} was redirected to {end.hostname}; "
                f"check {self.domain_setting}",
                setting=self.domain_setting,
            )

    # -- waits --------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter (half fixed, half random) so clients that
        failed together do not retry together."""
        ceiling = min(MAX_BACKOFF, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _retry_after(self, response: requests.Response) -> float | None:
        seconds = _parse_retry_after(response.headers.get("Retry-After"))
        if seconds is None:
            return None  # no usable header: fall back to our own backoff
        return min(seconds, self.max_retry_after)

    def _note_budget(self, response: requests.Response) -> None:
        """Remember when the rate budget the headers report will be spent."""
        wait = _budget_wait(response.headers, self.pace_default_wait)
        if wait is not None:
            wait = min(wait, self.max_retry_after)
            self._not_before = max(self._not_before, self._clock() + wait)

    def _wait_for_budget(self) -> None:
        # Waiting lazily, before the next call, costs nothing when the sync has ended.
        remaining = self._not_before - self._clock()
        if remaining > 0:
            self._sleep_logged(remaining, f"{self.desk} rate budget spent", level=logging.INFO)
        self._not_before = 0.0

    def _sleep_logged(self, seconds: float, why: str, level: int = logging.WARNING) -> None:
        log.log(level, "%s; waiting %.1f s", self.redact(why), seconds)
        self._sleep(seconds)

    # -- urls and payloads ----------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for a path, or for a `next` URL the desk gave us.

        A URL on another host is re-rooted on our base: behind a proxy or a test server
        the desk still writes its own hostname in `link` headers, and credentials must
        only ever go to the configured base.
        """
        if not path_or_url.startswith(("http://", "https://")):
            return urljoin(self.base_url + "/", path_or_url.lstrip("/"))
        parts, base = urlsplit(path_or_url), urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
            return path_or_url
        path = parts.path
        if base.path and not path.startswith(base.path.rstrip("/") + "/"):
            path = base.path.rstrip("/") + path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, ""))

    def _describe(self, url: str) -> str:
        """URL for messages: no userinfo, no query (queries can carry tokens)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return self.redact(urlunsplit((parts.scheme, host, parts.path, "", "")))

    def _json(self, response: requests.Response, empty_ok: bool = False) -> Any:
        if empty_ok and not response.content.strip():
            return None
        try:
            return fastjson.loads(response.content)
        except ValueError:
            where = f"{response.request.method} {self._describe(response.url)}"
            kind = response.headers.get("Content-Type", "no content type")
            raise BadPayloadError(
                f"{self.desk} answered {where} with something that is not JSON ({kind})"
            ) from None


# -- helpers (pure) -------------------------------------------------------------------------


def _collect_secrets(auth: AuthBase | None, extra: Iterable[str], base_url: str) -> tuple[str, ...]:
    """Every string that would give away a credential if it showed up in a message."""
    found: list[str] = [s for s in extra if s]
    if auth is not None:
        found += [v for a in _SECRET_ATTRS if isinstance(v := getattr(auth, a, None), str)]
    if isinstance(auth, HTTPBasicAuth) and isinstance(auth.username, str):
        pair = f"{auth.username}:{auth.password}".encode()
        found.append(base64.b64encode(pair).decode())  # the Authorization header value
    parts = urlsplit(base_url)
    found += [p for p in (parts.username, parts.password) if p]
    # Longest first, so a secret containing another is replaced whole.
    unique = {s for s in found if len(s) >= MIN_SECRET_LENGTH}
    return tuple(sorted(unique, key=len, reverse=True))


def _budget_wait(headers: Mapping[str, str], default: float) -> float | None:
    """Seconds to wait before the next call if some budget is down to the reserve.

    Zendesk: `X-Rate-Limit-Remaining`, `ratelimit-remaining` + `ratelimit-reset`, and
    `Zendesk-RateLimit-<endpoint>: total=10; remaining=9; resets=41`.
    Freshdesk: `X-RateLimit-Remaining` (no reset: the budget is per minute).
    """
    budgets: list[tuple[int, float | None]] = []
    for name in ("X-Rate-Limit-Remaining", "X-RateLimit-Remaining"):
        if (remaining := _to_int(headers.get(name))) is not None:
            budgets.append((remaining, None))
    if (remaining := _to_int(headers.get("ratelimit-remaining"))) is not None:
        budgets.append((remaining, _to_float(headers.get("ratelimit-reset"))))
    for name, value in headers.items():
        if name.lower().startswith("zendesk-ratelimit-") and (m := _ZENDESK_BUDGET.search(value)):
            budgets.append((int(m.group(1)), _to_float(m.group(2))))
    spent = [reset for remaining, reset in budgets if remaining <= PACE_RESERVE]
    if not spent:
        return None
    # A header that says when its budget resets is more precise than our default.
    known = [max(reset, 0.0) for reset in spent if reset is not None]
    return max(known) if known else default


def _parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date (RFC 9110 allows both)."""
    if not value:
        return None
    if (seconds := _to_float(value)) is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _to_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _to_float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _causes(exc: BaseException) -> Iterable[BaseException]:
    """The exception and what it wraps (requests nests urllib3's errors in args)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 10:
        current = todo.pop()
        seen.append(current)
        todo += [a for a in current.args if isinstance(a, BaseException)]
        for nested in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(nested, BaseException) and nested not in seen:
                todo.append(nested)
    return seen


def _is_dns_failure(exc: BaseException) -> bool:
    return any(isinstance(e, urllib3.exceptions.NameResolutionError) for e in _causes(exc))


def _failed_before_sending(exc: BaseException) -> bool:
    """True when no byte of the request reached the desk (safe to retry a POST)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in _causes(exc))


def _looks_like_json(response: requests.Response) -> bool:
    return "json" in response.headers.get("Content-Type", "").lower()


def _error_detail(response: requests.Response, limit: int = 300) -> str:
    """A short, human-readable reason from an error body (desks explain 400s there)."""
    try:
        payload = response.json()
    except ValueError:
        return ""  # HTML error pages say nothing useful and are long
    if isinstance(payload, dict):
        parts = [str(payload[k]) for k in ("description", "error", "message") if payload.get(k)]
        if errors := payload.get("errors"):
            parts.append(str(errors))
        text = "; ".join(parts) or str(payload)
    else:
        text = str(payload)
    return text[:limit]
