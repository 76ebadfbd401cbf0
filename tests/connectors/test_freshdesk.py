"""The Freshdesk connector against the fake Freshdesk on a real local server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.errors import AuthError, BadPayloadError, ConnectorError
from connectors.freshdesk import FreshdeskConnector
from connectors.protocol import Connector
from connectors.records import Article, Batch, Customer, CustomerRef, Ticket, Touchpoint
from tests.fakes.freshdesk import API_KEY, DOMAIN, FakeFreshdesk, iso
from tests.fakes.serving import serving


@pytest.fixture(scope="module")
def server() -> Iterator:
    with serving() as running:
        yield running


@pytest.fixture
def fake(server) -> FakeFreshdesk:
    return FakeFreshdesk(server)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connect(fake: FakeFreshdesk, sleeps: list[float], **options) -> FreshdeskConnector:
    return FreshdeskConnector(
        "freshdesk",
        DOMAIN,
        options.pop("api_key", API_KEY),
        base_url=fake.base_url,
        sleep=sleeps.append,
        **options,
    )


def drain(batches: Iterator[Batch]) -> list[Batch]:
    return list(batches)


def ids(batches: list[Batch]) -> list[str]:
    return [record.id for batch in batches for record in batch.records]  # type: ignore[union-attr]


def add_tickets(fake: FakeFreshdesk, count: int, *, same_second: int = 1) -> list[int]:
    """`count` tickets, `same_second` of them sharing each updated_at."""
    made = []
    for n in range(count):
        if n % same_second == 0:
            fake.tick()
        made.append(fake.add_ticket(updated_at=iso(fake.now))["id"])
    return made


# -- tickets -----------------------------------------------------------------------------------


def test_full_ticket_sync_gets_every_ticket_once_with_resumable_cursors(fake, sleeps):
    made = add_tickets(fake, 95)
    batches = drain(connect(fake, sleeps, per_page=10).tickets(None))
    assert sorted(ids(batches)) == sorted(str(i) for i in made)
    assert len(ids(batches)) == len(set(ids(batches)))
    for batch in batches:  # each cursor is the newest updated_at it covers
        newest = max(t.updated_at for t in batch.records)
        assert batch.cursor == newest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [b.cursor for b in batches] == sorted(b.cursor for b in batches)
    first = fake.requests[0][2]
    assert first["order_by"] == "updated_at" and first["order_type"] == "asc"
    assert first["include"] == "stats" and first["per_page"] == "10"
    assert first["updated_since"] == "1999-12-31T23:59:59Z"  # full sync, one second early


def test_incremental_sync_resumes_from_the_cursor(fake, sleeps):
    made = add_tickets(fake, 30)
    connector = connect(fake, sleeps, per_page=10)
    cursor = drain(connector.tickets(None))[-1].cursor
    fake.touch_ticket(made[0])
    new = fake.add_ticket()["id"]
    got = set(ids(drain(connector.tickets(cursor))))
    assert {str(new), str(made[0])} <= got
    # Besides the changes, only the overlap second before the cursor is read again.
    assert got - {str(new), str(made[0])} <= {str(made[-2]), str(made[-1])}


def test_tickets_keep_coming_past_the_page_cap(fake, sleeps):
    made = add_tickets(fake, 60, same_second=3)  # a real 300-page cap, scaled down to 2
    fake.page_cap = 2
    batches = drain(connect(fake, sleeps, per_page=5, page_cap=2).tickets(None))
    assert sorted(ids(batches)) == sorted(str(i) for i in made)
    assert len(ids(batches)) == 60
    assert 400 not in fake.statuses


def test_many_tickets_in_one_second_are_followed_by_link(fake, sleeps):
    made = add_tickets(fake, 24, same_second=12)
    fake.page_cap = 6  # a window spans the overlap second too: 24 tickets, 30 per window
    batches = drain(connect(fake, sleeps, per_page=5, page_cap=6).tickets(None))
    assert sorted(ids(batches)) == sorted(str(i) for i in made) and len(ids(batches)) == 24
    assert any(args.get("page") == "3" for _, _, args in fake.requests)


def test_more_tickets_in_one_second_than_the_cap_allows_is_an_error(fake, sleeps):
    add_tickets(fake, 20, same_second=20)
    fake.page_cap = 2
    with pytest.raises(ConnectorError, match="cannot page past them"):
        drain(connect(fake, sleeps, per_page=5, page_cap=2).tickets(None))


def test_nothing_is_lost_when_tickets_change_during_the_sync(fake, sleeps):
    made = add_tickets(fake, 40)
    served = []

    def update_an_early_ticket(fake: FakeFreshdesk, request) -> None:
        served.append(request.path)
        if len(served) == 2:  # an early ticket moves to the end of the list
            fake.touch_ticket(made[0])

    fake.after_request = update_an_early_ticket
    got = ids(drain(connect(fake, sleeps, per_page=10).tickets(None)))
    assert set(got) == {str(i) for i in made}


def test_exclusive_updated_since_loses_nothing(fake, sleeps):
    fake.since_inclusive = False  # the docs do not say which it is
    made = add_tickets(fake, 33, same_second=2)
    got = ids(drain(connect(fake, sleeps, per_page=10).tickets(None)))
    assert sorted(got) == sorted(str(i) for i in made)


def test_fields_and_codes_become_words(fake, sleeps):
    fake.add_contact(55, email="rita@example.com")
    fake.add_ticket(
        7,
        requester_id=55,
        status=4,
        priority=2,
        source=7,
        tags=["vip"],
        _resolved_at="2025-02-01T10:00:00Z",
        _first_responded_at="2025-01-31T10:00:00Z",
    )
    fake.add_ticket(8, status=6, priority=4, source=1)  # a custom status
    fake.add_ticket(9, status=5, priority=3, source=99)
    tickets = {t.id: t for b in drain(connect(fake, sleeps).tickets(None)) for t in b.records}
    seven = tickets["7"]
    assert isinstance(seven, Ticket)
    assert (seven.status, seven.priority, seven.channel) == ("solved", "normal", "chat")
    assert seven.requester == CustomerRef(source_id="55")
    assert seven.tags == ("vip",)
    assert seven.solved_at == datetime(2025, 2, 1, 10, tzinfo=UTC)
    assert seven.first_response_at == datetime(2025, 1, 31, 10, tzinfo=UTC)
    assert (tickets["8"].status, tickets["8"].priority, tickets["8"].channel) == (
        "open",
        "urgent",
        "email",
    )
    assert (tickets["9"].status, tickets["9"].priority, tickets["9"].channel) == (
        "closed",
        "high",
        "other",
    )


def test_requester_email_when_asked_to_embed_it(fake, sleeps):
    fake.add_contact(55, email="rita@example.com")
    fake.add_ticket(7, requester_id=55)
    batches = drain(connect(fake, sleeps, include_requester=True).tickets(None))
    assert batches[0].records[0].requester == CustomerRef(source_id="55", email="rita@example.com")
    assert fake.requests[0][2]["include"] == "stats,requester"


def test_a_bad_record_is_rejected_and_its_page_kept(fake, sleeps):
    good = add_tickets(fake, 4)
    stamp = iso(fake.now)
    fake.put_raw_ticket({"id": 501, "status": 2, "created_at": stamp, "updated_at": stamp})
    fake.put_raw_ticket({"id": 502, "requester_id": 1, "status": 2, "updated_at": stamp})
    fake.put_raw_ticket({"id": "x", "requester_id": 1, "status": 2, "updated_at": stamp})
    batches = drain(connect(fake, sleeps).tickets(None))
    assert sorted(ids(batches)) == sorted(str(i) for i in good)
    reasons = [r for b in batches for r in b.rejected]
    assert len(reasons) == 3
    assert any("501" in r and "requester" in r for r in reasons)
    assert any("502" in r and "created_at" in r for r in reasons)
    assert any("id" in r for r in reasons)


def test_a_malformed_page_stops_the_sync_and_it_resumes_from_the_cursor(fake, sleeps):
    made = add_tickets(fake, 30)
    connector = connect(fake, sleeps, per_page=10)
    stream = connector.tickets(None)
    first = next(stream)
    fake.fail(200, body='[{"id": 1, "subj', path="/api/v2/tickets")
    with pytest.raises(BadPayloadError):
        next(stream)
    rest = drain(connector.tickets(first.cursor))
    assert {t.id for t in first.records} | set(ids(rest)) == {str(i) for i in made}


def test_per_page_is_clamped_to_the_documented_maximum(fake, sleeps):
    add_tickets(fake, 3)
    drain(connect(fake, sleeps, per_page=500).tickets(None))
    assert fake.requests[0][2]["per_page"] == "100" and fake.statuses == [200]


def test_rate_limits_and_server_errors_are_ridden_out(fake, sleeps):
    made = add_tickets(fake, 25)
    fake.fail(429, headers={"Retry-After": "9"}, path="/api/v2/tickets")
    fake.fail(502, path="/api/v2/tickets")
    got = ids(drain(connect(fake, sleeps, per_page=10).tickets(None)))
    assert sorted(got) == sorted(str(i) for i in made)
    assert sleeps[0] == 9.0 and len(sleeps) == 2


def test_wrong_api_key_is_an_auth_error_without_the_key(fake, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "fd-revoked-key-9876543210"
    with pytest.raises(AuthError) as caught:
        drain(connect(fake, sleeps, api_key=wrong).tickets(None))
    assert "connectors.freshdesk.api_key_env" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in caplog.text


# -- one ticket, writes -------------------------------------------------------------------------


def test_fetch_ticket_with_its_requester(fake, sleeps):
    fake.add_contact(55, email="rita@example.com", name="Rita")
    fake.add_ticket(7, requester_id=55, subject="Printer on fire")
    ticket, requester = connect(fake, sleeps).fetch_ticket("7")
    assert ticket.subject == "Printer on fire" and ticket.requester.source_id == "55"
    assert requester == Customer(source_id="55", email="rita@example.com", name="Rita")
    assert fake.requests[0][2]["include"] == "requester,stats"


def test_fetch_missing_ticket_is_none(fake, sleeps):
    assert connect(fake, sleeps).fetch_ticket("404404") is None


def test_update_ticket_sets_priority_and_merges_tags(fake, sleeps):
    fake.add_ticket(7, tags=["billing", "vip"], priority=1)
    connect(fake, sleeps).update_ticket("7", priority="urgent", add_tags=("vip", "sla_breach"))
    assert fake.tickets[7]["priority"] == 4
    assert fake.tickets[7]["tags"] == ["billing", "vip", "sla_breach"]


def test_update_ticket_without_changes_writes_nothing(fake, sleeps):
    fake.add_ticket(7, tags=["vip"])
    connect(fake, sleeps).update_ticket("7", add_tags=("vip",))
    assert fake.paths("PUT") == []
    with pytest.raises(ValueError, match="unknown priority"):
        connect(fake, sleeps).update_ticket("7", priority="asap")


def test_send_outbound_creates_a_closed_outbound_ticket(fake, sleeps):
    connector = connect(fake, sleeps, email_config_id=42)
    customer = Customer(source_id="55", email="rita@example.com", name="Rita")
    ref = connector.send_outbound(customer, "Still stuck?", "Hi Rita,\nsee <this> guide.")
    ticket = fake.tickets[int(ref)]
    assert (ticket["source"], ticket["status"], ticket["email_config_id"]) == (10, 5, 42)
    assert ticket["description"] == "Hi Rita,<br>\nsee &lt;this&gt; guide."
    assert len(fake.paths("POST")) == 1


def test_send_outbound_needs_the_mailbox_and_an_email(fake, sleeps):
    with pytest.raises(ConnectorError, match="email_config_id") as caught:
        connect(fake, sleeps).send_outbound(Customer(source_id="1", email="a@b.c"), "s", "b")
    assert caught.value.setting == "connectors.freshdesk.email_config_id"
    with pytest.raises(ConnectorError, match="no email"):
        connect(fake, sleeps, email_config_id=1).send_outbound(Customer(source_id="1"), "s", "b")
    assert fake.requests == []


def test_article_views_are_pushed_to_contact_timelines(fake, sleeps, caplog):
    fake.add_contact(55, email="rita@example.com")
    when = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

    def view(n: int, customer: CustomerRef, kind: str = "article_view") -> Touchpoint:
        return Touchpoint(
            id=f"tp{n}",
            type=kind,
            occurred_at=when,
            customer=customer,
            article_id="900",
            article_title="Reset your password",
            article_url=f"https://{DOMAIN}/support/solutions/articles/900-reset",
        )

    views = [
        view(1, CustomerRef(email="rita@example.com")),
        view(2, CustomerRef(source_id="55")),
        view(3, CustomerRef(email="rita@example.com"), kind="search"),  # not a view
        view(4, CustomerRef(anonymous_id="anon-1")),  # nobody the desk knows
        view(5, CustomerRef(email="stranger@example.com")),  # refused by the desk
    ]
    with caplog.at_level(logging.WARNING):
        assert connect(fake, sleeps).push_article_views(views) == 2
    first = fake.activities[0]
    assert first["contact"] == {"email": "rita@example.com"}
    assert first["activity"]["timestamp"] == "2025-03-01T09:30:00Z"
    assert first["activity"]["object"]["id"] == "900"
    assert fake.activities[1]["contact"] == {"id": 55}
    assert "tp5" in caplog.text


# -- contacts ----------------------------------------------------------------------------------


def test_contacts_sync_keeps_the_cursor_until_the_last_page(fake, sleeps):
    base = fake.now
    for n, minutes in enumerate([50, 10, 40, 20, 30, 5, 45], start=1):
        stamp = iso(base + timedelta(minutes=minutes))
        fake.add_contact(n, updated_at=stamp, unique_external_id=f"ext-{n}", phone="+1 555")
    batches = drain(connect(fake, sleeps, per_page=3).customers("2020-01-01T00:00:00Z"))
    assert [b.cursor for b in batches[:-1]] == ["2020-01-01T00:00:00Z"] * (len(batches) - 1)
    assert batches[-1].cursor == iso(base + timedelta(minutes=50))
    people = [c for b in batches for c in b.records]
    assert sorted(int(c.source_id) for c in people) == list(range(1, 8))
    one = next(c for c in people if c.source_id == "1")
    assert isinstance(one, Customer)
    assert (one.email, one.external_id, one.locale) == ("c1@example.com", "ext-1", "en")
    assert one.attributes["phone"] == "+1 555"


def test_contacts_since_filters_and_rejects_bad_rows(fake, sleeps):
    fake.add_contact(1, updated_at="2021-01-01T00:00:00Z")
    fake.add_contact(2, updated_at="2023-01-01T00:00:00Z")
    fake.add_contact(3, updated_at="not a time")
    batches = drain(connect(fake, sleeps).customers("2022-01-01T00:00:00Z"))
    assert ids_of_customers(batches) == ["2"]
    assert any("contact 3" in r for b in batches for r in b.rejected)


def ids_of_customers(batches: list[Batch]) -> list[str]:
    return [c.source_id for b in batches for c in b.records]  # type: ignore[union-attr]


# -- knowledge base -----------------------------------------------------------------------------


def build_kb(fake: FakeFreshdesk) -> dict[str, int]:
    fake.languages = ["es"]
    cat = fake.add_category({"en": "Billing", "es": "Facturación"})
    top = fake.add_folder(cat, {"en": "Payments", "es": "Pagos"})
    sub = fake.add_folder(cat, {"en": "Refunds", "es": "Reembolsos"}, parent=top)
    only_en = fake.add_folder(cat, {"en": "Internal notes"})
    return {
        "paid": fake.add_article(top, {"en": "Pay an invoice", "es": "Pagar una factura"}),
        "refund": fake.add_article(sub, {"en": "Ask for a refund", "es": "Pedir un reembolso"}),
        "draft": fake.add_article(only_en, {"en": "Draft: new plans"}, status=1),
        **{f"many{n}": fake.add_article(top, {"en": f"Tip {n}"}) for n in range(4)},
    }


def test_articles_in_every_language_with_subfolders(fake, sleeps):
    made = build_kb(fake)
    batches = drain(connect(fake, sleeps, per_page=3).articles(None))
    articles = [a for b in batches for a in b.records]
    assert all(isinstance(a, Article) for a in articles)
    by_key = {(a.id, a.locale): a for a in articles}
    assert len(by_key) == len(articles) == 7 + 2  # seven in English, two translated
    refund_es = by_key[(str(made["refund"]), "es")]
    assert refund_es.title == "Pedir un reembolso"
    assert (refund_es.section, refund_es.category) == ("Reembolsos", "Facturación")
    assert refund_es.url == (
        f"https://{DOMAIN}/es/support/solutions/articles/{made['refund']}-pedir-un-reembolso"
    )
    paid = by_key[(str(made["paid"]), "en")]
    assert paid.url == f"https://{DOMAIN}/support/solutions/articles/{made['paid']}-pay-an-invoice"
    assert by_key[(str(made["draft"]), "en")].draft and not paid.draft
    assert batches[-1].records == [] and batches[-1].cursor == iso(fake.now)
    assert all(b.cursor is None for b in batches[:-1])


def test_articles_since_yields_only_changes(fake, sleeps):
    build_kb(fake)
    connector = connect(fake, sleeps)
    cursor = drain(connector.articles(None))[-1].cursor
    folder = next(iter(fake.folders))
    new = fake.add_article(folder, {"en": "Brand new"})
    again = drain(connector.articles(cursor))
    got = {a.id for b in again for a in b.records}
    assert str(new) in got and len(got) <= 2  # the cursor is inclusive: the boundary again
    assert again[-1].cursor == iso(fake.now)


def test_articles_without_settings_access_sync_the_primary_language(fake, sleeps, caplog):
    build_kb(fake)
    fake.settings_status = 403
    with caplog.at_level(logging.WARNING):
        batches = drain(connect(fake, sleeps).articles(None))
    assert {a.locale for b in batches for a in b.records} == {"en"}
    assert "primary language only" in caplog.text


def test_configured_languages_skip_the_settings_call(fake, sleeps):
    build_kb(fake)
    drain(connect(fake, sleeps, languages=["en", "es"]).articles(None))
    assert "/api/v2/settings/helpdesk" not in fake.paths()


# -- the rest of the protocol -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://{DOMAIN}/support/solutions/articles/900-reset-password", "900"),
        ("https://help.acme.example/es/support/solutions/articles/900-restablecer", "900"),
        ("https://help.acme.example/pt-BR/support/solutions/articles/900", "900"),
        ("https://help.acme.example/support/solutions/articles/900-x/?utm=1#top", "900"),
        ("/support/solutions/articles/12", "12"),
        ("https://help.acme.example/support/solutions/folders/900", None),
        ("https://help.acme.example/hc/en-us/articles/900-zendesk", None),
        ("not a url", None),
    ],
)
def test_article_ref(url, expected):
    connector = FreshdeskConnector("freshdesk", "acme", "key", base_url="http://127.0.0.1:9")
    assert connector.article_ref(url) == expected
    assert connector.domain == DOMAIN


def test_no_reading_history_and_the_protocol_is_met(fake, sleeps):
    connector = connect(fake, sleeps)
    assert isinstance(connector, Connector)
    assert list(connector.touchpoints(None)) == []
    assert list(connector.customer_touchpoints("55", None)) == []
    assert fake.requests == []
