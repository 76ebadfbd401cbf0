"""Connector errors, named for what the caller does next.

Messages name the setting to fix and never contain credentials.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """A help desk call failed; `setting` names the config key an admin should check."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class AuthError(ConnectorError):
    """401/403: the credentials are wrong or lack a role. Stop and tell the admin."""


class NotFoundError(ConnectorError):
    """404 or DNS failure on the desk's base URL: the subdomain/domain is wrong."""


class FeatureUnavailableError(ConnectorError):
    """The desk's plan lacks an API (e.g. Zendesk events): skip that stream, say so once."""


class RetriesExhaustedError(ConnectorError):
    """The desk kept failing (5xx, 429, timeouts) after every retry. Try again later."""


class RecordError(ValueError):
    """One record of a page cannot be used: the message is the reason kept in
    `Batch.rejected`, and the page's other records are kept. Not a ConnectorError: the
    call itself succeeded."""


class BadPayloadError(ConnectorError):
    """The desk answered with something we cannot parse (a whole page, not one record)."""
