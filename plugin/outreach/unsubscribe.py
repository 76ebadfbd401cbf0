"""Opting out of (and back into) proactive messages through a signed link.

The link (`/u/<token>`, in every email's footer and List-Unsubscribe header) carries the
lower-cased address, signed with the app secret (`plugin.security.mint_unsubscribe_token`);
it never expires. The opt-out is stored by address (`store/suppressions.py`).
"""

from __future__ import annotations

from sqlite_utils import Database

from plugin.errors import NotFound
from plugin.security import SecretLike, TokenError, verify_unsubscribe_token
from plugin.store.suppressions import is_suppressed, suppress, unsuppress


def address_of(secret: SecretLike, token: str) -> str:
    """The address a link was made for; NotFound for anything not made by us."""
    try:
        email = verify_unsubscribe_token(secret, token)
    except TokenError:
        raise NotFound("This unsubscribe link is not valid.", code="unsubscribe_invalid") from None
    if "@" not in email:
        raise NotFound("This unsubscribe link is not valid.", code="unsubscribe_invalid")
    return email


def unsubscribe(db: Database, secret: SecretLike, token: str, *, how: str, now: int) -> str:
    email = address_of(secret, token)
    suppress(db, email, reason=how, now=now)
    return email


def resubscribe(db: Database, secret: SecretLike, token: str) -> str:
    email = address_of(secret, token)
    unsuppress(db, email)
    return email


def subscribed(db: Database, secret: SecretLike, token: str) -> tuple[str, bool]:
    email = address_of(secret, token)
    return email, not is_suppressed(db, email)
