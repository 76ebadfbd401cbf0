"""ZendeskConnector through its public interface, against the fake Zendesk."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from connectors.errors import (
    AuthError,
    BadPayloadError,
    ConnectorError,
    FeatureUnavailableError,
    NotFoundError,
)
from connectors.protocol import Connector
from connectors.records import Article, Batch, Customer, Note, Ticket, Touchpoint
from connectors.zendesk import EXPORT_MIN_INTERVAL, ZendeskConnector
from tests.fakes.zendesk import EMAIL, SUBDOMAIN, TOKEN, FakeZendesk


class FakeClock:
    """A monotonic clock that only moves when something sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def server():
    # One server for the module: stopping one costs half a second.
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake(server: HTTPServer):
    server.clear()
    yield FakeZendesk(server)
    server.check_handler_errors()  # a bug in the fake must not pass as a desk error
    server.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def connect(fake: FakeZendesk, clock: FakeClock):
    """Build a connector on the fake with tiny pages and pacing turned off."""

    def build(**options) -> ZendeskConnector:
        settings = {
            "base_url": fake.base_url,
            "events_page_size": 2,
            "export_page_size": 2,
            "export_interval": 0.0,
            "clock": clock,
            "sleep": clock.sleep,
        } | options
        token = settings.pop("token", TOKEN)
        return ZendeskConnector("zendesk", SUBDOMAIN, EMAIL, token, **settings)

    return build


def user(user_id: int, updated: str = "2025-01-01T10:00:00Z", **fields) -> dict:
    return {
        "id": user_id,
        "email": f"user{user_id}@example.com",
        "name": f"User {user_id}",
        "created_at": "2024-06-01T09:00:00Z",
        "updated_at": updated,
        **fields,
    }


def ticket(ticket_id: int, requester: int = 1, updated: str = "2025-01-02T10:00:00Z", **f) -> dict:
    return {
        "id": ticket_id,
        "requester_id": requester,
        "subject": f"Ticket {ticket_id}",
        "created_at": "2025-01-02T09:00:00Z",
        "updated_at": updated,
        **f,
    }


def records(batches: list[Batch]) -> list:
    return [record for batch in batches for record in batch.records]


def ids(batches: list[Batch]) -> list[str]:
    return [getattr(r, "source_id", None) or r.id for r in records(batches)]


def test_the_connector_implements_the_protocol(connect) -> None:
    assert isinstance(connect(), Connector)


# -- incremental exports ------------------------------------------------------------------


def test_full_sync_then_incremental_sync_returns_only_new_and_changed_users(fake, connect):
    for n in (1, 2, 3):
        fake.add_user(user(n))
    connector = connect()

    first = list(connector.customers(None))
    assert ids(first) == ["1", "2", "3"]
    assert len(first) == 2  # pages of two

    fake.add_user(user(4, updated="2025-02-01T10:00:00Z"))
    fake.add_user(user(2, updated="2025-02-02T10:00:00Z", name="Renamed"))
    second = list(connector.customers(first[-1].cursor))

    assert ids(second) == ["4", "2"]
    assert records(second)[1].name == "Renamed"
    assert list(connector.customers(second[-1].cursor)) == [
        Batch("customers", [], second[-1].cursor)
    ]


def test_first_export_call_sends_start_time_then_only_the_cursor(fake, connect):
    for n in range(1, 6):
        fake.add_ticket(ticket(n))
    list(connect(start_time=1_700_000_000).tickets(None))

    calls = fake.calls("/incremental/tickets/cursor")
    assert calls[0]["start_time"] == "1700000000"
    assert "cursor" not in calls[0]
    assert all("cursor" in call and "start_time" not in call for call in calls[1:])
    assert {call["per_page"] for call in calls} == {"2"}
    assert {call["include"] for call in calls} == {"metric_sets"}


def test_start_time_is_kept_at_least_a_minute_in_the_past(fake, connect):
    fake.add_ticket(ticket(1))
    too_recent = int(time.time())
    connector = connect(start_time=too_recent)

    list(connector.tickets(None))  # the fake, like Zendesk, answers 400 otherwise

    assert int(fake.calls("/incremental/tickets/cursor")[0]["start_time"]) <= too_recent - 60


def test_resuming_from_a_persisted_cursor_mid_stream_gives_exactly_the_rest(fake, connect):
    for n in range(1, 6):
        fake.add_ticket(ticket(n))
    stream = connect().tickets(None)
    persisted = next(stream).cursor  # the process dies after storing the first page
    stream.close()

    rest = list(connect().tickets(persisted))

    assert ids(rest) == ["3", "4", "5"]


