"""POST /api/v1/events: the portal snippet's ingest API (DESIGN §3-§5).

Thin: authenticate the ingest key, enforce its origins (CORS), its rate limit and the size
limits, then hand the events to `plugin.intake.ingest`. What is checked, in order:

1. the key — `Authorization: Bearer <key>`, or `?key=<key>` for `navigator.sendBeacon`,
   which cannot set headers (ingest keys are public anyway: they sit in the page source);
2. the `Origin` — a browser request from an origin the key does not list gets a 403 and
   no CORS headers; requests without an `Origin` (server-side senders) pass;
3. the key's token bucket (`rate_limit_per_minute`) → 429 with `Retry-After`;
4. the body: at most 1 MB (413) and 1000 events (413), JSON whatever the Content-Type
   (sendBeacon sends text/plain so that no preflight is needed).

A preflight (OPTIONS) carries no key, so it is answered for any origin some key lists;
the POST itself is then held to its own key's list.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from connectors import fastjson
from plugin.config import Config, IngestKeyConfig
from plugin.intake.connector_factory import make_connector
from plugin.intake.identity import identity_rules, normalise_origin
from plugin.intake.ingest import IngestTarget, parse_events, store_events
from plugin.security import find_key
from plugin.web.context import db, state
from plugin.web.errors import ApiError, error_response

bp = Blueprint("events", __name__, url_prefix="/api/v1")

MAX_BODY_BYTES = 1_000_000
MAX_EVENTS = 1000
PREFLIGHT_MAX_AGE = 600


# --- per-app runtime state -------------------------------------------------------------


class TokenBucket:
    """`rate` requests a minute, with bursts up to `rate`. Per process (see docs/portal.md)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 when a request may pass, else the seconds until one may."""
        if self.capacity <= 0:  # 0 turns the limit off
            return 0.0
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.refill


@dataclass
class IngestRuntime:
    """What the endpoint keeps between requests: buckets, targets, origins."""

    keys: dict[str, IngestKeyConfig]
    targets: dict[str, IngestTarget]
    buckets: dict[str, TokenBucket]
    origins: dict[str, frozenset[str]]
    any_origin: frozenset[str] = field(default_factory=frozenset)


_runtime_lock = threading.Lock()


def runtime() -> IngestRuntime:
    """Built once per app, on the first ingest request."""
    with _runtime_lock:
        found = current_app.extensions.get("journeydesk.ingest")
        if found is None:
            found = build_runtime(state().config)
            current_app.extensions["journeydesk.ingest"] = found
        return found


def build_runtime(config: Config) -> IngestRuntime:
    keys = {k.name: k for k in config.ingest_keys}
    origins = {
        name: frozenset(normalise_origin(o) for o in k.allowed_origins) for name, k in keys.items()
    }
    return IngestRuntime(
        keys=keys,
        targets={name: _target(config, k) for name, k in keys.items()},
        buckets={name: TokenBucket(k.rate_limit_per_minute) for name, k in keys.items()},
        origins=origins,
        any_origin=frozenset().union(*origins.values()),
    )


def _target(config: Config, key: IngestKeyConfig) -> IngestTarget:
    conf = config.connector(key.source)
    connector = make_connector(config, conf)
    return IngestTarget(
        source=f"portal:{key.name}",
        article_source=key.source,
        article_ref=connector.article_ref,
        channel="portal",
        identity=identity_rules(key, desk_type=conf.type),
    )


# --- the endpoint ----------------------------------------------------------------------


@bp.after_request
def _cors_headers(response: Response) -> Response:
    origin = g.get("cors_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers.add("Vary", "Origin")
    return response


@bp.route("/events", methods=["OPTIONS"])
def preflight() -> Response:
    origin = request.headers.get("Origin")
    if not origin or normalise_origin(origin) not in runtime().any_origin:
        raise ApiError(403, "origin_not_allowed", "This origin may not send events.")
    g.cors_origin = origin
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return response


@bp.post("/events")
def ingest_events():
    rt = runtime()
    origin = request.headers.get("Origin")
    if origin and normalise_origin(origin) in rt.any_origin:
        g.cors_origin = origin  # so the snippet can read a 401 too
    name = find_key(_presented_key(), {n: k.key for n, k in rt.keys.items()})
    if name is None:
        raise ApiError(401, "invalid_ingest_key", "Send a valid ingest key as Bearer token.")
    if origin and normalise_origin(origin) not in rt.origins[name]:
        g.pop("cors_origin", None)
        raise ApiError(403, "origin_not_allowed", f"{origin} is not allowed for this key.")
    wait = rt.buckets[name].take()
    if wait:
        return _too_many(wait)
    events = _events_from_body()
    batch = parse_events(enumerate(events), rt.targets[name])
    return jsonify(store_events(db(), rt.targets[name], batch).to_json())


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.args.get("key") or None


def _too_many(wait: float):
    response = error_response(429, "rate_limited", "Too many requests for this key; slow down.")
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _events_from_body() -> list[Any]:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise _too_large()
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise _too_large()
    try:
        data = fastjson.loads(body)
    except ValueError:  # also a body nested too deeply (fastjson.JsonError)
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise ApiError(400, "invalid_body", 'Send {"events": [...]}.')
    if len(events) > MAX_EVENTS:
        raise ApiError(
            413, "too_many_events", f"At most {MAX_EVENTS} events per request; split the batch."
        )
    return events


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"The body is larger than {MAX_BODY_BYTES:,} bytes.")
