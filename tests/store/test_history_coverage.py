"""count_without_synced_history: desk users whose reading history was never read."""

from __future__ import annotations

from connectors.records import Customer, CustomerRef
from plugin.store import open_store
from plugin.store.customers import find_customer, merge_customers, upsert_customers
from plugin.store.history import count_without_synced_history
from plugin.store.sync_state import record_history_fetch, set_cursor


def test_counts_desk_users_never_read_by_a_sync_or_on_demand(tmp_path, store_location):
    with open_store(store_location) as db:
        upsert_customers(db, "zendesk", [Customer(source_id=str(n)) for n in (1, 2, 3, 4)])
        upsert_customers(db, "portal:site", [Customer(source_id="visitor-9")])
        assert count_without_synced_history(db, "zendesk") == 4

        set_cursor(db, "zendesk", "touchpoints", "2025-01-01T00:00:00.000000Z", scope="1")
        record_history_fetch(db, "zendesk", "2", 1_700_000_000)
        set_cursor(db, "zendesk", "touchpoints", '{"tickets":null,"users":null}')  # stream's own

        assert count_without_synced_history(db, "zendesk") == 2  # 3 and 4; never the visitor
        ids = [find_customer(db, CustomerRef(source_id=s), "zendesk") for s in ("1", "3")]
        assert count_without_synced_history(db, "zendesk", ids) == 1
        assert count_without_synced_history(db, "zendesk", []) == 0
        assert count_without_synced_history(db, "freshdesk") == 0


def test_a_merged_customer_counts_once_and_as_read_if_any_of_its_users_was(
    tmp_path, store_location
):
    with open_store(store_location) as db:
        upsert_customers(db, "zendesk", [Customer(source_id="1"), Customer(source_id="2")])
        one, two = (find_customer(db, CustomerRef(source_id=s), "zendesk") for s in ("1", "2"))
        merge_customers(db, two, one, reason="test")
        assert count_without_synced_history(db, "zendesk") == 1
        set_cursor(db, "zendesk", "touchpoints", "2025-01-01T00:00:00.000000Z", scope="2")
        assert count_without_synced_history(db, "zendesk") == 0
