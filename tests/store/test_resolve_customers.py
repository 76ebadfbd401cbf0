"""`resolve_customers` (a batch) gives what `resolve_customer` gives one reference at a time
(once the batch's own merges are done: the batch never answers a customer merged away)."""

from __future__ import annotations

from connectors.records import CustomerRef
from plugin.store import open_db
from plugin.store.customers import (
    customer_identities,
    merge_customers,
    resolve_customer,
    resolve_customers,
)

SOURCE = "zendesk"


def _desk(path):
    """Customers known by each kind of identity, one merged away."""
    db = open_db(path)
    with db.atomic():
        ids = {
            "user": resolve_customer(db, CustomerRef(source_id="501"), SOURCE),
            "email": resolve_customer(db, CustomerRef(email="Ann@Example.com"), SOURCE),
            "external": resolve_customer(db, CustomerRef(external_id="crm-9"), SOURCE),
            "anonymous": resolve_customer(db, CustomerRef(anonymous_id="v-1"), SOURCE),
            "merged": resolve_customer(db, CustomerRef(email="old@example.com"), SOURCE),
        }
        merge_customers(db, ids["merged"], ids["email"], reason="test")
    return db, ids


BATCH = [
    CustomerRef(source_id="501"),
    CustomerRef(email="ann@example.com"),
    CustomerRef(external_id="crm-9"),
    CustomerRef(anonymous_id="v-1"),
    CustomerRef(email="old@example.com"),  # points at a customer merged away
    CustomerRef(email="new@example.com"),  # nobody yet
    CustomerRef(email="new@example.com"),  # the same again
    CustomerRef(external_id="crm-9", anonymous_id="v-1"),  # links two: a merge
    CustomerRef(source_id="777", email="ann@example.com"),  # a new key for a known person
]


def test_a_batch_of_every_kind_resolves_as_one_by_one(tmp_path, store_named):
    batch_db, ids = _desk(store_named("batch"))
    single_db, _ = _desk(store_named("single"))
    try:
        with batch_db.atomic():
            batch = resolve_customers(batch_db, BATCH, SOURCE)
        with single_db.atomic():
            for ref in BATCH:
                resolve_customer(single_db, ref, SOURCE)
            single = {ref: resolve_customer(single_db, ref, SOURCE) for ref in BATCH}
        assert batch == single
        assert batch[CustomerRef(email="old@example.com")] == ids["email"]
        assert batch[CustomerRef(source_id="501")] == ids["user"]
        for customer_id in set(single.values()):
            assert customer_identities(batch_db, customer_id) == customer_identities(
                single_db, customer_id
            )
    finally:
        batch_db.conn.close()
        single_db.conn.close()