def test_ticket_fields_are_mapped(fake, connect):
    fake.add_ticket(
        ticket(
            7,
            requester=42,
            priority="high",
            status="solved",
            tags=["vip", "billing"],
            via={"channel": "email"},
            satisfaction_rating={"id": 9, "score": "bad", "comment": "slow"},
        ),
        metric_set={"solved_at": "2025-01-03T08:00:00Z", "reply_time_in_minutes": {"calendar": 30}},
    )
    fake.add_ticket(ticket(8, satisfaction_rating={"score": "offered"}))
    fake.add_ticket(ticket(9, status="deleted"))

    found = {t.id: t for t in records(list(connect().tickets(None)))}

    seven = found["7"]
    assert isinstance(seven, Ticket)
    assert seven.requester.source_id == "42"
    assert (seven.status, seven.priority, seven.channel) == ("solved", "high", "email")
    assert seven.tags == ("vip", "billing")
    assert (seven.csat_score, seven.csat_comment) == ("bad", "slow")
    assert seven.created_at == datetime(2025, 1, 2, 9, tzinfo=UTC)
    assert seven.solved_at == datetime(2025, 1, 3, 8, tzinfo=UTC)
    assert seven.first_response_at == datetime(2025, 1, 2, 9, 30, tzinfo=UTC)
    assert found["8"].csat_score is None and found["8"].solved_at is None
    assert found["9"].deleted and not seven.deleted


def test_users_become_customers_with_their_commercial_facts(fake, connect):
    fake.add_user(
        user(
            1,
            external_id=77,
            time_zone="Madrid",
            locale="es",
            tags=["trial"],
            user_fields={
                "plan_tier": "pro",
                "bought_on": "2025-01-10",
                "renews_on": "2026-01-10T00:00:00Z",
                "ltv": "1200.50",
                "favourite_colour": None,
            },
        )
    )
    fake.add_user(user(2, role="agent"))
    fake.add_user(user(3, role="admin"))
    fake.add_user(user(4, active=False, user_fields={"bought_on": "not a date"}))
    connector = connect(
        plan_field="plan_tier",
        purchased_at_field="bought_on",
        renewal_at_field="renews_on",
        lifetime_value_field="ltv",
    )

    batches = list(connector.customers(None))
    found = {c.source_id: c for c in records(batches)}

    assert set(found) == {"1", "4"}  # agents and admins are skipped, not rejected
    assert not any(b.rejected for b in batches)
    ana = found["1"]
    assert isinstance(ana, Customer)
    assert (ana.email, ana.name, ana.external_id) == ("user1@example.com", "User 1", "77")
    assert (ana.plan, ana.lifetime_value, ana.time_zone, ana.locale) == (
        "pro",
        1200.5,
        "Madrid",
        "es",
    )
    assert ana.purchased_at == datetime(2025, 1, 10, tzinfo=UTC)
    assert ana.renewal_at == datetime(2026, 1, 10, tzinfo=UTC)
    assert ana.signup_at == datetime(2024, 6, 1, 9, tzinfo=UTC)
    assert ana.attributes == {
        "plan_tier": "pro",
        "bought_on": "2025-01-10",
        "renews_on": "2026-01-10T00:00:00Z",
        "ltv": "1200.50",
        "tags": ["trial"],
    }
    gone = found["4"]
    assert gone.attributes["active"] is False and gone.purchased_at is None
    assert gone.attributes["bought_on"] == "not a date"


def test_malformed_records_are_rejected_with_a_reason_and_the_good_ones_kept(fake, connect):
    fake.add_user(user(1))
    fake.add_user({"email": "no-id@example.com", "updated_at": "2025-01-01T10:00:00Z"})
    fake.add_user(user(3, created_at="yesterday-ish"))
    fake.add_ticket(ticket(1))
    fake.add_ticket(ticket(2, created_at="not-a-time"))
    fake.add_ticket(
        {
            "id": 3,
            "subject": "no requester",
            "created_at": "2025-01-02T09:00:00Z",
            "updated_at": "2025-01-02T10:00:00Z",
        }
    )
    connector = connect(export_page_size=10)

    (customers,) = connector.customers(None)
    (tickets,) = connector.tickets(None)

    assert ids([customers]) == ["1"]
    assert len(customers.rejected) == 2
    assert "no id" in customers.rejected[0]
    assert "created_at" in customers.rejected[1] and customers.rejected[1].startswith("user 3")
    assert ids([tickets]) == ["1"]
    assert [r.split(":")[0] for r in tickets.rejected] == ["ticket 2", "ticket 3"]


