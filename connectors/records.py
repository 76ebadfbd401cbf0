"""The plain records every connector yields and the store writes.

They live here, in the leaf package, so connectors never import the plugin (which
imports Flask) while the store and views use the very same classes.

Times are timezone-aware UTC datetimes; the store converts them to epoch seconds.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

TOUCHPOINT_TYPES = (
    "article_view",
    "search",
    "identify",
    "ticket_opened",
    "ticket_solved",
    "csat",
    "outreach_sent",
    "signup",
    "purchase",
    "renewal",
)
"""Known touchpoint types; any other name is kept as a custom touchpoint."""


class _Factory:
    def __repr__(self) -> str:
        return "<factory>"  # as the generated __init__'s signature shows it


_FACTORY = _Factory()


def _quick_init(cls: type) -> type:
    """Give a frozen, slotted dataclass an `__init__` that fills its slots directly.

    The generated one goes through `object.__setattr__` per field (a frozen class must get
    past its own `__setattr__`): half of the cost of making a touchpoint, of which an
    import makes one per line. Same parameters, defaults and factories; still frozen.
    """
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: _quick_init would skip __post_init__")
    spec = [f for f in fields(cls) if f.init]
    namespace: dict[str, Any] = {"FACTORY": _FACTORY}
    params, body = [], []
    for f in spec:
        namespace[f"set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's descriptor
        if f.default is not MISSING:
            namespace[f"default_{f.name}"] = f.default
            params.append(f"{f.name}=default_{f.name}")
            body.append(f"    set_{f.name}(self, {f.name})")
        elif f.default_factory is not MISSING:
            namespace[f"factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=FACTORY")
            body.append(
                f"    set_{f.name}(self, factory_{f.name}() if {f.name} is FACTORY else {f.name})"
            )
        else:
            params.append(f.name)
            body.append(f"    set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init
    return cls


def utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime (naive values are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@_quick_init
@dataclass(frozen=True, slots=True)
class CustomerRef:
    """Who a record is about, as the sender knows them.

    At least one field is set. `source_id` is the desk's own user id (requester id);
    `anonymous_id` is the portal snippet's first-party visitor id.
    """

    source_id: str | None = None
    email: str | None = None
    external_id: str | None = None
    anonymous_id: str | None = None

    def is_empty(self) -> bool:
        return not (self.source_id or self.email or self.external_id or self.anonymous_id)


@dataclass(frozen=True, slots=True)
class Customer:
    """An end user of a help desk (requester, contact), with their commercial facts."""

    source_id: str
    email: str | None = None
    name: str | None = None
    external_id: str | None = None
    signup_at: datetime | None = None
    purchased_at: datetime | None = None
    renewal_at: datetime | None = None
    plan: str | None = None
    lifetime_value: float | None = None
    time_zone: str | None = None
    locale: str | None = None
    updated_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    merged_into: str | None = None
    """The desk-side user this one was merged into (desk-side merges are followed)."""
    other_emails: tuple[str, ...] = ()
    """More addresses the desk knows this person by (a desk-side merge leaves the merged
    contacts' addresses here): whoever else journeydesk knows by them is this person."""

    def ref(self) -> CustomerRef:
        return CustomerRef(source_id=self.source_id, email=self.email, external_id=self.external_id)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A help desk ticket (or conversation)."""

    id: str
    requester: CustomerRef
    subject: str
    created_at: datetime
    updated_at: datetime | None = None
    status: str = "open"  # new | open | pending | hold | solved | closed
    priority: str | None = None  # low | normal | high | urgent
    channel: str | None = None  # web | email | chat | phone | api | ...
    tags: tuple[str, ...] = ()
    solved_at: datetime | None = None
    first_response_at: datetime | None = None
    csat_score: str | None = None  # good | bad
    csat_comment: str | None = None
    deleted: bool = False
    group: str | None = None  # the group (team) it is assigned to, by name (else its id)


@dataclass(frozen=True, slots=True)
class Article:
    """One locale of a knowledge-base article.

    Translations share `id` when the desk gives one id to all locales (Zendesk,
    Freshdesk); desks that give each translation its own id set `translation_of` to the
    id of the article it translates, so views in any locale count as one article.
    """

    id: str
    locale: str
    title: str
    url: str
    section: str | None = None
    category: str | None = None
    updated_at: datetime | None = None
    translation_of: str | None = None
    draft: bool = False

    @property
    def group_id(self) -> str:
        return self.translation_of or self.id


@_quick_init
@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One interaction on a customer's timeline, idempotent by (source, id)."""

    id: str
    type: str
    occurred_at: datetime
    customer: CustomerRef
    channel: str | None = None
    article_id: str | None = None
    article_title: str | None = None
    article_url: str | None = None
    article_locale: str | None = None
    ticket_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


Record = Customer | Ticket | Article | Touchpoint


@dataclass(slots=True)
class Batch:
    """Records of one stream and the cursor to persist once they are stored.

    `rejected` counts records the connector could not parse (with reasons), so a
    malformed record is reported and the good ones in the same page are kept.
    """

    stream: str  # customers | tickets | articles | touchpoints
    records: list[Record]
    cursor: str | None
    scope: str = ""  # e.g. a user id for per-user cursors
    rejected: list[str] = field(default_factory=list)
    stream_cursor: str | None = None
    """The stream's own cursor (no scope), stored with a per-scope batch: a stream that
    reads user by user saves how far it got in the same transaction as that user's records."""


@dataclass(frozen=True, slots=True)
class Note:
    """A private note for agents on a ticket, in both of the desks' formats.

    `marker` is a short text the note carries (in `html` and `text`) that names it: a
    connector finds the note on the ticket by it (`has_note`), so a note whose post was
    accepted but never recorded is not posted twice."""

    html: str
    text: str
    marker: str
