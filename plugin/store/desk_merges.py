"""Following a user merge made in the help desk.

When an agent merges two users in Zendesk, the merged-away user is deactivated (it comes
back from the user export with `active: false`) and every ticket it requested moves to
the surviving user (the tickets come back with the new `requester_id`). The export names
no survivor, so the move is the evidence: a stored ticket whose requester changes away
from a customer the desk has deactivated means that customer was merged into the new
requester. A requester changed by hand (the old user still active) is not a merge.
(Freshdesk keeps the merged contacts' addresses on the survivor as `other_emails`, which
identity resolution follows by itself.)
"""

from __future__ import annotations

import json

from sqlite_utils import Database

from plugin.store.customers import merge_customers


def follow_moved_requesters(db: Database, source: str, moves: dict[str, int]) -> bool:
    """Merge each deactivated former requester into the ticket's new requester.

    `moves` maps ticket id → the customer the ticket is about to be stored under. One
    query for the whole batch: deactivated requesters are rare, so it finds little.
    Returns whether anyone was merged.
    """
    found = db.execute(
        # CROSS JOIN keeps this order: left to itself the planner walks every ticket of
        # the source (the primary key's prefix) per batch, which grows with the desk.
        "SELECT t.id, t.customer_id FROM json_each(?) j "
        "CROSS JOIN tickets t ON t.source = ? AND t.id = j.value "
        "CROSS JOIN customers c ON c.id = t.customer_id "
        "WHERE c.merged_into IS NULL AND json_extract(c.attributes, '$.active') = 0",
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
