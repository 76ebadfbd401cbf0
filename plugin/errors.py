"""What went wrong, in the product's own words: the errors domain code raises.

Domain modules (intake, journey, reply guard, store callers) raise these and never speak
HTTP; `plugin.web.errors` alone turns them into answers (status, JSON or HTML page), and
the CLI into a sentence. Each carries a stable `code` (clients and translations key on
it) and a sentence a person can act on.
"""

from __future__ import annotations


class JourneydeskError(Exception):
    """A failure the caller can explain: a stable `code` and a `message`."""

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        params: dict[str, str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.params = params or {}
        """Values a translated message names ({source}, {ticket}, ...)."""
        self.hint = hint
        """The catalogue key of what to do, when not `error_hint_<code>`."""
        if code is not None:
            self.code = code


class InvalidInput(JourneydeskError):
    """The request itself is unusable (a missing or malformed field)."""

    code = "invalid_input"


class NotFound(JourneydeskError):
    """Nothing by that name or id (a ticket, a customer, a connector)."""

    code = "not_found"


class Gone(JourneydeskError):
    """It existed and was deleted (a ticket deleted in the desk)."""

    code = "gone"


class DeskUnavailable(JourneydeskError):
    """The help desk could not be asked (it failed, or refused): try again later."""

    code = "desk_error"


class DeskSlow(DeskUnavailable):
    """The help desk has not answered yet; the fetch goes on: try again in a moment."""

    code = "desk_slow"
