"""Customers and their identities (desk user ids, email, external id, visitor id).

The same person seen by a desk (requester id + email) and by the portal (email,
external id, anonymous visitor id) is one customer: identities point at a customer row,
and when one record links two customers they are merged (recorded in customer_merges).

A user merge made in the help desk is followed too (`follow_moved_requesters`). When an
agent merges two users in Zendesk, the merged-away user is deactivated (it comes back
from the user export with `active: false`) and every ticket it requested moves to the
surviving user. The export names no survivor, so the move is the evidence: a stored
ticket whose requester changes away from a customer the desk has deactivated means that
customer was merged into the new requester. A requester changed by hand (the old user
still active) is not a merge. (Freshdesk keeps the merged contacts' addresses on the
survivor as `other_emails`, which identity resolution follows by itself.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

from connectors.records import Customer, CustomerRef
from plugin.clock import now_epoch, to_epoch
from plugin.store import dumps, loads_object, select_dicts
from plugin.store.journeys import mark_dirty
from plugin.store.report_changes import note_merge

PROFILE_FIELDS = (
    "name",
    "email",
    "signup_at",
    "purchased_at",
    "renewal_at",
    "plan",
    "lifetime_value",
    "time_zone",
    "locale",
    "attributes",
)


def identities_of(ref: CustomerRef, source: str) -> list[tuple[str, str]]:
    """The (kind, value) identity keys a reference carries, strongest first."""
    keys = []
    if ref.source_id:
        keys.append((f"user:{source}", str(ref.source_id)))
    if ref.external_id:
        keys.append(("external_id", str(ref.external_id)))
    if ref.email:
        keys.append(("email", ref.email.strip().lower()))
    if ref.anonymous_id:
        keys.append(("anonymous", str(ref.anonymous_id)))
    return keys


def find_customer(db: Database, ref: CustomerRef, source: str) -> int | None:
    """The customer a reference points at, or None when nobody is known by it."""
    found = _customers_for(db, identities_of(ref, source))
    return min(found) if found else None


def resolve_customer(db: Database, ref: CustomerRef, source: str) -> int:
    """Return the customer id for `ref`, creating or merging customers as needed."""
    keys = identities_of(ref, source)
    if not keys:
        raise ValueError("a customer reference needs an id, email, external id or visitor id")
    lookups = _lookups(db, keys)
    found = {cid for cid, _direct in lookups.values()}
    if not found:
        customer_id = _create_customer(db, email=ref.email)
    else:
        customer_id = min(found)
        for other in sorted(found - {customer_id}):
            merge_customers(db, other, customer_id, reason=f"shared identity in {source}")
    # The usual case on a sync: every key already points straight at this customer.
    settled = len(lookups) == len(keys) and all(
        direct and cid == customer_id for cid, direct in lookups.values()
    )
    if not settled:
        _attach_identities(db, customer_id, keys)
    return customer_id


def resolve_customers(
    db: Database, refs: Iterable[CustomerRef], source: str
) -> dict[CustomerRef, int]:
    """`resolve_customer` for a whole batch of references, same results.

    One query looks every identity key up; a reference whose keys all point straight at
    one customer is settled by it (the usual case on a sync). The others (new people,
    partial or conflicting identities) go through `resolve_customer` one by one, and if
    that merged anyone, the settled ones are resolved again so none points at a customer
    merged away meanwhile.
    """
    refs = list(dict.fromkeys(refs))
    keys = {ref: identities_of(ref, source) for ref in refs}
    known, existing = _bulk_lookups(db, [key for ks in keys.values() for key in ks])
    result: dict[CustomerRef, int] = {}
    pending: list[CustomerRef] = []
    for ref in refs:
        found = {known.get(key) for key in keys[ref]}
        if keys[ref] and len(found) == 1 and (settled := found.pop()) is not None:
            result[ref] = settled
        else:
            pending.append(ref)
    if pending:
        merges = _merge_count(db)
        fresh = _fresh(pending, keys, existing)
        result |= _create_customers(db, fresh, keys)
        for ref in pending:
            if ref not in result:
                result[ref] = resolve_customer(db, ref, source)
        if _merge_count(db) != merges:
            result = {ref: resolve_customer(db, ref, source) for ref in refs}
    return result


def _fresh(
    pending: list[CustomerRef],
    keys: dict[CustomerRef, list[tuple[str, str]]],
    existing: set[tuple[str, str]],
) -> list[CustomerRef]:
    """New people: references none of whose keys exist yet, nor belong to another pending
    reference (those must be resolved in order, the second finding the first)."""
    uses: dict[tuple[str, str], int] = {}
    for ref in pending:
        for key in keys[ref]:
            uses[key] = uses.get(key, 0) + 1
    return [
        ref
        for ref in pending
        if keys[ref] and all(key not in existing and uses[key] == 1 for key in keys[ref])
    ]


def _create_customers(
    db: Database, refs: list[CustomerRef], keys: dict[CustomerRef, list[tuple[str, str]]]
) -> dict[CustomerRef, int]:
    """What `resolve_customer` does for each new person (a customer, marked changed, with
    its identities), in three statements for the batch instead of four per person: a sync
    of a new desk creates hundreds of thousands.

    One INSERT numbers the rows itself from max(id) (all computed before any row is
    written), so the ids are consecutive and known without a round trip per row.
    """
    if not refs:
        return {}
    now = now_epoch()
    emails = [ref.email.strip().lower() if ref.email else None for ref in refs]
    ids = [
        row[0]
        for row in db.conn.execute(
            "INSERT INTO customers (id, email, created_at, updated_at) "
            "SELECT (SELECT coalesce(max(id), 0) FROM customers) + j.key + 1, j.value, ?, ? "
            f"FROM {db.dialect.text_items('?', 'j')} RETURNING id",
            [now, now, json.dumps(emails)],
        ).fetchall()
    ]
    first = min(ids)
    created = {ref: first + index for index, ref in enumerate(refs)}
    mark_dirty(db, ids)
    db.conn.executemany(
        "INSERT INTO customer_identities (kind, value, customer_id) VALUES (?, ?, ?)",
        [(kind, value, created[ref]) for ref in refs for kind, value in keys[ref]],
    )
    return created


def _bulk_lookups(
    db: Database, keys: list[tuple[str, str]]
) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]]]:
    """(keys that point straight at an unmerged customer → it, every key that exists).

    One statement per kind (and 5,000 values): the values go as a plain JSON array, so
    SQLite extracts nothing per key. CROSS JOIN keeps the array the outer loop: left to
    itself the planner walks every identity of the kind once per value.
    """
    found: dict[tuple[str, str], int] = {}
    existing: set[tuple[str, str]] = set()
    by_kind: dict[str, list[str]] = {}
    for kind, value in dict.fromkeys(keys):
        by_kind.setdefault(kind, []).append(value)
    for kind, values in by_kind.items():
        for start in range(0, len(values), 5_000):
            for value, customer_id, merged_into in db.conn.execute(
                "SELECT i.value, i.customer_id, c.merged_into "
                f"FROM {db.dialect.text_items('?', 'j')} "
                "CROSS JOIN customer_identities i ON i.kind = ? AND i.value = j.value "
                "LEFT JOIN customers c ON c.id = i.customer_id",
                [json.dumps(values[start : start + 5_000]), kind],
            ):
                key = (kind, value)
                existing.add(key)
                if merged_into is None:
                    found[key] = customer_id
    return found, existing


def _merge_count(db: Database) -> int:
    return db.conn.execute("SELECT count(*) FROM customer_merges").fetchone()[0]


def upsert_customers(db: Database, source: str, customers: Iterable[Customer]) -> int:
    """Write desk customers; returns how many rows actually changed."""
    changed = 0
    for customer in customers:
        customer_id = resolve_customer(db, customer.ref(), source)
        for email in customer.other_emails:  # the desk says: also this person
            other = CustomerRef(source_id=customer.source_id, email=email)
            customer_id = resolve_customer(db, other, source)
        if _update_profile(db, customer_id, _profile_row(customer)):
            changed += 1
        if customer.merged_into:
            target = resolve_customer(db, CustomerRef(source_id=customer.merged_into), source)
            if target != customer_id:
                merge_customers(db, customer_id, target, reason=f"merged in {source}")
    return changed


def merge_customers(db: Database, from_id: int, into_id: int, *, reason: str) -> None:
    """Move everything of `from_id` onto `into_id` and remember the merge."""
    note_merge(db, from_id, into_id)
    for table in (
        "customer_identities",
        "touchpoints",
        "touchpoint_inbox",
        "tickets",
        "stage_history",
    ):
        db.execute(
            f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?",
            [into_id, from_id],
        )
    db.execute("DELETE FROM customer_journeys WHERE customer_id = ?", [from_id])
    db.execute("DELETE FROM dirty_customers WHERE customer_id = ?", [from_id])
    _fill_missing_profile(db, from_id, into_id)
    db.execute(
        "UPDATE customers SET merged_into = ?, updated_at = ? WHERE id = ?",
        [into_id, now_epoch(), from_id],
    )
    db.execute(
        "INSERT INTO customer_merges (from_customer_id, into_customer_id, reason, merged_at) "
        "VALUES (?, ?, ?, ?)",
        [from_id, into_id, reason, now_epoch()],
    )
    mark_dirty(db, [into_id])


def follow_moved_requesters(db: Database, source: str, moves: dict[str, int]) -> bool:
    """Merge each deactivated former requester into the ticket's new requester.

    `moves` maps ticket id → the customer the ticket is about to be stored under. One
    query for the whole batch: deactivated requesters are rare, so it finds little.
    Returns whether anyone was merged.
    """
    found = db.execute(
        # CROSS JOIN keeps this order: left to itself the planner walks every ticket of
        # the source (the primary key's prefix) per batch, which grows with the desk.
        f"SELECT t.id, t.customer_id FROM {db.dialect.text_items('?', 'j')} "
        "CROSS JOIN tickets t ON t.source = ? AND t.id = j.value "
        "CROSS JOIN customers c ON c.id = t.customer_id "
        f"WHERE c.merged_into IS NULL AND {db.dialect.json_is_false('c.attributes', 'active')}",
        [json.dumps(list(moves)), source],
    ).fetchall()
    merged = False
    for ticket_id, old_customer in found:
        new_customer = moves[ticket_id]
        if old_customer != new_customer:
            merged = True
            merge_customers(
                db,
                old_customer,
                new_customer,
                reason=f"merged in {source}: its tickets moved to the surviving user",
            )
    return merged


def customer_in_source(
    db: Database, customer_id: int, source: str, touchpoint_sources: Sequence[str]
) -> bool:
    """Is `customer_id` a customer of desk `source`: a user of it, the requester of one of
    its tickets, or someone whose touchpoints came from its sync, imports or portals
    (`touchpoint_sources`)? Merges move identities, tickets and touchpoints onto the
    survivor, so a customer merged across desks belongs to each of them."""
    if not -(2**63) <= customer_id < 2**63:  # beyond SQLite's integers: no one's customer
        return False
    marks = ", ".join("?" for _ in touchpoint_sources)
    row = db.execute(
        "SELECT EXISTS (SELECT 1 FROM customer_identities WHERE customer_id = ? AND kind = ?) "
        "OR EXISTS (SELECT 1 FROM tickets WHERE customer_id = ? AND source = ?) "
        f"OR EXISTS (SELECT 1 FROM touchpoints WHERE customer_id = ? AND source IN ({marks})) "
        "OR EXISTS (SELECT 1 FROM touchpoint_inbox "
        f"  WHERE customer_id = ? AND source IN ({marks}))",
        [customer_id, f"user:{source}", customer_id, source]
        + [customer_id, *touchpoint_sources] * 2,
    ).fetchone()
    return bool(row[0])


def get_customer(db: Database, customer_id: int) -> dict[str, Any] | None:
    rows = select_dicts(db, "SELECT * FROM customers WHERE id = ?", [customer_id])
    if not rows:
        return None
    row = rows[0]
    row["attributes"] = loads_object(row["attributes"])
    return row


def get_customer_by_email(db: Database, email: str) -> int | None:
    return find_customer(db, CustomerRef(email=email), source="")


def desk_user_of(db: Database, customer_id: int, source: str) -> str | None:
    """The desk's own user id for a customer (the requester id to fetch history by)."""
    row = db.execute(
        "SELECT value FROM customer_identities WHERE customer_id = ? AND kind = ? "
        "ORDER BY value LIMIT 1",
        [customer_id, f"user:{source}"],
    ).fetchone()
    return row[0] if row else None