def test_a_page_that_is_not_json_is_a_bad_payload(fake, connect):
    fake.add_user(user(1))
    fake.fail("/incremental/users", 200, body="<html>maintenance</html>")

    with pytest.raises(BadPayloadError):
        list(connect().customers(None))


def test_a_page_without_its_record_list_is_a_bad_payload(fake, connect):
    fake.fail("/incremental/tickets", 200, body='{"end_of_stream": true}')

    with pytest.raises(BadPayloadError):
        list(connect().tickets(None))


def test_rate_limits_and_server_errors_are_retried(fake, connect, clock):
    fake.add_ticket(ticket(1))
    fake.fail("/incremental/tickets", 429, retry_after=7)
    fake.fail("/incremental/tickets", 503)

    assert ids(list(connect().tickets(None))) == ["1"]
    assert clock.sleeps[0] == 7  # the desk's Retry-After, not our backoff
    assert len(clock.sleeps) == 2


def test_the_client_paces_itself_by_the_rate_limit_headers(fake, connect, clock):
    fake.add_user(user(1))
    fake.rate_limit_remaining = 1  # the account's budget is spent after this call
    connector = connect()

    list(connector.customers(None))
    list(connector.tickets(None))

    assert clock.sleeps  # waited before the second call instead of meeting a 429
    assert fake.calls("/incremental/tickets")


def test_wrong_credentials_are_an_auth_error(fake, connect):
    with pytest.raises(AuthError) as failure:
        list(connect(token="wrong").customers(None))
    assert "wrong" not in str(failure.value)


def test_export_calls_are_paced_to_the_documented_budget(fake, connect, clock):
    for n in range(1, 6):
        fake.add_user(user(n))
    connector = connect(export_interval=EXPORT_MIN_INTERVAL)

    list(connector.customers(None))  # three pages

    assert EXPORT_MIN_INTERVAL == 6.0  # 10 requests/min
    assert clock.sleeps == [6.0, 6.0]


# -- Help Center articles -----------------------------------------------------------------


def add_knowledge_base(fake: FakeZendesk) -> None:
    fake.add_category(1, "Billing", {"en-us": "Billing", "es": "Facturación"})
    fake.add_section(10, "Invoices", 1, {"en-us": "Invoices", "es": "Facturas"})
    fake.add_article(
        100, {"en-us": "Export invoices", "es": "Exportar facturas"}, "2025-01-01T10:00:00Z", 10
    )
    fake.add_article(101, {"en-us": "Refunds"}, "2025-01-02T10:00:00Z", 10)
    fake.add_article(102, {"en-us": "Taxes", "es": "Impuestos"}, "2025-01-03T10:00:00Z", 10)


def test_articles_come_in_every_locale_grouped_by_one_id(fake, connect):
    add_knowledge_base(fake)

    found = {(a.id, a.locale): a for a in records(list(connect().articles(None)))}

    assert set(found) == {
        ("100", "en-us"),
        ("100", "es"),
        ("101", "en-us"),
        ("102", "en-us"),
        ("102", "es"),
    }
    spanish = found[("100", "es")]
    assert isinstance(spanish, Article)
    assert spanish.group_id == found[("100", "en-us")].group_id == "100"
    assert (spanish.title, spanish.section, spanish.category) == (
        "Exportar facturas",
        "Facturas",
        "Facturación",
    )
    assert spanish.url == "https://acme.zendesk.com/hc/es/articles/100-Exportar-facturas"
    assert spanish.updated_at == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert found[("101", "en-us")].category == "Billing"
    include = fake.calls("/help_center/incremental/articles")[0]["include"]
    assert set(include.split(",")) == {"translations", "sections", "categories"}


def test_articles_page_by_end_time_and_resume_from_the_epoch_cursor(fake, connect):
    add_knowledge_base(fake)
    fake.article_page_size = 2
    connector = connect()

    batches = list(connector.articles(None))
    assert [b.cursor for b in batches] == [
        str(int(datetime(2025, 1, 2, 10, tzinfo=UTC).timestamp())),
        str(int(datetime(2025, 1, 3, 10, tzinfo=UTC).timestamp())),
    ]
    assert {a.id for a in records(batches)} == {"100", "101", "102"}

    fake.add_article(103, {"en-us": "New one"}, "2025-03-01T10:00:00Z", 10)
    later = {a.id for a in records(list(connector.articles(batches[-1].cursor)))}
    assert later == {"102", "103"}  # start_time is inclusive: the boundary comes again


