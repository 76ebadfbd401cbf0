"""Recompute customers' stages and signals: incrementally or in full.

Incremental takes only the customers the store marked changed (new touchpoints,
tickets or profile changes) since the last run; full takes everyone (after the
definitions change). Both give the same result for the customers they touch.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlite_utils import Database

from plugin.clock import now_epoch
from plugin.journey.facts import compute_facts
from plugin.journey.model import JourneyModel, compiled_model, json_reason, reason_to_dict
from plugin.journey.rebuild import replay_plan, replayed_pasts
from plugin.store import database_file, dumps, open_store
from plugin.store.customers import all_customer_ids
from plugin.store.history import customer_aggregates
from plugin.store.journeys import (
    EncodedJourney,
    HistoryEntry,
    JourneyRow,
    computed_customers,
    save_encoded_journeys,
    take_dirty_customers,
)

log = logging.getLogger("journeydesk.recompute")

CHUNK = 5_000
PARALLEL_MIN = 50_000
"""Customers from which a recompute spreads over helper processes (starting them costs
about half a second)."""
MAX_WORKERS = 4


EncodedChunk = tuple[list[EncodedJourney], dict[int, list[HistoryEntry]]]
"""A chunk's journey rows and the replayed past of its customers computed for the first
time."""


@dataclass(frozen=True)
class RecomputeReport:
    customers: int
    moved: int


def recompute(
    db: Database,
    model: JourneyModel,
    *,
    full: bool = False,
    now: int | None = None,
    still_current: Callable[[], bool] | None = None,
) -> RecomputeReport:
    """Evaluate the journey of changed customers (or everyone when `full`) and store it.

    `still_current` is asked before each chunk is stored: when the model was replaced
    meanwhile the run stops, so an old model never overwrites the new one's results.
    """
    now = now or now_epoch()
    ids = take_dirty_customers(db)
    if full:
        ids = all_customer_ids(db)
    chunks = [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]
    moved = 0
    evaluated = _evaluated(db, model, chunks, now)
    try:
        for rows in evaluated:
            if still_current is not None and not still_current():
                break
            moved += save_chunk(db, rows, now=now)
    finally:
        evaluated.close()
    return RecomputeReport(customers=len(ids), moved=moved)


def _evaluated(
    db: Database, model: JourneyModel, chunks: list[list[int]], now: int
) -> Iterator[EncodedChunk]:
    """Each chunk's journey rows (and replayed pasts), in order.

    Evaluating is pure Python (most of a full recompute), so a large run spreads it over
    helper processes, one per core, each reading the store through its own connection,
    while this process writes the results: on two cores a million customers take about
    half the time. Small runs (the incremental ones) stay in this process, and so does
    the rest of a run whose helpers fail.
    """
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    path = _database_file(db)
    done = 0
    if len(chunks) * CHUNK >= PARALLEL_MIN and workers > 1 and path:
        try:
            with _Helpers(workers, path, model, chunks, now) as helpers:
                for rows in helpers.results():
                    done += 1
                    yield rows
        except HelperError as exc:
            log.warning("recompute helpers failed (%s); going on in this process", exc)
    for chunk in chunks[done:]:
        yield encoded_chunk(db, model, chunk, now)


def _database_file(db: Database) -> str:
    """Where a helper opens the same store: the file behind an SQLite connection ('' for
    an in-memory database), or the PostgreSQL location (its password travels with it,
    through the helper's pipe)."""
    if db.backend == "postgres":
        return db.location
    return database_file(db)


class HelperError(Exception):
    """A helper process died or answered something unexpected."""


class _Helpers:
    """`python -m plugin.journey.recompute --helper` processes, fed through pipes.

    Plain subprocesses rather than multiprocessing: its spawn method re-imports the
    caller's __main__ (`python -m plugin sync` would run the CLI again in every helper)
    and fork is unsafe in threaded processes. Helper h evaluates chunks h, h + n, h + 2n
    ... from one message sent at the start, and writes each chunk's rows (pickled) as it
    finishes; a full pipe pauses it, so at most a few chunks wait in memory.
    """

    def __init__(self, count: int, path: str, model: JourneyModel, chunks: list, now: int):
        self.count, self.chunks = count, chunks
        self.procs: list[subprocess.Popen] = []
        try:
            for h in range(count):
                proc = subprocess.Popen(
                    [sys.executable, "-m", "plugin.journey.recompute", "--helper"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                self.procs.append(proc)
                pickle.dump((path, model, chunks[h::count], now), proc.stdin)
                proc.stdin.close()
        except (OSError, pickle.PicklingError) as exc:
            self.close()
            raise HelperError(str(exc)) from exc

    def results(self) -> Iterator[EncodedChunk]:
        for index in range(len(self.chunks)):
            try:
                kind, value = pickle.load(self.procs[index % self.count].stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                raise HelperError(f"no answer for chunk {index}: {exc!r}") from exc
            if kind != "rows":
                raise HelperError(str(value))
            yield value

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()

    def __enter__(self) -> _Helpers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _serve_helper() -> None:
    """The helper's side: read the work, answer one pickle per chunk on stdout."""
    path, model, chunks, now = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    with open_store(path, migrate=False) as db:
        try:
            for chunk in chunks:
                pickle.dump(("rows", encoded_chunk(db, model, chunk, now)), out)
                out.flush()
        except BrokenPipeError:  # the parent stopped early (the model changed): nothing to say
            pass
        except Exception as exc:  # reported to the parent, which carries on without helpers
            pickle.dump(("error", f"{type(exc).__name__}: {exc}"), out)
            out.flush()


def evaluate_chunk(db: Database, model: JourneyModel, ids: list[int], now: int) -> list[JourneyRow]:
    return [JourneyRow(*journey) for journey in _journeys(db, model, ids, now)]


def encoded_chunk(db: Database, model: JourneyModel, ids: list[int], now: int) -> EncodedChunk:
    """`evaluate_chunk` with reasons and signals as JSON text, as `save_encoded_journeys`
    stores them (encoded where the evaluating happens: in the helpers, in parallel), and
    the replayed past of the customers computed for the first time (journey/rebuild.py).

    The text is `dumps` of what `evaluate_chunk` gives, assembled from pieces: each leaf's
    reason is made as JSON when it matches (its expected value, fact and operator encoded
    once per leaf), each signal's key once per model.
    """
    evaluate = compiled_model(model, json_reason)
    signal_heads = {d.key: '{"key":' + dumps(d.key) + ',"reasons":[' for d in model.signals}
    rows = []
    aggregates = customer_aggregates(db, ids, now=now)
    computed = computed_customers(db, list(aggregates))
    first_time = {}
    for customer_id, agg in aggregates.items():
        facts = compute_facts(agg, now)
        stage, reasons, signals = evaluate(facts)
        rows.append(
            (
                customer_id,
                stage,
                "[" + ",".join(reasons) + "]",
                "["
                + ",".join(signal_heads[key] + ",".join(found) + "]}" for key, found in signals)
                + "]",
            )
        )
        if customer_id not in computed:
            first_time[customer_id] = (agg, facts)
    return rows, replayed_pasts(db, replay_plan(model), first_time, now=now)


def save_chunk(db: Database, chunk: EncodedChunk, *, now: int) -> int:
    """Store an `encoded_chunk`; returns how many customers changed stage."""
    rows, pasts = chunk
    return save_encoded_journeys(db, rows, now=now, histories=pasts)


def recompute_customers(db: Database, model: JourneyModel, ids: list[int], *, now: int) -> int:
    """Evaluate and store a few customers now (a ticket opened for a new customer)."""
    return save_chunk(db, encoded_chunk(db, model, ids, now), now=now)


def _journeys(
    db: Database, model: JourneyModel, ids: list[int], now: int
) -> Iterator[tuple[int, str, list, list]]:
    evaluate = compiled_model(model)
    for customer_id, aggregates in customer_aggregates(db, ids, now=now).items():
        stage, reasons, signals = evaluate(compute_facts(aggregates, now))
        yield (
            customer_id,
            stage,
            [reason_to_dict(r) for r in reasons],
            [{"key": key, "reasons": [reason_to_dict(r) for r in found]} for key, found in signals],
        )


if __name__ == "__main__" and sys.argv[1:] == ["--helper"]:
    _serve_helper()
