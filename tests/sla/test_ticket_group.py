"""`ticket.group`: the group a ticket is assigned to, by the desk's name for it, read from
local servers speaking Zendesk's and Freshdesk's APIs, stored, and tested by SLA rules."""

from __future__ import annotations

from connectors.freshdesk import FreshdeskConnector
from connectors.zendesk import ZendeskConnector
from plugin.sla.apply import ticket_facts
from plugin.sla.rules import decide, load_sla_rules
from plugin.store import open_store
from plugin.store.tickets import as_record, get_ticket, upsert_tickets
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk
from tests.fakes.zendesk import FakeZendesk
from tests.helpers.desks import EMAIL, TOKEN, add_customer, add_ticket

RULES = {
    "rules": [
        {
            "name": "billing-team",
            "priority": "high",
            "when": {"all": [{"fact": "ticket.group", "op": "eq", "value": "Billing"}]},
        }
    ]
}


def test_zendesk_tickets_carry_their_group_name_and_rules_can_test_it(httpserver, store_location):
    fake = FakeZendesk(httpserver)
    for group_id in range(1, 151):  # more than one page of groups
        fake.add_group(group_id, f"Team {group_id}")
    fake.add_group(360, "Billing")
    add_customer(fake, 1)
    for ticket_id, group in ((10, 360), (11, 42), (12, None), (13, 999)):
        add_ticket(fake, ticket_id, 1, at=1_700_000_000)
        fake.tickets.put(ticket_id, {**fake._ticket(str(ticket_id)), "group_id": group})
    connector = ZendeskConnector("zendesk", "", EMAIL, TOKEN, base_url=fake.base_url)

    tickets = {t.id: t for batch in connector.tickets(None) for t in batch.records}

    assert {i: t.group for i, t in tickets.items()} == {
        "10": "Billing",
        "11": "Team 42",
        "12": None,
        "13": "999",  # a group the desk no longer lists keeps its id
    }
    assert len(fake.calls("/api/v2/groups")) == 2  # read once per connector, both pages
    assert connector.fetch_ticket("10")[0].group == "Billing"
    rules = load_sla_rules(RULES, file="config.toml")
    with open_store(store_location) as db:
        upsert_tickets(db, "zendesk", tickets.values())
        stored = as_record(get_ticket(db, "zendesk", "10"))
    assert stored.group == "Billing"
    assert decide(rules, ticket_facts("zendesk", stored)).rule == "billing-team"
    assert decide(rules, ticket_facts("zendesk", tickets["11"])).rule is None


def test_freshdesk_tickets_carry_their_group_name(httpserver):
    fake = FakeFreshdesk(httpserver)
    fake.add_group(7, "Billing")
    fake.add_contact(42, email="bea@example.com")
    fake.add_ticket(900, requester_id=42, group_id=7)
    fake.add_ticket(901, requester_id=42, group_id=None)
    connector = FreshdeskConnector("support", "acme", API_KEY, base_url=fake.base_url)

    groups = {t.id: t.group for batch in connector.tickets(None) for t in batch.records}

    assert groups == {"900": "Billing", "901": None}
    assert connector.fetch_ticket("900")[0].group == "Billing"