def customer_identities(db: Database, customer_id: int) -> list[dict[str, Any]]:
    return list(
        db.query(
            "SELECT kind, value FROM customer_identities WHERE customer_id = ? ORDER BY kind",
            [customer_id],
        )
    )


def count_customers(db: Database) -> int:
    return db.execute("SELECT count(*) FROM customers WHERE merged_into IS NULL").fetchone()[0]


def all_customer_ids(db: Database) -> list[int]:
    return [row[0] for row in db.execute("SELECT id FROM customers WHERE merged_into IS NULL")]


def _customers_for(db: Database, keys: list[tuple[str, str]]) -> set[int]:
    return {cid for cid, _direct in _lookups(db, keys).values()}


_IDENTITY_LOOKUP = (
    "SELECT i.customer_id, c.merged_into FROM customer_identities i "
    "LEFT JOIN customers c ON c.id = i.customer_id WHERE i.kind = ? AND i.value = ?"
)


def _lookups(db: Database, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, bool]]:
    """For each known key: the customer it resolves to (merges followed), and whether the
    key points at that customer directly. One query per key in the usual, unmerged case."""
    found: dict[tuple[str, str], tuple[int, bool]] = {}
    for key in keys:
        row = db.conn.execute(_IDENTITY_LOOKUP, key).fetchone()
        if row:
            customer_id, merged_into = row
            if merged_into is None:
                found[key] = (customer_id, True)
            else:
                found[key] = (_follow_merges(db, merged_into), False)
    return found


