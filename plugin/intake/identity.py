"""Who an ingested event is about, and how far to believe it (DESIGN §5).

The ingest key sits in the page source, so anyone can post with it: an event's claimed
customer is kept only as far as it is proven. Per ingest key (`identity_rules`):

- no proof configured: the claimed email / external id is trusted (the key's origin
  allow-list is then the only check; the event is marked `identity: unverified`);
- `identity_secret`: an email or external id is kept only when `customer.hmac` signs that
  very value (`plugin.security.customer_hmac`);
- `help_center_jwks_url`: a valid Zendesk Help Center `customer.jwt` (keys fetched from the
  Help Center's JWKS, `JwksCache`) proves the identity in its claims.

Anything unproven is dropped (`prove_identity`), so a portal can never write into an
arbitrary customer's history. The origins a key accepts are compared as browsers send
them (`normalise_origin`). An admin's file import has no rules (`identity=None`): trusted.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.errors import ConnectorError
from connectors.http import HttpClient
from connectors.records import CustomerRef
from plugin.config import IngestKeyConfig
from plugin.security import Secret, TokenError, verify_customer_hmac, verify_help_center_jwt

log = logging.getLogger("journeydesk.identity")

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
JWKS_TTL_SECONDS = 3600
JWKS_REFRESH_SECONDS = 60  # at most one refetch a minute for an unknown kid (key rotation)


@dataclass(frozen=True)
class IdentityRules:
    """How far an untrusted sender's claimed identities are believed (see module doc)."""

    hmac_secret: Secret | None = None
    verify_jwt: Callable[[str], dict[str, Any]] | None = None
    """Verifies a Help Center JWT and returns its claims; raises TokenError."""
    jwt_user_is_desk_user: bool = False
    """The JWT's `user_id` is the key's desk's own user id (a Zendesk source)."""

    @property
    def proof_required(self) -> bool:
        return bool(self.hmac_secret or self.verify_jwt)


def identity_rules(key: IngestKeyConfig, *, desk_type: str) -> IdentityRules:
    """The rules of one ingest key (`desk_type`: the type of the connector it feeds)."""
    verify = None
    if key.help_center_jwks_url:
        verify = jwt_verifier(JwksCache(key.help_center_jwks_url), key.help_center_issuer)
    return IdentityRules(
        hmac_secret=key.identity_secret,
        verify_jwt=verify,
        jwt_user_is_desk_user=desk_type == "zendesk",
    )


def normalise_origin(origin: str) -> str:
    """`https://Help.Acme.example/` → `https://help.acme.example` (as browsers send it)."""
    return origin.strip().rstrip("/").lower()


def is_named(ref: CustomerRef) -> bool:
    """Named by something other than an anonymous visitor id."""
    return bool(ref.email or ref.external_id or ref.source_id)


def prove_identity(
    ref: CustomerRef, value: dict[str, Any], rules: IdentityRules
) -> tuple[CustomerRef, str | None, str | None]:
    """Keep only the identities the sender proved (JWT claims, or what the HMAC signs)."""
    notice = None
    token = value.get("jwt")
    if token and rules.verify_jwt is not None:
        try:
            claims = rules.verify_jwt(token)
        except TokenError as exc:
            notice = f"customer.jwt not accepted ({exc.reason})"
        else:
            return _from_claims(claims, ref.anonymous_id, rules), "jwt", None
    if not rules.proof_required:
        return ref, ("unverified" if is_named(ref) else None), None
    if rules.hmac_secret is not None:
        signed = _hmac_signed(ref, value.get("hmac"), rules.hmac_secret)
        if is_named(signed):
            dropped = signed.email != ref.email or signed.external_id != ref.external_id
            notice = "customer: kept only what customer.hmac signs" if dropped else None
            return signed, "hmac", notice
    if is_named(ref):
        notice = notice or "customer identity not verified (no valid customer.hmac or customer.jwt)"
    return CustomerRef(anonymous_id=ref.anonymous_id), None, notice


def _hmac_signed(ref: CustomerRef, mac: Any, secret: Secret) -> CustomerRef:
    """`ref` with only the email / external id that `mac` signs (the site's own HMAC)."""

    def signed(value: str | None) -> str | None:
        return value if value and verify_customer_hmac(secret, value, mac) else None

    return CustomerRef(
        email=signed(ref.email), external_id=signed(ref.external_id), anonymous_id=ref.anonymous_id
    )


def _from_claims(
    claims: dict[str, Any], anonymous_id: str | None, rules: IdentityRules
) -> CustomerRef:
    def claim(name: str) -> str | None:
        raw = claims.get(name)
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        return raw if isinstance(raw, str) and raw else None

    email = claim("email")
    return CustomerRef(
        source_id=claim("user_id") if rules.jwt_user_is_desk_user else None,
        email=email if email and EMAIL.fullmatch(email) else None,
        external_id=claim("external_id"),
        anonymous_id=anonymous_id,
    )


# --- Help Center JWTs ------------------------------------------------------------------


class JwksCache:
    """A Help Center's JSON Web Key Set, fetched on first use and kept for an hour."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.keys: dict[str, Any] | None = None
        self.fetched_at = -math.inf
        self.lock = threading.Lock()

    def get(self, *, refresh: bool = False) -> dict[str, Any]:
        with self.lock:
            age = time.monotonic() - self.fetched_at
            stale = self.keys is None or age > JWKS_TTL_SECONDS
            if stale or (refresh and age > JWKS_REFRESH_SECONDS):
                self.keys = self._fetch()
                self.fetched_at = time.monotonic()
            return self.keys or {}

    def _fetch(self) -> dict[str, Any]:
        client = HttpClient(
            self.url,
            None,
            desk="Zendesk Help Center",
            credentials_setting="ingest.keys.help_center_jwks_url",
            domain_setting="ingest.keys.help_center_jwks_url",
            timeout=3.0,
            max_retries=0,  # a visitor's request is waiting; the next one tries again
        )
        try:
            keys = client.get_json(self.url)
        except ConnectorError as exc:
            log.warning("cannot fetch Help Center keys: %s", exc)
            raise TokenError("unknown_key", "help center keys unavailable") from None
        finally:
            client.close()
        return keys if isinstance(keys, dict) else {}


def jwt_verifier(cache: JwksCache, issuer: str) -> Callable[[str], dict[str, Any]]:
    def verify(token: str) -> dict[str, Any]:
        try:
            return verify_help_center_jwt(token, cache.get(), issuer=issuer or None)
        except TokenError as exc:
            if exc.reason != "unknown_key":
                raise
            return verify_help_center_jwt(token, cache.get(refresh=True), issuer=issuer or None)

    return verify