def test_articles_without_embedded_translations_still_give_their_locale(fake, connect):
    add_knowledge_base(fake)
    fake.embed_translations = False

    found = [(a.id, a.locale, a.title) for a in records(list(connect().articles(None)))]

    assert found == [
        ("100", "en-us", "Export invoices"),
        ("101", "en-us", "Refunds"),
        ("102", "en-us", "Taxes"),
    ]


# -- reading history (user events) --------------------------------------------------------


def iso_z(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_history(fake: FakeZendesk, user_id: int = 5) -> None:
    article = {
        "article_id": 100,
        "article": {
            "display_name": "Export invoices",
            "url": "https://acme.zendesk.com/hc/es/articles/100-x",
        },
        "locale": "es",
    }
    fake.add_event(
        user_id,
        "article_viewed",
        "2025-01-05T10:00:00.074320469Z",
        article | {"channel": "help_center"},
    )
    fake.add_event(
        user_id,
        "help_center_searched",
        "2025-01-05T10:01:00Z",
        {
            "result_count": 0,
            "search_query": {
                "locale": "es",
                "page": 1,
                "page_size": 10,
                "query": "exportar csv",
                "search_id": "s-1",
                "channel": "help_center",
            },
        },
    )
    fake.add_event(user_id, "article_search_result_clicked", "2025-01-05T10:02:00Z", article)
    fake.add_event(
        user_id,
        "name_changed",
        "2025-01-05T10:03:00Z",
        {"current_value": "Ana", "previous_value": "A."},
    )
    fake.add_event(
        user_id,
        "answers_suggested",
        "2025-01-05T10:04:00Z",
        {"result_count": 3, "search_query": "refund please"},
    )
    fake.add_event(
        user_id,
        "suggested_article_clicked",
        "2025-01-05T10:05:00Z",
        {"article_id": 101, "article": {"display_name": "Refunds", "url": "u"}, "locale": "en-us"},
    )


@pytest.mark.parametrize("links_shape", ["array", "object"])
def test_user_events_become_touchpoints_whatever_the_links_shape(fake, connect, links_shape):
    fake.links_shape = links_shape
    add_history(fake)

    batches = list(connect().customer_touchpoints("5", None))
    found = records(batches)

    assert len(batches) == 3 and {b.scope for b in batches} == {"5"}
    assert all(isinstance(t, Touchpoint) for t in found)
    # A click leads to a view that fires its own article_viewed: it is a search touchpoint.
    assert [t.type for t in found] == ["article_view", "search", "search", "search", "search"]
    view, search, clicked, suggested, suggested_click = found
    assert (view.article_id, view.article_title, view.article_locale, view.channel) == (
        "100",
        "Export invoices",
        "es",
        "help_center",
    )
    assert view.occurred_at == datetime(2025, 1, 5, 10, 0, 0, 74320, tzinfo=UTC)
    assert view.customer.source_id == "5"
    assert view.properties["via"] == "direct"
    assert clicked.properties["via"] == "search_result"
    assert (clicked.properties["result_click"], clicked.article_id) == (True, "100")
    assert clicked.properties["article_id"] == "100"
    assert suggested_click.properties["via"] == "suggested_article"
    assert (suggested_click.channel, suggested_click.article_id) == ("request_form", "101")
    assert search.properties["query"] == "exportar csv"
    assert search.properties["result_count"] == 0
    assert search.channel == "help_center"
    assert suggested.properties["query"] == "refund please"
    assert suggested.properties["result_count"] == 3
    assert suggested.channel == "request_form"
    assert batches[-1].cursor == "2025-01-05T10:05:00.000000Z"
    first = fake.calls("/users/5/events")[0]
    assert (first["filter[source]"], first["page[size]"]) == ("zendesk", "2")


def test_search_query_shapes_are_read_for_either_event_type(fake, connect):
    fake.add_event(
        6,
        "help_center_searched",
        "2025-01-05T10:00:00Z",
        {"result_count": 1, "search_query": "plain string"},
    )
    fake.add_event(
        6,
        "answers_suggested",
        "2025-01-05T10:01:00Z",
        {"result_count": 2, "search_query": {"query": "as an object"}},
    )

    found = records(list(connect().customer_touchpoints("6", None)))

    assert [t.properties["query"] for t in found] == ["plain string", "as an object"]


def test_the_per_user_cursor_means_nothing_is_fetched_twice(fake, connect):
    add_history(fake)
    connector = connect()
    cursor = list(connector.customer_touchpoints("5", None))[-1].cursor

    again = list(connector.customer_touchpoints("5", cursor))
    assert records(again) == []
    assert again[-1].cursor == cursor
    assert fake.calls("/users/5/events")[-1]["filter[start_time]"] == cursor

    fake.add_event(5, "article_viewed", "2025-01-06T09:00:00Z", {"article_id": 102})
    fresh = list(connector.customer_touchpoints("5", cursor))
    assert [t.article_id for t in records(fresh)] == ["102"]
    assert fresh[-1].cursor == "2025-01-06T09:00:00.000000Z"


def test_malformed_events_are_rejected_and_the_others_kept(fake, connect):
    fake.add_event(7, "article_viewed", "2025-01-05T10:00:00Z", {"article_id": 1})
    fake.add_event(7, "article_viewed", "last tuesday", {"article_id": 2})
    fake.add_event(7, "article_viewed", "2025-01-05T10:02:00Z", {"locale": "en-us"})

    batches = list(connect(events_page_size=10).customer_touchpoints("7", None))

    assert [t.article_id for t in records(batches)] == ["1"]
    assert len(batches[0].rejected) == 2


def test_events_sorted_newest_first_move_the_cursor_only_at_the_end(fake, connect):
    add_history(fake)
    fake.events_newest_first = True
    since = "2025-01-05T09:00:00.000000Z"

    batches = list(connect().customer_touchpoints("5", since))

    assert len(records(batches)) == 5
    # Resuming from a middle batch must not skip the older events still to come.
    assert [b.cursor for b in batches] == [since, since, "2025-01-05T10:05:00.000000Z"]


def test_a_deleted_user_has_no_history_once_the_events_api_is_known_to_work(fake, connect):
    add_history(fake, 5)
    fake.deleted_users.add(8)
    connector = connect()
    list(connector.customer_touchpoints("5", None))

    assert list(connector.customer_touchpoints("8", None)) == []
    assert list(connector.customer_touchpoints("portal-visitor-1", None)) == []


def test_wrong_credentials_on_events_are_not_mistaken_for_a_missing_feature(fake, connect):
    with pytest.raises(AuthError) as failure:
        list(connect(token="wrong").customer_touchpoints("5", None))
    assert not isinstance(failure.value, FeatureUnavailableError)


def test_an_account_without_the_events_api_says_where_history_comes_from(fake, connect):
    fake.events_status = 403

    with pytest.raises(FeatureUnavailableError) as failure:
        list(connect().customer_touchpoints("5", None))

    assert "portal snippet" in str(failure.value)


def test_touchpoints_reads_the_history_of_requesters_with_updated_tickets(fake, connect):
    for n, requester in ((1, 5), (2, 6), (3, 5)):
        fake.add_ticket(ticket(n, requester=requester))
    add_history(fake, 5)
    add_history(fake, 6)
    stored = {"5": "2025-01-05T10:02:00.000000Z"}  # what the store already has for 5
    connector = connect(user_cursor=stored.get, export_page_size=10, events_page_size=100)

    batches = list(connector.touchpoints(None))

    # one stream batch per ticket page, then per user page (no user signed in lately)
    assert [(b.scope, len(b.records)) for b in batches] == [("5", 2), ("6", 5), ("", 0), ("", 0)]
    assert json.loads(batches[-1].cursor)["tickets"]  # the ticket export's after_cursor
    assert fake.calls("/users/5/events")[0]["filter[start_time]"] == stored["5"]
    assert "filter[start_time]" not in fake.calls("/users/6/events")[0]


def test_touchpoints_also_reads_people_who_signed_in_without_writing(fake, connect):
    now = time.time()
    signed_in = {"last_login_at": iso_z(now - 3600)}
    fake.add_user(user(7, **signed_in))  # read the help center, never wrote in
    fake.add_user(user(8, last_login_at=iso_z(now - 200 * 86_400)))  # long gone
    fake.add_user(user(9, **signed_in))  # read, but journeydesk has everything since
    fake.add_user(user(10, role="agent", **signed_in))
    fake.add_user(user(11))  # never signed in
    for user_id in (7, 8, 9, 10, 11):
        add_history(fake, user_id)
    stored = {"9": iso_z(now - 60)}
    connector = connect(user_cursor=stored.get, export_page_size=10, events_page_size=100)

    batches = list(connector.touchpoints(None))

    assert {b.scope for b in batches if b.records} == {"7"}
    assert [p for _, p, _ in fake.requests if p.endswith("/events")] == ["/api/v2/users/7/events"]
    cursor = json.loads(batches[-1].cursor)
    assert cursor["users"] and "tickets" in cursor

    again = list(connector.touchpoints(batches[-1].cursor))  # resumes both exports
    assert [b.records for b in again] == [[], []]


def test_a_touchpoints_cursor_of_the_older_shape_is_the_ticket_cursor(fake, connect):
    fake.add_ticket(ticket(1, requester=5))
    add_history(fake, 5)
    first = list(connect(export_page_size=10).touchpoints(None))
    plain = json.loads(first[-1].cursor)["tickets"]
    fake.add_ticket(ticket(2, requester=6, updated="2025-01-03T10:00:00Z"))
    add_history(fake, 6)

    batches = list(connect(export_page_size=10).touchpoints(plain))

    assert {b.scope for b in batches if b.records} == {"6"}


# -- the widened audience: tags and organizations ------------------------------------------


def stream_position(batches: list[Batch]) -> str:
    """The stream cursor the store keeps after `batches` (a user's batch carries it aside)."""
    last = batches[-1]
    return last.stream_cursor if last.scope else last.cursor


def read_users(batches: list[Batch]) -> list[str]:
    return list(dict.fromkeys(b.scope for b in batches if b.scope))


def test_a_tagged_user_who_never_wrote_in_has_their_history_read(fake, connect):
    fake.add_user(user(20, tags=["vip"]))  # never wrote in, never signed in lately
    fake.add_user(user(21, tags=["vip"], role="agent"))
    fake.add_user(user(22, tags=["other"]))
    fake.add_user(user(23, tags=["vip"], active=False))
    for user_id in (20, 21, 22, 23):
        add_history(fake, user_id)
    connector = connect(history_user_tags=["vip"], export_page_size=10, events_page_size=100)

    batches = list(connector.touchpoints(None))

    assert read_users(batches) == ["20"]
    assert {type(r) for r in records(batches)} == {Touchpoint}
    search = fake.calls("/search/export")
    assert search == [{"query": "tags:vip", "filter[type]": "user", "page[size]": "100"}]
    assert "audience" not in json.loads(stream_position(batches))  # the round is complete


def test_members_of_an_organization_by_id_or_name_have_their_history_read(fake, connect):
    for user_id in (30, 31, 32, 33):
        fake.add_user(user(user_id))
        add_history(fake, user_id)
    fake.add_user(user(34, role="agent"))
    fake.add_organization(500, "Acme Inc", members=[30, 31, 34])
    fake.add_organization(501, "Globex", members=[31, 32])  # 31 belongs to both
    connector = connect(
        history_organizations=["acme inc", "501"], audience_page_size=2, events_page_size=100
    )

    batches = list(connector.touchpoints(None))

    assert read_users(batches) == ["30", "31", "32"]  # each once; never 33 or the agent
    assert fake.calls("/organizations/search") == [{"name": "acme inc"}]
    assert [c.get("role") for c in fake.calls("/organizations/500/users")] == ["end-user"]


def test_an_unknown_organization_names_the_setting_to_fix(fake, connect):
    fake.add_user(user(30))
    connector = connect(
        history_organizations=["Nobody Ltd"], audience_setting="connectors[0].history_organizations"
    )
    with pytest.raises(NotFoundError) as error:
        list(connector.touchpoints(None))
    assert "Nobody Ltd" in str(error.value)
    assert error.value.setting == "connectors[0].history_organizations"


def test_the_cap_defers_the_rest_of_the_audience_to_the_next_syncs(fake, connect):
    for user_id in range(40, 45):
        fake.add_user(user(user_id, tags=["vip"], created_at=f"2024-06-0{user_id - 39}T09:00:00Z"))
        add_history(fake, user_id)
    stored: dict[str, str] = {}
    connector = connect(
        history_user_tags=["vip"],
        history_users_per_sync=2,
        audience_page_size=3,
        events_page_size=100,
        user_cursor=stored.get,
    )

    def sync(position: str | None) -> tuple[list[str], str]:
        batches = list(connector.touchpoints(position))
        stored.update({b.scope: b.cursor for b in batches if b.scope})
        return read_users(batches), stream_position(batches)

    first, position = sync(None)
    second, position = sync(position)
    third, position = sync(position)
    assert (first, second, third) == (["40", "41"], ["42", "43"], ["44"])
    events_calls = len(fake.calls("/events"))
    assert events_calls == 5  # nobody read twice within a round

    fourth, _ = sync(position)  # a new round: everyone again, from their own cursor
    assert fourth == ["40", "41"]
    assert all(c["filter[start_time]"] for c in fake.calls("/events")[events_calls:])


def test_a_user_read_as_a_requester_is_not_read_again_nor_counted(fake, connect):
    fake.add_user(user(50, tags=["vip"]))
    fake.add_user(user(51, tags=["vip"]))
    fake.add_ticket(ticket(1, requester=50))
    for user_id in (50, 51):
        add_history(fake, user_id)
    connector = connect(history_user_tags=["vip"], history_users_per_sync=1, events_page_size=100)

    batches = list(connector.touchpoints(None))

    assert read_users(batches) == ["50", "51"]
    assert len(fake.calls("/users/50/events")) == 1


def test_rate_limits_on_the_audience_lists_are_waited_out(fake, connect, clock):
    fake.add_user(user(60, tags=["vip"]))
    add_history(fake, 60)
    fake.fail("/search/export", 429, retry_after=7)

    batches = list(connect(history_user_tags=["vip"]).touchpoints(None))

    assert read_users(batches) == ["60"]
    assert 7.0 in clock.sleeps


def test_an_expired_search_cursor_starts_that_tag_over(fake, connect):
    for user_id in (70, 71, 72):
        fake.add_user(user(user_id, tags=["vip"]))
        add_history(fake, user_id)
    connector = connect(history_user_tags=["vip"], history_users_per_sync=1, audience_page_size=1)
    first = list(connector.touchpoints(None))
    assert json.loads(stream_position(first))["audience"]["page"]  # resumes on page 2

    fake.search_cursor_ttl = -1  # the worker was down for more than an hour
    again = list(connector.touchpoints(stream_position(first)))

    assert read_users(again) == ["70"]  # from the first page again, no error
    assert "page[after]" not in fake.calls("/search/export")[-1]


def test_signed_in_days_zero_skips_the_user_export_pass(fake, connect):
    fake.add_user(user(80, last_login_at=iso_z(time.time() - 3600)))
    add_history(fake, 80)

    batches = list(connect(history_signed_in_days=0).touchpoints(None))

    assert read_users(batches) == []
    assert fake.calls("/incremental/users") == []


def test_signed_in_days_widens_or_narrows_the_signed_in_pass(fake, connect):
    fake.add_user(user(81, last_login_at=iso_z(time.time() - 120 * 86_400)))
    add_history(fake, 81)

    assert read_users(list(connect().touchpoints(None))) == []
    assert read_users(list(connect(history_signed_in_days=180).touchpoints(None))) == ["81"]


# -- single tickets -------------------------------------------------------------------------


def test_fetch_ticket_returns_the_ticket_and_its_requester(fake, connect):
    fake.add_user(user(5, user_fields={"plan": "basic"}))
    fake.add_ticket(ticket(30, requester=5))
    connector = connect()

    found = connector.fetch_ticket("30")

    assert found is not None
    fetched, requester = found
    assert fetched.id == "30" and requester is not None
    assert (requester.source_id, requester.plan) == ("5", "basic")
    assert fake.calls("/tickets/30")[0]["include"] == "users"
    assert connector.fetch_ticket("404") is None
    assert connector.fetch_ticket("../users") is None


def test_update_ticket_adds_tags_to_the_current_ones_in_order(fake, connect):
    fake.add_ticket(ticket(31, tags=["vip", "billing"], priority="normal"))
    connector = connect()

    connector.update_ticket("31", priority="urgent", add_tags=("journey_purchase", "vip"))

    ((_, _, sent),) = fake.writes
    assert sent["tags"] == ["vip", "billing", "journey_purchase"]
    assert sent["priority"] == "urgent"
    assert sent["safe_update"] is True
    shown = connector.fetch_ticket("31")
    assert shown is not None and shown[0].tags == ("vip", "billing", "journey_purchase")


def test_update_ticket_sends_nothing_when_nothing_changes(fake, connect):
    fake.add_ticket(ticket(32, tags=["a"], priority="high"))

    connect().update_ticket("32", priority="high", add_tags=("a",))
    connect().update_ticket("32")

    assert fake.writes == []


def test_update_ticket_keeps_tags_another_agent_added_meanwhile(fake, connect):
    fake.add_ticket(ticket(33, tags=["a"]))
    fake.concurrent_tags = ["added_by_agent"]

    connect().update_ticket("33", add_tags=("ours",))

    assert [w[2]["tags"] for w in fake.writes] == [["a", "ours"], ["a", "added_by_agent", "ours"]]
    assert fake.tickets.rows[33][1]["tags"] == ["a", "added_by_agent", "ours"]


def test_update_ticket_refuses_unknown_priorities(connect):
    with pytest.raises(ValueError):
        connect().update_ticket("1", priority="whenever")


def test_send_outbound_opens_a_ticket_with_a_public_comment(fake, connect):
    customer = Customer(source_id="5", email="ana@example.com", name="Ana")

    reference = connect().send_outbound(customer, "Still stuck?", "Here is a guide.")

    ((_, _, sent),) = fake.writes
    assert sent == {
        "subject": "Still stuck?",
        "requester_id": 5,
        "comment": {"body": "Here is a guide.", "public": True},
    }
    assert reference == str(fake.tickets.rows[int(reference)][1]["id"])


def test_send_outbound_to_a_customer_known_by_email_only(fake, connect):
    customer = Customer(source_id="portal:ana", email="ana@example.com")

    connect().send_outbound(customer, "Hello", "Body")

    ((_, _, sent),) = fake.writes
    assert sent["requester"] == {"email": "ana@example.com", "name": "ana@example.com"}


# -- article URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.zendesk.com/hc/en-us/articles/360001-How-to-export", "360001"),
        ("https://acme.zendesk.com/hc/es/articles/360001-C%C3%B3mo-exportar", "360001"),
        ("https://acme.zendesk.com/hc/articles/360001", "360001"),
        ("https://acme.zendesk.com/hc/articles/360001-slug", "360001"),
        ("https://acme.zendesk.com/hc/en-us/articles/360001", "360001"),
        ("https://acme.zendesk.com/hc/en-us/articles/360001/", "360001"),
        ("http://acme.zendesk.com/hc/en-us/articles/360001-x", "360001"),
        ("https://help.acme.example/hc/pt-br/articles/360001-x", "360001"),
        ("https://acme.zendesk.com/hc/en-us/articles/360001-x?utm_source=reply#step-2", "360001"),
        ("https://acme.zendesk.com/hc/en-us/articles/360001#section", "360001"),
        ("HTTPS://ACME.ZENDESK.COM/HC/EN-US/ARTICLES/360001-X", "360001"),
        ("  https://acme.zendesk.com/hc/en-us/articles/360001-x  ", "360001"),
        ("https://acme.zendesk.com/api/v2/help_center/en-us/articles/360001.json", "360001"),
        ("https://acme.zendesk.com/api/v2/help_center/articles/360001.json", "360001"),
        ("https://acme.zendesk.com/api/v2/help_center/articles/360001", "360001"),
        ("/hc/en-us/articles/360001-relative", "360001"),
        ("https://acme.zendesk.com/hc/en-us/sections/360002-Billing", None),
        ("https://acme.zendesk.com/hc/en-us/community/posts/360003-x", None),
        ("https://acme.zendesk.com/hc/en-us/articles/not-a-number", None),
        ("https://acme.zendesk.com/hc/en-us/articles/360001abc", None),
        ("https://acme.zendesk.com/hc/en-us", None),
        ("https://example.com/blog/articles/360001", None),
        ("", None),
        ("not a url", None),
    ],
)
def test_article_ref_reads_every_zendesk_article_url_form(url, expected):
    connector = ZendeskConnector("zendesk", SUBDOMAIN, EMAIL, TOKEN)
    assert connector.article_ref(url) == expected