def _follow_merges(db: Database, customer_id: int) -> int:
    seen = set()
    while customer_id not in seen:
        seen.add(customer_id)
        row = db.execute("SELECT merged_into FROM customers WHERE id = ?", [customer_id]).fetchone()
        if not row or row[0] is None:
            return customer_id
        customer_id = row[0]
    return customer_id


def _create_customer(db: Database, *, email: str | None) -> int:
    now = now_epoch()
    with db.atomic():  # numbered like `_create_customers`: from max(id), one writer at a time
        (customer_id,) = db.execute(
            "INSERT INTO customers (id, email, created_at, updated_at) "
            "SELECT coalesce(max(id), 0) + 1, ?, ?, ? FROM customers RETURNING id",
            [email.strip().lower() if email else None, now, now],
        ).fetchone()
        mark_dirty(db, [customer_id])
    return customer_id


def _attach_identities(db: Database, customer_id: int, keys: list[tuple[str, str]]) -> None:
    db.conn.executemany(
        "INSERT INTO customer_identities (kind, value, customer_id) VALUES (?, ?, ?) "
        "ON CONFLICT(kind, value) DO UPDATE SET customer_id = excluded.customer_id",
        [(kind, value, customer_id) for kind, value in keys],
    )


def _profile_row(customer: Customer) -> dict[str, Any]:
    return {
        "name": customer.name,
        "email": customer.email.strip().lower() if customer.email else None,
        "signup_at": to_epoch(customer.signup_at),
        "purchased_at": to_epoch(customer.purchased_at),
        "renewal_at": to_epoch(customer.renewal_at),
        "plan": customer.plan,
        "lifetime_value": customer.lifetime_value,
        "time_zone": customer.time_zone,
        "locale": customer.locale,
        "attributes": dumps(customer.attributes or {}),
    }


