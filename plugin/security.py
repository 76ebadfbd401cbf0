"""Every signature journeydesk checks, as pure functions (no Flask, no database).

What is here, by caller:

- agent tokens (``journeydesk token``, desk apps' server-minted tokens) — :func:`mint_agent_token`,
  :func:`verify_agent_token`;
- Zendesk signed URLs (ZAF JWT, RS256) — :func:`verify_zendesk_app_jwt`;
- Zendesk Help Center JWTs (portal customer identity, JWKS) — :func:`verify_help_center_jwt`;
- webhooks — :func:`verify_zendesk_webhook`, and our own ``X-Journeydesk-Signature`` for desks
  without one — :func:`sign_generic_webhook`, :func:`verify_generic_webhook`;
- portal identity, unsubscribe links, CSRF, admin device cookies, static keys (ingest keys,
  per-install keys).

Every HMAC we define ourselves is *domain-separated*: its message starts with a purpose label
(``journeydesk/<purpose>/v1|``), so a MAC produced for one purpose is never a valid MAC for
another, even when an operator uses one secret for everything. Without that, an unsubscribe
link (which never expires and is mailed to customers) could be replayed as something else.
The labels start with a letter and the webhook messages we verify start with a digit (a
timestamp), so those cannot collide either.

Failures raise :class:`TokenError` carrying a short machine-readable ``reason`` that the web
layer turns into the JSON error code; ``bool`` checks (CSRF, customer HMAC, static keys) return
``False`` instead because their callers only ever need yes/no.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from connectors import fastjson

if TYPE_CHECKING:
    import jwt
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# PyJWT and cryptography (~45 ms to import) are imported by the functions that verify
# JWTs: commands such as `journeydesk import` never do.

__all__ = [
    "PURPOSE_LABELS",
    "AgentClaims",
    "Reason",
    "Secret",
    "SecretLike",
    "TokenError",
    "customer_hmac",
    "delivery_fingerprint",
    "find_key",
    "key_matches",
    "mint_agent_token",
    "mint_csrf_token",
    "mint_device_token",
    "mint_unsubscribe_token",
    "sign_generic_webhook",
    "verify_agent_token",
    "verify_csrf_token",
    "verify_customer_hmac",
    "verify_device_token",
    "verify_generic_webhook",
    "verify_help_center_jwt",
    "verify_unsubscribe_token",
    "verify_zendesk_app_jwt",
    "verify_zendesk_webhook",
]

Reason = Literal[
    "missing",
    "malformed",
    "bad_signature",
    "expired",
    "stale",
    "not_yet_valid",
    "bad_algorithm",
    "bad_audience",
    "bad_issuer",
    "missing_claim",
    "unknown_key",
]

# Purpose labels (see the module docstring). Each ends with "|", which no label contains
# elsewhere, so no label is a prefix of another and the message spaces are disjoint.
_AGENT = b"journeydesk/agent-token/v1|"
_UNSUBSCRIBE = b"journeydesk/unsubscribe/v1|"
_CSRF = b"journeydesk/csrf/v1|"
_CUSTOMER = b"journeydesk/customer/v1|"
_DEVICE = b"journeydesk/admin-device/v1|"
PURPOSE_LABELS = (_AGENT, _UNSUBSCRIBE, _CSRF, _CUSTOMER, _DEVICE)

_AGENT_PREFIX = "jd1."
_UNSUBSCRIBE_PREFIX = "u1."
_B64 = "[A-Za-z0-9_-]"
_AGENT_RE = re.compile(rf"jd1\.({_B64}{{1,2048}})\.({_B64}{{43}})")
_UNSUBSCRIBE_RE = re.compile(rf"u1\.({_B64}{{1,512}})\.({_B64}{{22}})")
_CSRF_RE = re.compile(rf"({_B64}{{22}})\.({_B64}{{43}})")
_DEVICE_PREFIX = "d1."
_DEVICE_RE = re.compile(rf"d1\.({_B64}{{22}})\.({_B64}{{43}})")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_TS = re.compile(r"[0-9]{1,12}")
_UNSUBSCRIBE_MAC_BYTES = 16  # 128 bits: plenty for a link, and keeps it short in emails


# --- secrets -----------------------------------------------------------------------------


class Secret:
    """A string that will not end up in logs, tracebacks or templates by accident.

    ``str()``, ``repr()`` and f-strings all show ``Secret('…')``; only :meth:`reveal` returns
    the value, so every place that really uses it is easy to find with grep.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """Return the real value (use only where it is fed to a MAC or an HTTP client)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('…')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


SecretLike = Secret | str | bytes


def _key(secret: SecretLike) -> bytes:
    """The raw key bytes; an empty key is refused because anyone could forge its MACs."""
    if isinstance(secret, Secret):
        secret = secret.reveal()
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes):
        raise TypeError("a secret must be Secret, str or bytes")
    if not secret:
        raise ValueError("empty secret: refusing to sign or verify with it")
    return secret


# --- errors and small helpers ------------------------------------------------------------


class TokenError(Exception):
    """A signature or token was rejected; ``reason`` is a stable code for the API response."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        if reason not in get_args(Reason):
            raise ValueError(f"unknown TokenError reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason
        self.detail = detail


def _mac(secret: SecretLike, label: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``label + message``: the one place our own MACs are computed."""
    return hmac.digest(_key(secret), label + message, "sha256")  # one-shot: no HMAC object


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _same(expected: str, given: str) -> bool:
    """Constant-time str comparison; callers ensure both are ASCII (regex-checked)."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- agent tokens --------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentClaims:
    """What a verified agent token grants: one ticket, or a whole source when ticket_id is None."""

    source: str
    ticket_id: str | None
    agent: str | None
    expires_at: int

    def allows(self, source: str, ticket_id: str | int | None) -> bool:
        """May the holder see ``ticket_id`` in ``source``?

        A ticket-scoped token opens only its own ticket; ``ticket_id=None`` asks for
        source-wide access (a customer's journey), which only a source-wide token grants.
        """
        if source != self.source:
            return False
        if self.ticket_id is None:
            return True
        return ticket_id is not None and str(ticket_id) == self.ticket_id


def mint_agent_token(
    secret: SecretLike,
    *,
    source: str,
    ticket_id: str | int | None,
    agent: str | None = None,
    ttl: int = 3600,
    now: float | None = None,
) -> str:
    """Mint ``jd1.<base64url(json)>.<base64url(hmac)>``: URL-safe, compact, short-lived.

    The MAC covers the *encoded* payload, so verification never depends on re-serialising
    JSON, and any change to the token's characters changes the MAC input.
    """
    if not source:
        raise ValueError("source is required")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    payload = {
        "src": source,
        "tid": None if ticket_id is None else str(ticket_id),
        "agt": agent,
        "exp": int(_now(now)) + int(ttl),
    }
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    body = _b64e(raw.encode("utf-8"))
    return f"{_AGENT_PREFIX}{body}.{_b64e(_mac(secret, _AGENT, body.encode('ascii')))}"


def verify_agent_token(
    secret: SecretLike, token: str | None, *, now: float | None = None
) -> AgentClaims:
    """Check an agent token's shape, MAC and expiry (in that order) and return its claims.

    The MAC is checked before the payload is parsed, so unauthenticated input never
    reaches the JSON decoder.
    """
    if not token:
        raise TokenError("missing")
    match = _AGENT_RE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise TokenError("malformed")
    body, mac = match.groups()
    if not _same(_b64e(_mac(secret, _AGENT, body.encode("ascii"))), mac):
        raise TokenError("bad_signature")
    claims = _agent_claims(body)
    if _now(now) >= claims.expires_at:
        raise TokenError("expired")
    return claims


def _agent_claims(body: str) -> AgentClaims:
    """Decode an already-authenticated payload; only a bug of ours can make it fail."""
    try:
        raw = _b64d(body)
        data = fastjson.loads(raw)
    except (ValueError, binascii.Error) as exc:
        raise TokenError("malformed", "payload") from exc
    if not (
        isinstance(data, dict)
        and isinstance(data.get("src"), str)
        and isinstance(data.get("tid"), str | None)
        and isinstance(data.get("agt"), str | None)
        and isinstance(data.get("exp"), int)
    ):
        raise TokenError("malformed", "payload fields")
    return AgentClaims(data["src"], data["tid"], data["agt"], data["exp"])


# --- Zendesk signed URLs and Help Center JWTs (RS256) ------------------------------------


def verify_zendesk_app_jwt(
    token: str | None,
    *,
    public_key_pem: str,
    audience: str,
    issuer: str | Sequence[str],
    now: float | None = None,
    leeway: int = 30,
) -> dict[str, Any]:
    """Verify the JWT Zendesk POSTs to a signed-URL app's first page; return its claims.

    `issuer` may list the forms of one account's name that are accepted (with and without
    `https://`).

    Only RS256 is accepted and the key is loaded as an RSA *public key object*: a token that
    says HS256 and is "signed" with the public PEM as an HMAC secret (algorithm confusion)
    fails twice over. ``exp``, ``iss`` and ``aud`` are required and checked.

    A ``public_key_pem`` that is not an RSA public key raises ``ValueError``: that is a
    configuration error, not a bad request.
    """
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if not audience or not issuer:
        raise ValueError("audience and issuer are required: an empty one would skip the check")
    key = load_pem_public_key(public_key_pem.encode("ascii"))
    if not isinstance(key, RSAPublicKey):
        raise ValueError("public_key_pem is not an RSA public key")
    token = _require_rs256(token)
    claims = _decode_rs256(
        token, key, audience=audience, issuer=issuer, required=["exp", "iss", "aud"]
    )
    _check_times(claims, _now(now), leeway)
    return claims


def verify_help_center_jwt(
    token: str | None,
    jwks: Mapping[str, Any],
    *,
    issuer: str | None = None,
    audience: str | None = None,
    now: float | None = None,
    leeway: int = 30,
) -> dict[str, Any]:
    """Verify a Zendesk Help Center JWT against the account's JWKS; return its claims.

    The claims carry the signed-in customer's Zendesk email, user id and external id, which
    is what lets the ingest endpoint trust a portal's claimed identity. The key is chosen by
    the header's ``kid`` among the JWKS's RSA keys (a JWKS with a single key also serves a
    token without ``kid``). ``aud`` is checked only when ``audience`` is given.
    """
    import jwt

    token = _require_rs256(token)
    key = _jwks_key(jwks, jwt.get_unverified_header(token).get("kid"))
    claims = _decode_rs256(
        token, key, audience=audience, issuer=issuer, required=["exp"], verify_aud=bool(audience)
    )
    _check_times(claims, _now(now), leeway)
    return claims


def _require_rs256(token: str | None) -> str:
    """Reject anything whose header does not say RS256 before any key is touched."""
    import jwt

    if not token:
        raise TokenError("missing")
    if not isinstance(token, str):
        raise TokenError("malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError("malformed", "header") from exc
    if header.get("alg") != "RS256":
        raise TokenError("bad_algorithm", f"alg {header.get('alg')!r} is not RS256")
    return token


def _jwks_key(jwks: Mapping[str, Any], kid: object) -> RSAPublicKey:
    """The RSA public key for ``kid`` (signing keys only; others are ignored)."""
    listed = jwks.get("keys") if isinstance(jwks, Mapping) else None
    keys = [
        k
        for k in (listed if isinstance(listed, list) else [])
        if isinstance(k, dict) and k.get("kty") == "RSA" and k.get("use", "sig") == "sig"
    ]
    if kid is None and len(keys) == 1:
        return _rsa_from_jwk(keys[0])
    for jwk in keys:
        if kid is not None and jwk.get("kid") == kid:
            return _rsa_from_jwk(jwk)
    raise TokenError("unknown_key", f"no RSA signing key with kid {kid!r}")


def _rsa_from_jwk(jwk: Mapping[str, Any]) -> RSAPublicKey:
    """Build the public key from ``n``/``e`` only, whatever else the JWK carries."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    try:
        n = int.from_bytes(_b64d(jwk["n"]), "big")
        e = int.from_bytes(_b64d(jwk["e"]), "big")
        return RSAPublicNumbers(e, n).public_key()
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise TokenError("unknown_key", "unusable JWK") from exc


def _decode_rs256(
    token: str,
    key: RSAPublicKey,
    *,
    audience: str | None,
    issuer: str | Sequence[str] | None,
    required: list[str],
    verify_aud: bool = True,
) -> dict[str, Any]:
    """Signature, iss and aud via PyJWT; time claims are left to :func:`_check_times`."""
    import jwt

    options = {
        "require": required,
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "verify_aud": verify_aud,
    }
    try:
        return jwt.decode(
            token, key, algorithms=["RS256"], audience=audience, issuer=issuer, options=options
        )
    except jwt.PyJWTError as exc:
        raise TokenError(_jwt_reason(exc)) from exc


def _jwt_reason(exc: jwt.PyJWTError) -> Reason:
    import jwt

    # InvalidSignatureError subclasses DecodeError, so the order of checks matters.
    pairs: list[tuple[type[Exception], Reason]] = [
        (jwt.InvalidSignatureError, "bad_signature"),
        (jwt.InvalidAlgorithmError, "bad_algorithm"),
        (jwt.InvalidAudienceError, "bad_audience"),
        (jwt.InvalidIssuerError, "bad_issuer"),
        (jwt.MissingRequiredClaimError, "missing_claim"),
    ]
    return next((reason for kind, reason in pairs if isinstance(exc, kind)), "malformed")


def _check_times(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    """exp/nbf/iat against an injectable clock (PyJWT always reads the real one)."""
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _is_number(claims[name]):
            raise TokenError("malformed", f"{name} is not a number")
    if now >= claims["exp"] + leeway:
        raise TokenError("expired")
    if now < claims.get("nbf", now) - leeway or now < claims.get("iat", now) - leeway:
        raise TokenError("not_yet_valid")


# --- webhooks ----------------------------------------------------------------------------


def verify_zendesk_webhook(
    secret: SecretLike,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: float | None = None,
    window_seconds: int = 300,
) -> str:
    """Check ``X-Zendesk-Webhook-Signature`` against ``X-Zendesk-Webhook-Signature-Timestamp``;
    return the verified timestamp (for :func:`delivery_fingerprint`).

    Zendesk signs ``base64(HMAC-SHA256(secret, timestamp + raw_body))``, using the secret
    string exactly as shown (it looks like base64 but is *not* decoded) and the timestamp
    header verbatim. An authentic delivery older or newer than ``window_seconds`` is
    ``stale``: that is a replay or a badly wrong clock.
    """
    if not signature or not timestamp:
        raise TokenError("missing")
    sent_at = _parse_iso_timestamp(timestamp)
    expected = base64.b64encode(
        hmac.new(_key(secret), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    )
    if not hmac.compare_digest(expected, signature.encode("utf-8")):
        raise TokenError("bad_signature")
    _check_window(sent_at, _now(now), window_seconds)
    return timestamp


def _parse_iso_timestamp(timestamp: str) -> float:
    try:
        parsed = datetime.fromisoformat(timestamp) if len(timestamp) <= 64 else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise TokenError("malformed", "timestamp")
    return parsed.timestamp()


def _check_window(sent_at: float, now: float, window_seconds: int) -> None:
    if abs(now - sent_at) > window_seconds:
        raise TokenError("stale")


def sign_generic_webhook(secret: SecretLike, body: bytes, now: float | None = None) -> str:
    """The ``X-Journeydesk-Signature`` value ``t=<unix>,v1=<hex>`` for desks without their own.

    ``v1`` is ``hex(HMAC-SHA256(secret, "<t>." + body))`` with the raw secret (no purpose
    label), so a sender can compute it with any HMAC tool; the leading digits of ``<t>``
    keep it apart from our labelled MACs.
    """
    t = str(int(_now(now)))
    return f"t={t},v1={_generic_mac(secret, t, body)}"


def verify_generic_webhook(
    secret: SecretLike,
    body: bytes,
    header: str | None,
    now: float | None = None,
    window_seconds: int = 300,
) -> str:
    """Check an ``X-Journeydesk-Signature`` header; several ``v1`` (secret rotation) may appear.
    Return the verified ``t`` (for :func:`delivery_fingerprint`).

    The signature is checked before the time window so that ``stale`` is only ever reported
    for authentic deliveries (a replay), never for random noise.
    """
    if not header:
        raise TokenError("missing")
    t, candidates = _parse_generic_header(header)
    expected = _generic_mac(secret, t, body)
    if not any([_same(expected, c.lower()) for c in candidates if _HEX64.fullmatch(c)]):
        raise TokenError("bad_signature")
    _check_window(int(t), _now(now), window_seconds)
    return t


def _parse_generic_header(header: str) -> tuple[str, list[str]]:
    """``t=..,v1=..[,v1=..]`` → (t, [v1...]); unknown keys are ignored (future versions)."""
    pairs = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in pairs if key == "t"]
    candidates = [value for key, _, value in pairs if key == "v1"]
    if len(stamps) != 1 or not _UNIX_TS.fullmatch(stamps[0]) or not candidates:
        raise TokenError("malformed", "expected t=<unix>,v1=<hex>")
    return stamps[0], candidates


def _generic_mac(secret: SecretLike, t: str, body: bytes) -> str:
    return hmac.new(_key(secret), f"{t}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def delivery_fingerprint(timestamp: str, body: bytes) -> str:
    """What identifies one signed delivery, for remembering it over its replay window.

    ``timestamp`` is the one a verify function returned. The signed timestamp and the body,
    never the signature headers as sent: a replay could append junk ``v1=`` candidates to
    ours and look new. Both signatures cover the timestamp's characters verbatim, so no
    other spelling of it verifies.
    """
    return hashlib.sha256(timestamp.encode("utf-8") + b"\n" + body).hexdigest()


# --- portal identity, unsubscribe links, CSRF, static keys -------------------------------


def customer_hmac(secret: SecretLike, customer_id: str) -> str:
    """Hex HMAC a site puts beside the signed-in customer's email/id in the tracking snippet.

    Sites compute the same thing server-side:
    ``hex(HMAC-SHA256(secret, "journeydesk/customer/v1|" + customer_id))``. The ingest API
    then trusts the identity without trusting the browser.
    """
    return _mac(secret, _CUSTOMER, customer_id.encode("utf-8")).hex()


def verify_customer_hmac(secret: SecretLike, customer_id: str, mac: str | None) -> bool:
    """Constant-time check of :func:`customer_hmac` (hex, either case)."""
    if not isinstance(mac, str) or not _HEX64.fullmatch(mac):
        return False
    return _same(customer_hmac(secret, customer_id), mac.lower())


def mint_unsubscribe_token(secret: SecretLike, customer_id: int | str) -> str:
    """Token for ``/u/<token>``: ``u1.<base64url(id)>.<base64url(mac)>``, never expires.

    It has no expiry (old emails must keep working), which is exactly why it has its own
    purpose label: nothing else we sign can be replayed as one, and it opens nothing else.
    """
    encoded = _b64e(str(customer_id).encode("utf-8"))
    mac = _mac(secret, _UNSUBSCRIBE, encoded.encode("ascii"))[:_UNSUBSCRIBE_MAC_BYTES]
    return f"{_UNSUBSCRIBE_PREFIX}{encoded}.{_b64e(mac)}"


def verify_unsubscribe_token(secret: SecretLike, token: str | None) -> str:
    """Return the customer id an unsubscribe token was minted for; raise :class:`TokenError`."""
    if not token:
        raise TokenError("missing")
    match = _UNSUBSCRIBE_RE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise TokenError("malformed")
    encoded, mac = match.groups()
    expected = _mac(secret, _UNSUBSCRIBE, encoded.encode("ascii"))[:_UNSUBSCRIBE_MAC_BYTES]
    if not _same(_b64e(expected), mac):
        raise TokenError("bad_signature")
    try:
        return _b64d(encoded).decode("utf-8")
    except (ValueError, binascii.Error) as exc:
        raise TokenError("malformed", "customer id") from exc


def mint_csrf_token(secret: SecretLike, session_id: str) -> str:
    """A fresh CSRF token bound to the session: ``<nonce>.<hmac(nonce, session)>``.

    The random nonce makes every rendered token different (no secret repeated across
    responses for BREACH-style compression attacks), yet all of them verify for the session.
    """
    if not session_id:
        raise ValueError("session_id is required")
    nonce = _b64e(secrets.token_bytes(16))
    return f"{nonce}.{_csrf_mac(secret, nonce, session_id)}"


def verify_csrf_token(secret: SecretLike, session_id: str, token: str | None) -> bool:
    """True only for a token minted by :func:`mint_csrf_token` for this very session."""
    if not session_id or not isinstance(token, str):
        return False
    match = _CSRF_RE.fullmatch(token)
    if match is None:
        return False
    nonce, mac = match.groups()
    return _same(_csrf_mac(secret, nonce, session_id), mac)


def _csrf_mac(secret: SecretLike, nonce: str, session_id: str) -> str:
    # The nonce has a fixed length, so nonce + "." + session_id parses one way only.
    return _b64e(_mac(secret, _CSRF, f"{nonce}.{session_id}".encode()))


def mint_device_token(secret: SecretLike) -> str:
    """A device cookie for a browser that signed in to the admin: ``d1.<nonce>.<mac>``.

    The login limiter counts a known browser's failures apart from its address's (OWASP,
    "Slow Down Online Guessing Attacks with Device Cookies"), so an attacker behind the
    same address cannot lock the admins out. It opens nothing by itself.
    """
    nonce = _b64e(secrets.token_bytes(16))
    return f"{_DEVICE_PREFIX}{nonce}.{_b64e(_mac(secret, _DEVICE, nonce.encode('ascii')))}"


def verify_device_token(secret: SecretLike, token: str | None) -> str | None:
    """The device id (its nonce) of a device cookie we issued, else None."""
    match = _DEVICE_RE.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return None
    nonce, mac = match.groups()
    return nonce if _same(_b64e(_mac(secret, _DEVICE, nonce.encode("ascii"))), mac) else None


def key_matches(expected: SecretLike, presented: str | None) -> bool:
    """Constant-time check of a static key (an ingest key, a Chatwoot per-install key)."""
    if not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(_key(expected), presented.encode("utf-8"))


def find_key(presented: str | None, keys: Mapping[str, SecretLike]) -> str | None:
    """Which named key (e.g. which portal's ingest key) was presented, or None.

    Every key is compared, with no early exit, so the timing does not tell which one was
    close or how many there are before it.
    """
    found = None
    for name, key in keys.items():
        if key_matches(key, presented):
            found = name
    return found
