"""Stage history from the desk's own past: the replay (journey/replay.py) run over the store.

Two callers:
- a recompute, for the customers it computes for the first time (`replayed_pasts`): their
  history and `stage_since` come from the replay instead of "placed now";
- `rebuild_history`, after a model change (the admin's "Rebuild stage history with this
  model", `journeydesk recompute --rebuild-history`): every customer's reconstructed
  entries are replayed again with the model in force.

A rebuild replaces the reconstructed entries (and the "placed now" first entries older
releases wrote), never a move a recompute observed after the customer's first computation:
the desk showed that move to agents at the time, and outreach or SLA rules may have acted
on it. The replay covers the past before the customer's first observed move; a customer
without one gets the replayed `stage_since` too.

A rebuild walks the customers in batches of BATCH: one read of their dated events, the
replay in this process, then short write transactions of WRITE_BATCH customers each, so a
sidebar's reads (WAL) never wait and its own writes wait at most one of them, each followed
by a checkpoint on the rebuild's connection (store.checkpoint) so no agent's save pays for
the rebuild's pages; memory stays that of one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from plugin.journey.model import JourneyModel, json_reason
from plugin.journey.replay import DatedHistory, ReplayPlan, Ticket, plan_replay, replay
from plugin.store import checkpoint
from plugin.store.history import customer_aggregates, dated_events
from plugin.store.journeys import (
    HistoryEntry,
    first_observed_moves,
    journeys_after,
    replace_reconstructed_history,
)

log = logging.getLogger("journeydesk.rebuild")

BATCH = 2_000
WRITE_BATCH = 250
"""Customers whose history one write transaction replaces, so an agent's journey save waits
for one short transaction at most."""


def replay_plan(model: JourneyModel) -> ReplayPlan:
    """The model's replay with reasons as the stored JSON text."""
    return plan_replay(model, json_reason)


def replayed_pasts(
    db: Database,
    plan: ReplayPlan,
    customers: Mapping[int, tuple[Mapping[str, Any], Mapping[str, Any] | None]],
    *,
    now: int,
    until: Mapping[int, int] | None = None,
    ends: Mapping[int, int] | None = None,
) -> dict[int, list[HistoryEntry]]:
    """Each customer's replayed transitions, ready to store.

    `customers` maps a customer to (their `customer_aggregates` entry, their facts now, or
    None to replay the last moment too); `until` to the first move a recompute observed
    (the replay stops before it); `ends` to a moment before `now` where the replay ends.
    """
    if not customers:
        return {}
    ids = list(customers)
    events = dated_events(
        db,
        ids,
        tickets=plan.tickets,
        touchpoints=plan.reads_touchpoints,
        views_only=not plan.activity_days,
    )
    until, ends = until or {}, ends or {}
    pasts = {}
    for cid, (aggregates, facts) in customers.items():
        history = DatedHistory(
            profile=aggregates,
            tickets=tuple(Ticket(*t) for t in events.tickets.get(cid, ())),
            touchpoints=tuple(events.touchpoints.get(cid, ())),
            categories=events.categories,
            first_seen=events.first_seen.get(cid),
        )
        transitions = replay(
            plan, history, now=ends.get(cid, now), current_facts=facts, until=until.get(cid)
        )
        pasts[cid] = [
            (t.from_stage, t.to_stage, t.at, "[" + ",".join(t.reasons) + "]") for t in transitions
        ]
    return pasts


@dataclass(frozen=True)
class RebuildReport:
    customers: int
    transitions: int
    """Reconstructed transitions written (first placements included)."""
    kept_observed: int
    """Customers whose observed moves were kept (their replay stops before the first)."""


def rebuild_history(
    db: Database,
    model: JourneyModel,
    *,
    now: int,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    still_current: Callable[[], bool] | None = None,
) -> RebuildReport:
    """Replay every computed customer's past with `model` and replace their reconstructed
    stage history (see the module's docstring). `still_current` is asked before each batch
    is written: a model replaced meanwhile stops the run."""
    plan = replay_plan(model)
    done = transitions = kept = 0
    after = 0
    while True:
        stored = journeys_after(db, after, batch)
        if not stored:
            break
        after = max(stored)
        observed = first_observed_moves(db, list(stored))
        aggregates = customer_aggregates(db, list(stored), now=now)
        # Each replay ends when the stored journey was computed (up to a day ago for the
        # worker's periodic recompute), so it ends in the stored stage.
        ends = {cid: min(now, computed_at) for cid, (_stage, computed_at) in stored.items()}
        customers = {cid: (agg, None) for cid, agg in aggregates.items()}
        pasts = replayed_pasts(db, plan, customers, now=now, until=observed, ends=ends)
        if still_current is not None and not still_current():
            break
        since = {
            cid: (stored[cid][0], past[-1][2])
            for cid, past in pasts.items()
            if past and cid not in observed and past[-1][1] == stored[cid][0]
        }
        kept_ids = since.keys() | observed.keys()
        pasts = {cid: past for cid, past in pasts.items() if past and cid in kept_ids}
        written = sorted(pasts)
        for start in range(0, len(written), WRITE_BATCH):
            chunk = written[start : start + WRITE_BATCH]
            replace_reconstructed_history(
                db,
                {cid: pasts[cid] for cid in chunk},
                {cid: since[cid] for cid in chunk if cid in since},
            )
            checkpoint(db)
        done += len(stored)
        transitions += sum(len(past) for past in pasts.values())
        kept += len(observed)
        if progress is not None:
            progress(done)
    log.info("stage history rebuilt for %d customers: %d transitions", done, transitions)
    return RebuildReport(customers=done, transitions=transitions, kept_observed=kept)