def _update_profile(db: Database, customer_id: int, row: dict[str, Any]) -> bool:
    """Write the profile when it differs; an identical re-import changes nothing."""
    current = db.execute(
        f"SELECT {', '.join(PROFILE_FIELDS)} FROM customers WHERE id = ?",
        [customer_id],
    ).fetchone()
    if current is not None and tuple(current) == tuple(row[f] for f in PROFILE_FIELDS):
        return False
    assignments = ", ".join(f"{field} = ?" for field in PROFILE_FIELDS)
    db.execute(
        f"UPDATE customers SET {assignments}, updated_at = ? WHERE id = ?",
        [*(row[f] for f in PROFILE_FIELDS), now_epoch(), customer_id],
    )
    mark_dirty(db, [customer_id])
    return True


def _fill_missing_profile(db: Database, from_id: int, into_id: int) -> None:
    """Keep what the merged-away customer knew that the survivor does not."""
    for field in PROFILE_FIELDS:
        if field == "attributes":
            continue
        db.execute(
            f"UPDATE customers SET {field} = (SELECT {field} FROM customers WHERE id = ?) "
            f"WHERE id = ? AND {field} IS NULL",
            [from_id, into_id],
        )


def contact_details(db: Database, customer_ids: list[int] | None = None) -> dict[int, tuple]:
    """(name, email, locale, time_zone) of each current (unmerged) customer, or of those
    of `customer_ids` (outreach writes to them)."""
    where, params = "", []
    if customer_ids is not None:
        where, params = f" AND id IN {db.dialect.integers()}", [dumps(customer_ids)]
    return {
        cid: (name, email, locale, zone)
        for cid, name, email, locale, zone in db.conn.execute(
            "SELECT id, name, email, locale, time_zone FROM customers "
            f"WHERE merged_into IS NULL{where}",
            params,
        )
    }