def test_a_note_is_one_private_comment_sent_once_and_found_past_the_first_page(fake, connect):
    fake.add_ticket(
        {"id": 77, "requester_id": 1, "subject": "Hi", "updated_at": "2025-01-01T10:00:00Z"}
    )
    for number in range(150):  # a long ticket: the note is on the second page of comments
        fake._add_comment(77, {"body": f"reply {number}", "public": True})
    connector = connect()
    assert not connector.has_note("77", "jd-note:zendesk:77")

    fake.fail("/api/v2/tickets/77.json", 503)  # PUT adding a comment: never retried inside
    with pytest.raises(ConnectorError):
        connector.post_note("77", Note("<p>Stage: Purchase</p>", "Stage: Purchase", "x"))
    connector.post_note(
        "77", Note("<p>Stage <b>x</b> jd-note:zendesk:77</p>", "t", "jd-note:zendesk:77")
    )

    [note] = fake.private_comments(77)
    assert note["html_body"] == "<p>Stage <b>x</b> jd-note:zendesk:77</p>"
    assert [m for m, p, _ in fake.requests if p == "/api/v2/tickets/77.json"] == ["PUT", "PUT"]
    read_before = len(fake.calls("/api/v2/tickets/77/comments"))
    assert connector.has_note("77", "jd-note:zendesk:77")
    assert len(fake.calls("/api/v2/tickets/77/comments")) - read_before == 2  # two pages
    assert not connector.has_note("77", "jd-note:zendesk:78")