def desk_users(db: Database, source: str) -> dict[int, str]:
    """Each customer's user id in the desk `source` (helpdesk outreach writes through it)."""
    return dict(
        db.conn.execute(
            "SELECT customer_id, value FROM customer_identities WHERE kind = ?",
            [f"user:{source}"],
        )
    )


def customers_purchased_between(
    db: Database, *, after: int | None = None, until: int | None = None
) -> set[int]:
    """Current customers whose first purchase is after `after` and at or before `until`."""
    clauses, params = ["merged_into IS NULL", "purchased_at IS NOT NULL"], []
    if after is not None:
        clauses.append("purchased_at > ?")
        params.append(after)
    if until is not None:
        clauses.append("purchased_at <= ?")
        params.append(until)
    return {
        cid
        for (cid,) in db.conn.execute(
            f"SELECT id FROM customers WHERE {' AND '.join(clauses)}", params
        )
    }


def search_customers(db: Database, query: str, *, limit: int = 25) -> list[dict[str, Any]]:
    """Customers whose name, email or company contains `query` (case-insensitive for
    ASCII), exact and prefix matches first, with their stage; merged ones left out."""
    needle = query.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if not needle:
        return []
    contains, prefix = f"%{needle}%", f"{needle}%"
    company, like = db.dialect.json_text("c.attributes", "company"), db.dialect.like
    return select_dicts(
        db,
        f"SELECT c.id, c.name, c.email, {company} AS company, j.stage "
        "FROM customers AS c LEFT JOIN customer_journeys AS j ON j.customer_id = c.id "
        f"WHERE c.merged_into IS NULL AND (c.name {like} :contains ESCAPE '\\' "
        f"OR c.email {like} :contains ESCAPE '\\' OR {company} {like} :contains ESCAPE '\\') "
        "ORDER BY (lower(c.email) = lower(:exact) OR lower(c.name) = lower(:exact)) DESC, "
        f"(c.name {like} :prefix ESCAPE '\\' OR c.email {like} :prefix ESCAPE '\\') DESC, "
        "c.name, c.id LIMIT :limit",
        {"contains": contains, "prefix": prefix, "exact": query.strip(), "limit": limit},
    )
