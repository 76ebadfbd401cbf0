"""Measure journeydesk on a big desk and write docs/benchmarks.json and docs/benchmarks.md.

    python -m benchmarks.run --db /work/bench/desk.db [--quick]

The database comes from `python -m benchmarks.generate`. Every figure is measured here,
in one run, on this machine; targets are checked here and never by timed assertions in
tests. `--quick` takes smaller samples (a smoke run; the figures are not the reference).

`--postgres postgresql://…` adds the PostgreSQL steps (`pg_*`): the desk is copied into
that database with `journeydesk db copy`'s own code (skipped when it already holds a
verified copy of this desk: the copy only verifies then), and the journey API, HTTP,
ingest and sync steps run again against it, each figure under the SQLite one's name with
`pg_` in front.

Order matters a little: the full recompute runs first (the journey API reads its
results), the figures that write (incremental recompute, ingest, import) run after the
read-only ones, and the sync writes into a scratch file of its own. The PostgreSQL steps
come after the SQLite ones (the copy is of the desk as they left it), the history
rebuild (a copy of its own, the longest step) last.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import apps, pg_admin
from benchmarks.datasets import (
    SampledTicket,
    changed_customers,
    core_last_articles,
    customer_emails,
    dataset_size,
    forget_events,
    sample_customers,
    sample_tickets,
    unmark_changed,
)
from benchmarks.load import LoadResult, percentile, run_load
from benchmarks.sync_probe import memory_mb
from connectors.records import CustomerRef, Ticket, Touchpoint
from plugin import clock
from plugin.background.jobs import run_recompute
from plugin.config import Config
from plugin.reports.catalog import page_names
from plugin.security import mint_agent_token
from plugin.serving import WORKER_SETTINGS
from plugin.store import StoreDatabase, open_db
from plugin.store.copy import CopyRefused, copy_store
from plugin.store.touchpoints import count_waiting, insert_touchpoints, merge_inbox

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DAY = 86_400
SEED = 6
ARTICLE_IDS = [str(360_000_100 + n) for n in range(360)]  # the generator's knowledge base


@dataclasses.dataclass(frozen=True)
class Sizes:
    tickets: int  # random tickets for the in-process and raw measurements
    http_seconds: float
    http_requests: int
    changed_customers: int
    ingest_events: int
    import_lines: int
    sync_tickets: int


FULL = Sizes(10_000, 20.0, 200_000, 10_000, 100_000, 200_000, 1_000_000)
QUICK = Sizes(1_000, 5.0, 20_000, 1_000, 10_000, 20_000, 100_000)

TARGETS = {  # figure: (target, "le" | "ge")
    "journey_inprocess_p99_ms": (2.0, "le"),
    "journey_over_floor_inprocess_p99": (3.0, "le"),
    "journey_http_rps": (1500, "ge"),
    "journey_share_of_floor_http_rps": (0.60, "ge"),
    "journey_http_p99_ms": (15.0, "le"),
    "check_reply_p99_ms": (3.0, "le"),
    "ingest_events_per_s": (25_000, "ge"),
    "import_lines_per_s": (50_000, "ge"),
    "sync_tickets_per_s": (10_000, "ge"),
    "sync_peak_rss_mb": (150, "le"),
    "recompute_incremental_10k_s": (2.0, "le"),
    "recompute_full_1m_s": (60.0, "le"),
    "outreach_send_msgs_per_s": (200, "ge"),
    "outreach_audience_s": (20.0, "le"),
    "outreach_timeline_14d_s": (60.0, "le"),
    "report_page_slowest_90d_s": (1.0, "le"),
    "sla_what_if_90d_s": (3.0, "le"),
    "sla_apply_ms_per_ticket": (1.0, "le"),
    "history_rebuild_1m_s": (900.0, "le"),
    "history_rss_growth_mb": (50.0, "le"),
    "history_sidebar_max_ms": (1000.0, "le"),
    # PostgreSQL beside SQLite (issue 17's targets for the PostgreSQL store)
    "pg_journey_inprocess_p99_ms": (3.0, "le"),
    "pg_journey_http_rps": (1200, "ge"),
    "pg_ingest_events_per_s": (20_000, "ge"),
    "pg_sync_tickets_per_s": (10_000, "ge"),
}


@dataclasses.dataclass(frozen=True)
class Store:
    """One engine's store under test: its location and the benchmark config naming it.
    Figures measured on it are recorded as `prefix + name`."""

    prefix: str
    location: str
    config_path: Path
    config: Config


class Bench:
    """The run's shared state: config, database, samples, and the figures found so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = QUICK if args.quick else FULL
        self.folder = Path(tempfile.mkdtemp(prefix="journeydesk-bench-"))
        self.db_path = Path(args.db).resolve()
        self.config_path = apps.write_config(self.folder, self.db_path)
        self.config = apps.bench_config(self.config_path)
        self.sqlite = Store("", str(self.db_path), self.config_path, self.config)
        self.postgres: Store | None = None
        if args.postgres:
            path = apps.write_config(self.folder, args.postgres, name="config-postgres.toml")
            self.postgres = Store("pg_", args.postgres, path, apps.bench_config(path))
        self.postgres_problem: str | None = None
        """Why the PostgreSQL steps cannot run (the copy was refused), once known."""
        self.postgres_copied = False
        self.carried: set[str] = set()
        """Figures this run did not measure again and takes from the previous report."""
        self.figures: dict[str, float] = {}
        self.notes: dict[str, str] = {}
        self.tickets: list[SampledTicket] = []
        self.loads: dict[str, float] = {}

    def say(self, text: str) -> None:
        print(text, flush=True)

    def record(self, name: str, value: float, note: str = "") -> None:
        self.figures[name] = round(value, 4 if value < 10 else 1)
        if note:
            self.notes[name] = note
        target = TARGETS.get(name)
        verdict = (
            f"  (target {_target_text(*target)}: {_verdict(value, *target)})" if target else ""
        )
        self.say(f"  {name} = {self.figures[name]}{verdict}")


# -- recompute ------------------------------------------------------------------------------


def measure_recompute(bench: Bench) -> None:
    bench.say("stage recompute: full, then 10,000 changed customers")
    db = open_db(bench.db_path)
    try:
        started = time.perf_counter()
        report = run_recompute(bench.config, full=True, db=db)
        bench.record(
            "recompute_full_1m_s",
            time.perf_counter() - started,
            f"{report.customers:,} customers, {report.moved:,} changed stage",
        )
        changed = _touch_customers(db, bench.sizes.changed_customers)
        started = time.perf_counter()
        report = run_recompute(bench.config, db=db)
        bench.record(
            "recompute_incremental_10k_s",
            time.perf_counter() - started,
            f"{report.customers:,} customers marked changed by {changed:,} new article views",
        )
    finally:
        db.conn.close()


def _touch_customers(db, count: int) -> int:
    """One new article view for each of `count` sampled customers (through the store, so
    they are marked changed exactly as a sync marks them)."""
    now = datetime.now(UTC)
    stamp = int(now.timestamp())
    points = [
        Touchpoint(
            id=f"bench-{stamp}-{cid}",
            type="article_view",
            occurred_at=now,
            customer=CustomerRef(source_id=str(100_000_000_000 + cid)),
            channel="help_center",
            article_id=ARTICLE_IDS[cid % len(ARTICLE_IDS)],
            article_locale="en-us",
        )
        for cid in sample_customers(db, count, seed=stamp)
    ]
    with db.atomic():
        result = insert_touchpoints(db, apps.SOURCE, points, article_source=apps.SOURCE)
    return result.accepted


# -- stage history --------------------------------------------------------------------------


def measure_history(bench: Bench) -> None:
    """The stage history rebuild (journey/rebuild.py) on a copy of the benchmark database
    that this step makes and removes: every customer's past replayed with the model in
    force and written in batches, while benchmarks/history_probe.py, in its own process,
    does what an agent's sidebar does (reads a journey and its history, stores a journey).
    Memory is sampled after each batch. A database smaller than 1M customers gives the
    1M figure by proportion (the rebuild is linear in customers: one batch at a time)."""
    from plugin.background.jobs import run_history_rebuild

    scratch = bench.db_path.with_name("history-scratch.db")
    _remove_database(scratch)
    bench.say(f"history: copying {bench.db_path.name} to {scratch.name}")
    for suffix in ("", "-wal"):
        if Path(f"{bench.db_path}{suffix}").exists():
            shutil.copyfile(f"{bench.db_path}{suffix}", f"{scratch}{suffix}")
    config = dataclasses.replace(bench.config, database_path=str(scratch))
    try:
        db = open_db(scratch)
        if not db.execute("SELECT count(*) FROM customer_journeys").fetchone()[0]:
            bench.say("  no journeys yet: a first full recompute (which replays every past)")
            started = time.perf_counter()
            run_recompute(config, full=True, db=db)
            bench.record("history_first_recompute_s", time.perf_counter() - started)
        # Journeys up to date with the model first (a changed model recomputes everyone),
        # so the figures below are the rebuild's alone.
        run_recompute(config, db=db)
        customers = sample_customers(db, 200, seed=SEED)
        probe = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.history_probe",
                "--db",
                str(scratch),
                "--customers",
                ",".join(map(str, customers)),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        probe.stdout.readline()  # "ready"
        rss = [memory_mb()["VmRSS"]]
        bench.say("history: rebuilding every customer's stage history")
        started, cpu = time.perf_counter(), time.process_time()
        report = run_history_rebuild(
            config, db=db, progress=lambda done: rss.append(memory_mb()["VmRSS"])
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        probe.stdin.close()
        answer = probe.stdout.read().strip().splitlines()
        probe.wait(timeout=60)
        if probe.returncode or not answer:
            raise SystemExit(f"the sidebar probe failed with {probe.returncode}")
        sidebar = json.loads(answer[-1])
        db.conn.close()
    finally:
        _remove_database(scratch)
    scale = 1_000_000 / max(report.customers, 1)
    bench.record(
        "history_rebuild_1m_s",
        seconds * scale,
        f"{report.customers:,} customers in {seconds:.1f} s"
        + (f", ×{scale:.1f} for 1M" if scale != 1 else "")
        + f"; {report.transitions:,} reconstructed transitions",
    )
    bench.record(
        "history_rebuild_cpu_1m_s",
        cpu * scale,
        f"CPU seconds of the rebuilding process ({cpu:.1f} s): the wall time less any wait "
        "for a busy machine's cores",
    )
    middle = rss[len(rss) // 2] if len(rss) > 2 else rss[0]
    bench.record(
        "history_rss_growth_mb",
        rss[-1] - middle,
        f"RSS {rss[0]:.0f} MB before, {middle:.0f} MB half-way, {rss[-1]:.0f} MB at the end",
    )
    writes, reads = sidebar["writes"], sidebar["reads"]
    bench.record(
        "history_sidebar_max_ms",
        max(writes["max"], reads["max"]),
        f"{writes['count']:,} journey writes (p99 {writes['p99']} ms) and {reads['count']:,} "
        f"reads (p99 {reads['p99']} ms) beside the rebuild",
    )


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- outreach -------------------------------------------------------------------------------


def measure_outreach(bench: Bench) -> None:
    """One rule's audience over every customer (what a run or a preview evaluates), then
    the 14-day dry-run timeline of the shipped rules, all enabled (read-only: nothing is
    claimed or sent)."""
    from plugin.outreach.planning import matched_audiences
    from plugin.outreach.rules import default_definitions, load_rules
    from plugin.outreach.timeline import dry_run_timeline

    bench.say("outreach: the repeat-reader audience, then the 14-day dry-run timeline")
    definitions = default_definitions()
    definitions["rules"] = [{**rule, "enabled": True} for rule in definitions["rules"]]
    config = dataclasses.replace(bench.config, outreach=definitions)
    rule = load_rules(definitions, file="benchmark").rule("repeat-reader")
    now = int(time.time())
    db = open_db(bench.db_path, migrate=False)
    try:
        started = time.perf_counter()
        audience = matched_audiences(db, config, [rule], now=now)[rule.name]
        bench.record(
            "outreach_audience_s",
            time.perf_counter() - started,
            f"repeat-reader: {len(audience):,} customers in the audience",
        )
    finally:
        db.conn.close()
    started = time.perf_counter()
    timeline = dry_run_timeline(config, days=14, now=now)
    totals = timeline.totals()
    bench.record(
        "outreach_timeline_14d_s",
        time.perf_counter() - started,
        f"{len(timeline.simulated)} rules, {len(timeline.runs)} runs, audiences "
        + ", ".join(f"{n:,}" for n in timeline.audiences.values())
        + f"; {totals['messages']:,} messages",
    )


# -- reports --------------------------------------------------------------------------------


def measure_reports(bench: Bench) -> None:
    """The report figures built from nothing for the last 90 days (what the worker's first
    runs do, newest first), each report page over those 90 days as an admin opens it (HTML
    with its chart; the slower of two loads counts), the worker's refresh when little
    changed, then one worker run building older days. Writes the figures into --db."""
    from plugin.reports import aggregates
    from plugin.reports.ranges import report_filters

    bench.say("reports: the figures of 90 days built from nothing, then each page over them")
    db = open_db(bench.db_path)
    try:
        filters = report_filters(bench.config, days=90)
        first_day = int(filters.start.timestamp()) // aggregates.DAY
        aggregates.forget(db)
        started, cpu = time.perf_counter(), time.process_time()
        built = aggregates.refresh(
            db, bench.config, now=int(time.time()), budget=float("inf"), down_to=first_day
        )
        bench.record(
            "report_figures_build_90d_s",
            time.perf_counter() - started,
            f"{built.days} days and {built.tickets:,} tickets' facts, from nothing; "
            f"{time.process_time() - cpu:.0f} s of CPU",
        )
    finally:
        db.conn.close()
    client = apps.journey_app_for(dataclasses.replace(bench.config, demo_mode=True)).test_client()
    slowest = 0.0
    for name in page_names():
        cpu = time.process_time()
        seconds = max(_timed_page(client, f"/admin/reports/{name}?days=90") for _ in range(2))
        bench.record(
            f"report_{name.replace('-', '_')}_90d_s",
            seconds,
            f"{(time.process_time() - cpu) / 2:.2f} s of CPU a load",
        )
        slowest = max(slowest, seconds)
    page = client.get("/admin/reports/pain-points?days=90").text
    if "not counted yet" in page:
        raise SystemExit("the pain-points page says days of its range are not counted")
    link = page.split('href="/admin/reports/pain-point-tickets?', 1)[1].split('"', 1)[0]
    seconds = max(
        _timed_page(client, "/admin/reports/pain-point-tickets?" + link.replace("&amp;", "&"))
        for _ in range(2)
    )
    bench.record("report_pain_point_tickets_90d_s", seconds, "the top pain-point article")
    bench.record("report_page_slowest_90d_s", max(slowest, seconds))
    db = open_db(bench.db_path)
    try:
        started = time.perf_counter()
        refreshed = aggregates.refresh(db, bench.config, now=int(time.time()), down_to=first_day)
        bench.record(
            "report_refresh_s",
            time.perf_counter() - started,
            f"the worker's run when nothing new came: {refreshed.days} day(s) and "
            f"{refreshed.tickets:,} tickets' facts made again, outreach outcomes settled",
        )
        started, cpu = time.perf_counter(), time.process_time()
        run = aggregates.refresh(db, bench.config, now=int(time.time()))
        bench.record(
            "report_worker_run_s",
            time.perf_counter() - started,
            f"one worker run building older days (budget {aggregates.WORKER_BUDGET_SECONDS:.0f} "
            f"s, a week at least): {run.days} days built, {run.left} left; "
            f"{time.process_time() - cpu:.0f} s of CPU",
        )
    finally:
        db.conn.close()


def _timed_page(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return elapsed


# -- SLA rules -----------------------------------------------------------------------------

SLA_DRAFT = """
[[sla.rules]]
name = "purchase-moment"
priority = "urgent"
add_tags = ["journey_purchase"]
first_response_minutes = 60
resolution_minutes = 480
[sla.rules.when]
any = [ { fact = "stage", op = "eq", value = "purchase" },
        { fact = "signal:renewal_due", op = "eq", value = true } ]

[[sla.rules]]
name = "unhappy"
priority = "high"
first_response_minutes = 120
[sla.rules.when]
all = [ { fact = "signal:negative_csat", op = "eq", value = true } ]

[[sla.rules]]
name = "high-value-chat"
priority = "high"
first_response_minutes = 30
resolution_minutes = 1440
[sla.rules.when]
all = [ { fact = "signal:high_value", op = "eq", value = true },
        { fact = "ticket.channel", op = "eq", value = "chat" } ]

[[sla.rules]]
name = "churn-risk"
priority = "high"
resolution_minutes = 2880
[sla.rules.when]
all = [ { fact = "signal:churn_risk", op = "eq", value = true } ]

[[sla.rules]]
name = "evaluating"
priority = "normal"
first_response_minutes = 240
[sla.rules.when]
all = [ { fact = "stage", op = "in", value = ["awareness", "consideration"] },
        { fact = "ticket.channel", op = "in", value = ["email", "web"] } ]
"""


def measure_sla(bench: Bench) -> None:
    """The SLA what-if over the last 90 days (a realistic draft of five rules over stage,
    signals and ticket.channel, against no rules), then the time `Decider.apply` adds to
    each newly synced ticket.

    Nothing is written to --db: the what-if reads a scratch store holding its tickets and
    stored journeys (migrated: the product's schema and indexes), and the rules are
    applied in a fresh small store of their own."""
    import tomllib

    from plugin.sla.rules import SlaRules, load_sla_rules
    from plugin.sla.what_if import what_if

    draft = load_sla_rules(tomllib.loads(SLA_DRAFT)["sla"], file="benchmark")
    scratch = bench.folder / "sla-scratch.db"
    bench.say("sla: a scratch store with the tickets and stored journeys, then the what-if")
    started = time.perf_counter()
    _copy_for_what_if(bench.db_path, scratch)
    copied = time.perf_counter() - started
    config = dataclasses.replace(bench.config, database_path=str(scratch))
    db = open_db(scratch, migrate=False)
    try:
        seconds, cpu = [], []
        for _ in range(3):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = what_if(db, config, draft, days=90, current=SlaRules())
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    finally:
        db.conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    bench.record(
        "sla_what_if_90d_s",
        statistics.median(seconds),
        f"{result.tickets:,} tickets in 90 days, {result.changed:,} change; median of 3 "
        f"({', '.join(f'{s:.2f}' for s in seconds)} s; CPU "
        f"{', '.join(f'{s:.2f}' for s in cpu)} s); scratch copy made in {copied:.0f} s",
    )
    _measure_sla_apply(bench, draft)


def _copy_for_what_if(source: Path, scratch: Path) -> None:
    """The tickets and stored journeys of `source` (opened read-only) in a new store."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    db = open_db(scratch)
    try:
        db.execute("PRAGMA foreign_keys = OFF")  # the customers are not copied
        db.execute("ATTACH ? AS source", [f"file:{source}?mode=ro"])
        with db.atomic():
            for table in ("customer_journeys", "tickets"):
                # Only the columns both have: --db may predate a migration (read-only here).
                columns = ", ".join(_shared_columns(db, table))
                db.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM source.{table}")
        db.execute("DETACH source")
    finally:
        db.conn.close()


def _shared_columns(db, table: str) -> list[str]:
    """The columns of `table` in the store and in the attached `source`, in store order."""
    mine = [row[1] for row in db.execute(f"PRAGMA main.table_info({table})").fetchall()]
    theirs = {row[1] for row in db.execute(f"PRAGMA source.table_info({table})").fetchall()}
    return [column for column in mine if column in theirs]


def _measure_sla_apply(bench: Bench, draft) -> None:
    """A fresh store of 3,000 customers with tickets and article views, then 2,000 new
    tickets written as a sync writes them, in pages of 100: the time `Decider.apply`
    takes per ticket (decide, store the decision, queue the push)."""
    from plugin.journey.active_model import load_active_model
    from plugin.sla.apply import Decider
    from plugin.store.tickets import write_tickets

    customers, new_tickets, page = 3_000, 2_000, 100
    bench.say(f"sla: rules applied to {new_tickets:,} new tickets in a store of {customers:,}")
    rng = random.Random(SEED)
    store = bench.folder / "sla-apply.db"
    now = int(time.time())
    channels = ("email", "web", "chat")

    def ticket(n: int, user: int, at: int, status: str) -> Ticket:
        return Ticket(
            id=str(n),
            requester=CustomerRef(source_id=str(user)),
            subject=f"Question {n}",
            created_at=datetime.fromtimestamp(at, UTC),
            updated_at=datetime.fromtimestamp(at, UTC),
            status=status,
            priority=rng.choice(("low", "normal", "high")),
            channel=rng.choice(channels),
        )

    db = open_db(store)
    try:
        history = [
            ticket(n, n % customers, now - rng.randrange(DAY, 200 * DAY), "closed")
            for n in range(3 * customers)
        ]
        views = [
            Touchpoint(
                id=f"view-{n}",
                type="article_view",
                occurred_at=datetime.fromtimestamp(now - rng.randrange(40 * DAY), UTC),
                customer=CustomerRef(source_id=str(n % customers)),
                channel="help_center",
                article_id=ARTICLE_IDS[n % len(ARTICLE_IDS)],
                article_locale="en-us",
            )
            for n in range(10 * customers)
        ]
        with db.atomic():
            write_tickets(db, apps.SOURCE, history)
            insert_touchpoints(db, apps.SOURCE, views, article_source=apps.SOURCE)
        model = load_active_model(db, bench.config).model
        decider = Decider(apps.SOURCE, draft, 0, model, since=0)
        arrivals = [
            ticket(100_000 + n, rng.randrange(customers), now - rng.randrange(3_600), "new")
            for n in range(new_tickets)
        ]
        spent = decided = 0.0
        for start in range(0, new_tickets, page):
            batch = arrivals[start : start + page]
            with db.atomic():
                write_tickets(db, apps.SOURCE, batch)
                started = time.perf_counter()
                decided += decider.apply(db, batch).decided
                spent += time.perf_counter() - started
    finally:
        db.conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
    bench.record(
        "sla_apply_ms_per_ticket",
        spent / new_tickets * 1000,
        f"{int(decided):,} of {new_tickets:,} new tickets decided in pages of {page}; "
        f"{customers:,} customers, {len(history):,} older tickets, {len(views):,} views",
    )


# -- the journey API in-process, the floor, the raw query -----------------------------------


def measure_inprocess(bench: Bench) -> None:
    _measure_inprocess(bench, bench.sqlite)


def _measure_inprocess(bench: Bench, store: Store) -> None:
    bench.say(
        f"{_engine(store)}: journey API in-process over {len(bench.tickets):,} random "
        "tickets, and floor"
    )
    app = apps.journey_app_for(store.config)
    floor = apps.floor_app(store.location)
    client, floor_client = app.test_client(), floor.test_client()
    secret = store.config.secret
    requests = [
        (
            apps.journey_path(t.id),
            {
                "Authorization": "Bearer "
                + mint_agent_token(secret, source=apps.SOURCE, ticket_id=t.id)
            },
            apps.floor_path(t.customer_id, t.created_at),
        )
        for t in bench.tickets
    ]
    journey, floor_times = [], []
    # One unmeasured pass over every ticket first: the steady state of a server whose page
    # cache holds the hot part of the file (the first read of a page from disk is I/O).
    for path, headers, floor_path in requests:
        _timed_get(client, path, headers)
        _timed_get(floor_client, floor_path, {})
    # Side by side: alternate blocks, so a noisy moment hits both alike.
    for start in range(0, len(requests), 500):
        block = requests[start : start + 500]
        journey += [_timed_get(client, path, headers) for path, headers, _ in block]
        floor_times += [_timed_get(floor_client, fp, {}) for _, _, fp in block]
    at = store.prefix
    bench.record(f"{at}journey_inprocess_p50_ms", percentile(journey, 50) * 1000)
    bench.record(f"{at}journey_inprocess_p99_ms", percentile(journey, 99) * 1000)
    bench.record(f"{at}floor_inprocess_p50_ms", percentile(floor_times, 50) * 1000)
    bench.record(f"{at}floor_inprocess_p99_ms", percentile(floor_times, 99) * 1000)
    bench.record(
        f"{at}journey_over_floor_inprocess_p99",
        bench.figures[f"{at}journey_inprocess_p99_ms"]
        / bench.figures[f"{at}floor_inprocess_p99_ms"],
    )


def _timed_get(client, path: str, headers: dict) -> float:
    started = time.perf_counter()
    response = client.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}: {response.data[:300]!r}")
    return elapsed


def measure_raw(bench: Bench) -> None:
    bench.say("the core query alone, in SQLite")
    db = open_db(bench.db_path, migrate=False)
    times = []
    for _ in range(2):  # the second pass is measured: the pages it needs are cached
        times = []
        for t in bench.tickets:
            started = time.perf_counter()
            core_last_articles(
                db, t.customer_id, t.created_at, since=t.created_at - 30 * DAY, limit=5
            )
            times.append(time.perf_counter() - started)
    db.conn.close()
    bench.record("raw_query_p50_ms", percentile(times, 50) * 1000)
    bench.record("raw_query_p99_ms", percentile(times, 99) * 1000)


# -- check-reply ----------------------------------------------------------------------------


def measure_check_reply(bench: Bench) -> None:
    bench.say("check-reply: a 10 kB draft with 20 links")
    app = apps.journey_app_for(bench.config)
    rule = "/api/v1/tickets/<source>/<ticket_id>/check-reply"
    tickets = bench.tickets[:2000]
    drafts = [_draft(t, n) for n, t in enumerate(tickets)]
    if apps.has_route(app, rule, "POST"):
        client = app.test_client()
        _post_drafts(bench, client, tickets, drafts)  # warms the page cache
        times = _post_drafts(bench, client, tickets, drafts)
        note = f"POST {rule} in-process, {len(times):,} drafts of 10 kB with 20 links"
    else:
        times = _check_reply_parts(bench, tickets, drafts)
        note = "endpoint not built yet: extract_article_links + the store lookups it needs"
    bench.record("check_reply_p99_ms", percentile(times, 99) * 1000, note)
    bench.record("check_reply_p50_ms", percentile(times, 50) * 1000)


def _post_drafts(bench: Bench, client, tickets: list, drafts: list[str]) -> list[float]:
    times = []
    for t, draft in zip(tickets, drafts, strict=True):
        token = mint_agent_token(bench.config.secret, source=apps.SOURCE, ticket_id=t.id)
        path = f"/api/v1/tickets/{apps.SOURCE}/{t.id}/check-reply"
        started = time.perf_counter()
        response = client.post(
            path, json={"body": draft}, headers={"Authorization": f"Bearer {token}"}
        )
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(
                f"check-reply answered {response.status_code}: {response.data[:300]!r}"
            )
    return times


def _draft(ticket: SampledTicket, n: int) -> str:
    """About 10 kB of HTML reply with 20 links: 12 to articles (some in Spanish, some
    plain-text URLs), 8 to other pages."""
    rng = random.Random(n)
    paragraphs = []
    for i in range(20):
        if i < 12:
            article = rng.choice(ARTICLE_IDS)
            locale = rng.choice(["en-us", "es"])
            url = f"https://acme.zendesk.com/hc/{locale}/articles/{article}-how-to-do-it"
        else:
            url = f"https://www.acme.example/blog/{rng.randrange(10**6)}?utm_source=support"
        link = f'<a href="{url}">this guide</a>' if i % 3 else url
        paragraphs.append(
            f"<p>Hello again! About your question number {i + 1}: please have a look at "
            f"{link}, which walks through every step with screenshots. If anything is "
            "still unclear after reading it, just reply to this email and we will get on "
            "a call to sort it out together; we are happy to help any time. "
            "Thanks for your patience while we looked into this for you.</p>\n"
        )
    text = "".join(paragraphs)
    return (text * (1 + 10_000 // len(text)))[:10_240]


def _check_reply_parts(bench: Bench, tickets: list, drafts: list) -> list[float]:
    from plugin.reply_guard.links import extract_article_links
    from plugin.store.articles import article_group

    db = open_db(bench.db_path, migrate=False)
    conn = db.conn
    times = []
    for t, draft in zip(tickets, drafts, strict=True):
        started = time.perf_counter()
        links = extract_article_links(draft)
        for link in links:
            group = article_group(db, apps.SOURCE, link.article_id or "")
            conn.execute(
                "SELECT count(*), max(occurred_at) FROM touchpoints "
                "INDEXED BY touchpoints_article_views WHERE customer_id = ? "
                "AND type = 'article_view' AND occurred_at >= ? AND article_source = ? "
                "AND article_id = ?",
                (t.customer_id, t.created_at - 90 * DAY, apps.SOURCE, group),
            ).fetchone()
        times.append(time.perf_counter() - started)
    db.conn.close()
    return times[200:]


# -- over HTTP ------------------------------------------------------------------------------


class Gunicorn:
    """One of the benchmark apps served as `journeydesk serve` serves (benchmarks/serve.py:
    plugin/serving.py's gunicorn settings), with 2 workers like its default."""

    def __init__(
        self, bench: Bench, factory: str, workers: int = 2, store: Store | None = None
    ) -> None:
        self.bench, self.factory, self.workers = bench, factory, workers
        self.store = store or bench.sqlite

    def __enter__(self) -> Gunicorn:
        self.port = free_port()
        env = {**os.environ, **apps.ENV, apps.CONFIG_ENV: str(self.store.config_path)}
        log = self.bench.folder / f"gunicorn-{self.store.prefix}{self.factory}.log"
        self.log = open(log, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.serve",
                self.factory,
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        _wait_until_up(self.port, self.process)
        return self

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status in (200, 503):
                conn.close()
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def measure_http(bench: Bench) -> None:
    _measure_http(bench, bench.sqlite)


def _measure_http(bench: Bench, store: Store) -> None:
    sizes = bench.sizes
    bench.say(
        f"{_engine(store)} over HTTP: gunicorn ({WORKER_SETTINGS['worker_class']} workers, as "
        f"served), 2 workers, 16 connections, {sizes.http_seconds:.0f} s "
        f"or {sizes.http_requests:,} requests each"
    )
    secret = store.config.secret
    journey = [
        (
            "GET",
            apps.journey_path(t.id),
            None,
            {
                "Authorization": "Bearer "
                + mint_agent_token(secret, source=apps.SOURCE, ticket_id=t.id, ttl=3 * 3600)
            },
        )
        for t in bench.tickets
    ]
    floor = [("GET", apps.floor_path(t.customer_id, t.created_at), None, {}) for t in bench.tickets]
    results: dict[str, LoadResult] = {}
    for name, factory, requests in (
        ("floor", "floor_app", floor),
        ("journey", "journey_app", journey),
    ):
        with Gunicorn(bench, factory, store=store) as server:
            run_load(server.port, requests[:2000], seconds=2, max_requests=2000)  # warm-up
            results[name] = run_load(
                server.port, requests, seconds=sizes.http_seconds, max_requests=sizes.http_requests
            )
        result = results[name]
        if result.errors:
            raise SystemExit(
                f"{name} over HTTP: {result.errors} errors, first: {result.first_error}"
            )
    j, f = results["journey"], results["floor"]
    at = store.prefix
    bench.record(f"{at}journey_http_rps", j.rate, f"{j.requests:,} requests in {j.elapsed:.1f} s")
    bench.record(f"{at}journey_http_p50_ms", percentile(j.latencies, 50) * 1000)
    bench.record(f"{at}journey_http_p99_ms", percentile(j.latencies, 99) * 1000)
    bench.record(f"{at}floor_http_rps", f.rate, f"{f.requests:,} requests in {f.elapsed:.1f} s")
    bench.record(f"{at}floor_http_p99_ms", percentile(f.latencies, 99) * 1000)
    bench.record(f"{at}journey_share_of_floor_http_rps", j.rate / f.rate)


# -- ingest and import ----------------------------------------------------------------------


def _events(bench: Bench, count: int, tag: str) -> list[dict]:
    """Article views of existing customers (by email), with ids unique to this run:
    `bench-{tag}-{n}`. The customers are `_event_customers`: the same in the copy."""
    db = open_db(bench.db_path, migrate=False)
    try:
        emails = list(customer_emails(db, _event_customers(db)).values())
    finally:
        db.conn.close()
    now = clock.now()  # the app's: an event "from the future" is refused
    events = []
    for n in range(count):
        article = ARTICLE_IDS[(n * 7) % len(ARTICLE_IDS)]
        locale = "es" if n % 4 == 0 else "en-us"
        events.append(
            {
                "id": f"bench-{tag}-{n}",
                "type": "article_view",
                "occurred_at": (now.replace(microsecond=0)).isoformat().replace("+00:00", "Z"),
                "customer": {"email": emails[n % len(emails)]},
                "article": {
                    "id": article,
                    "url": f"https://acme.zendesk.com/hc/{locale}/articles/{article}-x",
                    "title": "How to set up the Slack integration",
                    "locale": locale,
                },
            }
        )
    return events


def _event_customers(db) -> list[int]:
    return sample_customers(db, 5_000, seed=SEED)


def _ingest_batches(events: list[dict]) -> list:
    """POST /api/v1/events requests of 500 events each, with the benchmark's ingest key."""
    headers = {"Authorization": f"Bearer {apps.INGEST_KEY}", "Content-Type": "application/json"}
    return [
        ("POST", "/api/v1/events", json.dumps({"events": events[i : i + 500]}).encode(), headers)
        for i in range(0, len(events), 500)
    ]


def measure_ingest(bench: Bench) -> None:
    app = apps.journey_app_for(bench.config)
    if not apps.has_route(app, "/api/v1/events", "POST"):
        bench.say("ingest: POST /api/v1/events is not built yet; skipped")
        bench.notes["ingest_events_per_s"] = "not measured: the endpoint does not exist yet"
        return
    _measure_ingest(bench, bench.sqlite, f"ingest-{int(time.time())}")


def _measure_ingest(bench: Bench, store: Store, tag: str) -> None:
    count = bench.sizes.ingest_events
    bench.say(f"{_engine(store)}: ingest over HTTP, {count:,} events in batches of 500, 2 conns")
    bodies = _ingest_batches(_events(bench, count, tag))
    _merge_inbox(store.location)  # the worker keeps the inbox near empty between bursts
    with Gunicorn(bench, "journey_app", store=store) as server:
        result = run_load(server.port, bodies, connections=2, seconds=300, max_requests=len(bodies))
    if result.errors:
        raise SystemExit(f"ingest: {result.errors} errors, first: {result.first_error}")
    at = store.prefix
    bench.record(
        f"{at}ingest_events_per_s",
        result.requests * 500 / result.elapsed,
        f"{result.requests * 500:,} events, {result.requests} requests, 2 connections",
    )
    started = time.perf_counter()
    merged = _merge_inbox(store.location)
    if merged != count:  # each batch sent once, each event new: all of them must arrive
        raise SystemExit(f"ingest: {count:,} events sent, {merged:,} reached the history")
    bench.record(
        f"{at}inbox_merge_events_per_s",
        merged / (time.perf_counter() - started),
        f"the {merged:,} ingested events merged into the history as the worker does",
    )


def measure_sustained_ingest(bench: Bench) -> None:
    """Ingest that never stops: the worker's merge job runs beside it (its own process,
    every MERGE_SECONDS) and the clock stops when the last event is merged."""
    count = 3 * bench.sizes.ingest_events
    bench.say(f"sustained ingest: {count:,} events while the worker's merge job runs")
    bodies = _ingest_batches(_events(bench, count, f"sustained-{int(time.time())}"))
    _merge_inbox(bench.db_path)
    env = {**os.environ, **apps.ENV}
    merger = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.merger", str(bench.config_path)], env=env
    )
    try:
        with Gunicorn(bench, "journey_app") as server:
            started = time.perf_counter()
            result = run_load(
                server.port, bodies, connections=2, seconds=600, max_requests=len(bodies)
            )
            sent = time.perf_counter() - started
            _wait_until_merged(bench)
            elapsed = time.perf_counter() - started
    finally:
        merger.terminate()
        merger.wait(timeout=30)
    if result.errors:
        raise SystemExit(f"sustained ingest: {result.errors} errors, first: {result.first_error}")
    bench.record(
        "ingest_sustained_events_per_s",
        count / elapsed,
        f"{count:,} events sent in {sent:.1f} s, all merged after {elapsed:.1f} s",
    )


def _wait_until_merged(bench: Bench, timeout: float = 600) -> None:
    db = open_db(bench.db_path, migrate=False)
    try:
        deadline = time.monotonic() + timeout
        while count_waiting(db):
            if time.monotonic() > deadline:
                raise SystemExit("sustained ingest: the inbox did not empty in time")
            time.sleep(0.1)
    finally:
        db.conn.close()


def _merge_inbox(location: str | Path) -> int:
    """What the worker's merge job does (plugin/background/jobs.py scheduled_merge), inline."""
    db = open_db(location, migrate=False, cache_mib=64)
    try:
        return merge_inbox(db)
    finally:
        db.conn.close()


def measure_import(bench: Bench) -> None:
    from plugin.cli import main as cli

    if "import" not in cli.commands:
        bench.say("import: `journeydesk import` is not built yet; skipped")
        bench.notes["import_lines_per_s"] = "not measured: the command does not exist yet"
        return
    count = bench.sizes.import_lines
    bench.say(f"import: {count:,} JSONL lines through `journeydesk import`")
    path = bench.folder / "events.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for event in _events(bench, count, f"import-{int(time.time())}"):
            out.write(json.dumps(event) + "\n")
    command = [
        str(Path(sys.executable).with_name("journeydesk")),
        "import",
        str(path),
        "--source",
        apps.SOURCE,
        "--config",
        str(bench.config_path),
    ]
    _merge_inbox(bench.db_path)
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **apps.ENV}, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"import failed: {done.stderr or done.stdout}")
    bench.record("import_lines_per_s", count / elapsed, "the whole command, start-up included")
    _merge_inbox(bench.db_path)  # not timed: the worker's share (inbox_merge_events_per_s)


# -- sync -----------------------------------------------------------------------------------


def measure_sync(bench: Bench) -> None:
    """The sync into a fresh file beside --db (removed after)."""
    scratch = bench.db_path.with_name("sync-scratch.db")
    _remove_database(scratch)
    try:
        _measure_sync(bench, bench.sqlite, str(scratch))
    finally:
        _remove_database(scratch)  # a million tickets' worth of scratch


def _measure_sync(bench: Bench, store: Store, scratch: str) -> None:
    """journeydesk's sync from a local Zendesk export into `scratch`, an empty store of
    `store`'s engine (sync_probe.py, its own process)."""
    count = bench.sizes.sync_tickets
    bench.say(f"{_engine(store)}: sync of {count:,} tickets from a local Zendesk export")
    python = sys.executable
    server = subprocess.Popen(
        [
            python,
            "-m",
            "benchmarks.export_server",
            "--tickets",
            str(count),
            "--token",
            apps.ZENDESK_TOKEN,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline().split()[1])
        probe = subprocess.Popen(
            [
                python,
                "-m",
                "benchmarks.sync_probe",
                "--db",
                scratch,
                "--base-url",
                f"http://127.0.0.1:{port}",
                "--token",
                apps.ZENDESK_TOKEN,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        peak = _watch(probe)
        report = json.loads(probe.stdout.read().strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=10)
    if probe.returncode:
        raise SystemExit(f"the sync probe failed with {probe.returncode}")
    peak = max(peak, report.get("VmHWM", 0))
    samples = report["samples"]
    growth = samples[-1]["VmRSS"] - samples[0]["VmRSS"] if len(samples) > 1 else 0.0
    at = store.prefix
    bench.record(
        f"{at}sync_tickets_per_s",
        report["tickets"] / report["seconds"],
        f"{report['tickets']:,} tickets in {report['seconds']:.1f} s",
    )
    bench.record(
        f"{at}sync_peak_rss_mb",
        peak,
        f"RSS {samples[0]['VmRSS']:.0f} MB after {samples[0]['tickets']:,} tickets, "
        f"{samples[-1]['VmRSS']:.0f} MB after {samples[-1]['tickets']:,} ({growth:+.0f} MB)"
        if samples
        else "",
    )
    bench.record(f"{at}sync_rss_growth_mb", growth)


def measure_outreach_send(bench: Bench) -> None:
    """Outreach delivery to a local SMTP sink (benchmarks/outreach_probe.py, its own
    process; the sink in another): messages/s over one connection, and RSS while sending.
    Uses a scratch outbox, not the benchmark database."""
    count = 2_000 if bench.args.quick else 20_000
    bench.say(f"outreach_send: {count:,} emails to a local SMTP sink, one connection")
    probe = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.outreach_probe", "--messages", str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    peak = _watch(probe)
    report = json.loads(probe.stdout.read().strip().splitlines()[-1])
    if probe.returncode or report["sent"] != count:
        raise SystemExit(f"the outreach probe failed ({probe.returncode}): {report['errors']}")
    samples = report["samples"]
    growth = samples[-1]["VmRSS"] - samples[0]["VmRSS"] if len(samples) > 1 else 0.0
    bench.record(
        "outreach_send_msgs_per_s",
        report["sent"] / report["seconds"],
        f"{report['sent']:,} emails in {report['seconds']:.1f} s over "
        f"{report['smtp_sessions']} SMTP connection(s)",
    )
    bench.record(
        "outreach_send_peak_rss_mb",
        max(peak, report.get("VmHWM", 0)),
        f"RSS {samples[0]['VmRSS']:.0f} MB at {samples[0]['at']} s, "
        f"{samples[-1]['VmRSS']:.0f} MB at {samples[-1]['at']} s ({growth:+.1f} MB)"
        if samples
        else "",
    )
    bench.record("outreach_send_rss_growth_mb", growth)


def _watch(process: subprocess.Popen) -> float:
    """Sample a process's peak resident memory (VmHWM) from /proc until it exits."""
    peak = 0.0
    while process.poll() is None:
        try:
            peak = max(peak, memory_mb(process.pid).get("VmHWM", 0.0))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.5)
    return peak


# -- PostgreSQL beside SQLite ---------------------------------------------------------------


def measure_pg_copy(bench: Bench) -> None:
    """`journeydesk db copy` of --db into --postgres (plugin/store/copy.py `copy_store`, the
    command's own code), timed, then VACUUM (ANALYZE) as after any bulk load.

    When the target already holds a verified copy of this desk, the copy only verifies
    (every table's count on both sides) and its figures stay those of the run that made
    it. A copy of an older state of the desk (each run's SQLite steps add ~610,000 views)
    is refused by the copy itself; with --postgres-recopy the target database is then
    dropped and made again and the copy starts over, otherwise the PostgreSQL steps are
    skipped and the report says why."""
    store = bench.postgres
    assert store is not None
    bench.postgres_copied = True
    bench.say(f"postgres: `db copy` of {bench.db_path} into {store.location}")
    try:
        report = _copy_desk(bench, store)
    except CopyRefused as refused:
        bench.postgres_problem = f"the copy was refused: {refused}"
        bench.notes["pg_copy_s"] = bench.postgres_problem
        bench.say(f"  {bench.postgres_problem}")
        return
    rows = sum(count.source for count in report.counts)
    tables = sum(1 for count in report.counts if count.source)
    if report.already_verified:
        bench.say(f"  {store.location} already holds a verified copy of this desk: only verified")
        bench.record(
            "pg_copy_verify_s",
            report.seconds,
            f"the target held a verified copy: {rows:,} rows in {tables} tables counted on "
            "both sides, nothing copied",
        )
        bench.carried |= {"pg_copy_s", "pg_copy_rows_per_s", "pg_vacuum_analyze_s"}
        return
    bench.record(
        "pg_copy_s",
        report.seconds,
        f"{report.rows_written:,} rows of {tables} tables"
        + (" (a copy resumed)" if report.resumed else "")
        + "; indexes made again and counts verified included",
    )
    bench.record("pg_copy_rows_per_s", report.rows_written / max(report.seconds, 1e-9))
    bench.say("  VACUUM (ANALYZE): statistics and visibility after the bulk load")
    started = time.perf_counter()
    pg_admin.vacuum_analyze(store.location)
    bench.record(
        "pg_vacuum_analyze_s",
        time.perf_counter() - started,
        "after `db copy` (which analyses every table itself): the visibility map, as an "
        "operator's VACUUM after a bulk load",
    )


def _copy_desk(bench: Bench, store: Store):
    """copy_store, once more from an empty database if the target held an outdated copy
    and --postgres-recopy allows it."""
    source = open_db(bench.db_path, migrate=False)
    try:
        try:
            return copy_store(source, store.location, progress=_CopyProgress(bench))
        except CopyRefused as refused:
            if not bench.args.postgres_recopy or not pg_admin.holds_a_copy(store.location):
                raise CopyRefused(
                    f"{refused} (--postgres-recopy drops and remakes a database holding an "
                    "older `db copy`, then copies again)"
                ) from None
            bench.say(f"  {refused}\n  --postgres-recopy: emptying the database, copying again")
        pg_admin.recreate_database(store.location)
        return copy_store(source, store.location, progress=_CopyProgress(bench))
    finally:
        source.conn.close()


class _CopyProgress:
    """A line when a table starts, then at most one every 30 s."""

    def __init__(self, bench: Bench) -> None:
        self.bench, self.table, self.said = bench, "", 0.0

    def __call__(self, table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if table != self.table or now - self.said >= 30:
            if total:
                self.bench.say(f"  {table}: {done:,} of {total:,} rows")
            self.table, self.said = table, now


def _postgres_step(measure: Callable[[Bench, Store], None], step: str) -> Callable[[Bench], None]:
    """A PostgreSQL step: the copy first (once a run; it only verifies an up-to-date copy),
    then `measure` against the copy; with no copy to measure, its figures say why."""

    def run(bench: Bench) -> None:
        if bench.postgres is not None and not bench.postgres_copied:
            measure_pg_copy(bench)
        problem = bench.postgres_problem or (
            None if bench.postgres else "not measured yet: run with --postgres URL"
        )
        if problem:
            for name, of in STEP_OF.items():
                if of == step:
                    bench.notes[name] = problem
            return
        measure(bench, bench.postgres)

    run.__doc__ = measure.__doc__
    return run


def measure_pg_ingest(bench: Bench, store: Store) -> None:
    """The ingest step against the copy; its events and changed-customer marks are
    deleted after, and the copy verified again: the next run finds it as it was."""
    tag = f"pg-ingest-{int(time.time())}"
    sqlite = open_db(bench.db_path, migrate=False)
    try:
        customers = _event_customers(sqlite)
    finally:
        sqlite.conn.close()
    db = open_db(store.location, migrate=False)
    try:
        marked_before = changed_customers(db, customers)
        try:
            _measure_ingest(bench, store, tag)
        finally:
            sources = store.config.touchpoint_sources(apps.SOURCE)  # the ingest key's
            removed = forget_events(db, sources, f"bench-{tag}-")
            unmarked = unmark_changed(db, set(customers) - marked_before)
    finally:
        db.conn.close()
    bench.say(f"  removed the step's {removed:,} events and {unmarked:,} changed marks")
    _verify_copy(bench, store)


def _verify_copy(bench: Bench, store: Store) -> None:
    """`db copy` again: it only verifies, and refuses if the copy no longer matches."""
    source = open_db(bench.db_path, migrate=False)
    try:
        copy_store(source, store.location)
    except CopyRefused as refused:
        raise SystemExit(
            f"the PostgreSQL copy was left different from the desk: {refused}"
        ) from None
    finally:
        source.conn.close()


def measure_pg_sync(bench: Bench, store: Store) -> None:
    """The sync into a new database beside the copy (dropped after), as the SQLite step
    syncs into a new file."""
    with pg_admin.scratch_database(store.location, "sync_scratch") as scratch:
        _measure_sync(bench, store, scratch)


def _engine(store: Store) -> str:
    return "PostgreSQL" if store.prefix else "SQLite"


# -- report ---------------------------------------------------------------------------------


def wait_for_quiet(bench: Bench, below: float, max_wait: float) -> float:
    """Wait (up to `max_wait` s) until other work on the machine settles; the load seen
    when the step starts goes into the report, so a noisy figure can be told apart."""
    deadline = time.monotonic() + max_wait
    load = os.getloadavg()[0]
    if load >= below:
        bench.say(f"  (waiting for the load average to fall below {below}: now {load:.2f})")
    while load >= below and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return round(load, 2)


def machine_info() -> dict:
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(int(meminfo[1]) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _target_text(value: float, how: str) -> str:
    sign = "≤" if how == "le" else "≥"
    return f"{sign} {value:g}"


def _verdict(value: float, target: float, how: str) -> str:
    ok = value <= target if how == "le" else value >= target
    return "pass" if ok else "FAIL"


def write_reports(bench: Bench, dataset: dict, machine: dict, command: str, seconds: float) -> None:
    DOCS.mkdir(exist_ok=True)
    if bench.postgres is not None:
        machine = {**machine, "postgres": pg_admin.server_settings(bench.postgres.location)}
    data = {
        **bench.figures,
        "machine": machine,
        "dataset": dataset,
        "command": command,
        "quick": bench.args.quick,
        "run_seconds": round(seconds),
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notes": bench.notes,
        "load_average_per_step": bench.loads,
    }
    out = Path(bench.args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = _with_previous_run(data, out / "benchmarks.json", bench.args.only)
    data = _with_carried(data, out / "benchmarks.json", bench.carried)
    (out / "benchmarks.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (out / "benchmarks.md").write_text(render_markdown(data), encoding="utf-8")
    bench.say(f"wrote {out / 'benchmarks.json'} and {out / 'benchmarks.md'}")


def _with_previous_run(data: dict, previous_path: Path, only: list[str] | None) -> dict:
    """A run of some steps (--only) updates their figures in the previous report and
    keeps the rest, with the command that re-measured them."""
    if not only or not previous_path.exists():
        return data
    previous = json.loads(previous_path.read_text(encoding="utf-8"))
    kept = {
        name: previous[name] for name in STEP_OF if name in previous and STEP_OF[name] not in only
    }
    notes = {
        name: note
        for name, note in previous.get("notes", {}).items()
        if STEP_OF.get(name) not in only
    }
    rerun = {"command": data["command"], "finished_at": data["finished_at"], "steps": only}
    # Figures of the steps run again that this run did not measure are dropped, not kept.
    others = {name: value for name, value in previous.items() if STEP_OF.get(name) not in only}
    return {
        **others,
        **kept,
        **{name: data[name] for name in STEP_OF if name in data},
        "notes": {**notes, **data["notes"]},
        "load_average_per_step": {
            **previous.get("load_average_per_step", {}),
            **data["load_average_per_step"],
        },
        "reruns": [*previous.get("reruns", []), rerun],
    }


def _with_carried(data: dict, previous_path: Path, carried: set[str]) -> dict:
    """The figures this run did not measure again (a copy that only verified) as the
    previous report has them, marked as such."""
    if not carried or not previous_path.exists():
        return data
    previous = json.loads(previous_path.read_text(encoding="utf-8"))
    notes = dict(data["notes"])
    for name in carried:
        if name in previous:
            data[name] = previous[name]
            note = previous.get("notes", {}).get(name, "")
            if "measured by an earlier run" not in note:
                note = (
                    f"{note}; measured by an earlier run" if note else "measured by an earlier run"
                )
            notes[name] = note
    return {**data, "notes": notes}


ROWS = [  # (figure, what it is)
    ("journey_inprocess_p50_ms", "journey API in-process, p50"),
    ("journey_inprocess_p99_ms", "journey API in-process, p99"),
    ("floor_inprocess_p50_ms", "floor in-process (core query only), p50"),
    ("floor_inprocess_p99_ms", "floor in-process (core query only), p99"),
    ("journey_over_floor_inprocess_p99", "journey p99 / floor p99, in-process"),
    ("raw_query_p50_ms", "core query in SQLite alone, p50"),
    ("raw_query_p99_ms", "core query in SQLite alone, p99"),
    ("journey_http_rps", "journey API over HTTP, requests/s"),
    ("journey_http_p50_ms", "journey API over HTTP, p50"),
    ("journey_http_p99_ms", "journey API over HTTP, p99"),
    ("floor_http_rps", "floor over HTTP, requests/s"),
    ("floor_http_p99_ms", "floor over HTTP, p99"),
    ("journey_share_of_floor_http_rps", "journey / floor throughput over HTTP"),
    ("check_reply_p50_ms", "check-reply, 10 kB draft, 20 links, p50"),
    ("check_reply_p99_ms", "check-reply, 10 kB draft, 20 links, p99"),
    ("ingest_events_per_s", "ingest API, events/s (batches of 500)"),
    ("inbox_merge_events_per_s", "ingested events merged into the history, events/s"),
    (
        "ingest_sustained_events_per_s",
        "ingest that never stops, merge job running, until all merged, events/s",
    ),
    ("import_lines_per_s", "`journeydesk import`, lines/s"),
    ("sync_tickets_per_s", "Zendesk ticket sync, tickets/s"),
    ("sync_peak_rss_mb", "sync peak RSS, MB"),
    ("sync_rss_growth_mb", "sync RSS growth, first to last sample, MB"),
    ("recompute_incremental_10k_s", "stage recompute, 10,000 changed customers, s"),
    ("recompute_full_1m_s", "stage recompute, all customers, s"),
    ("outreach_audience_s", "outreach: one rule's audience over all customers, s"),
    ("outreach_timeline_14d_s", "outreach: 14-day dry-run timeline, shipped rules enabled, s"),
    ("outreach_send_msgs_per_s", "outreach: emails sent to a local SMTP sink, one connection, /s"),
    ("outreach_send_peak_rss_mb", "outreach sending, peak RSS, MB"),
    ("outreach_send_rss_growth_mb", "outreach sending, RSS growth, MB"),
    ("history_rebuild_1m_s", "stage history rebuild, 1M customers, s"),
    ("history_rebuild_cpu_1m_s", "stage history rebuild, 1M customers, CPU s"),
    ("history_rss_growth_mb", "stage history rebuild, RSS growth, MB"),
    ("history_sidebar_max_ms", "slowest sidebar read or journey save beside the rebuild, ms"),
    ("report_figures_build_90d_s", "report figures of the last 90 days, built from nothing, s"),
    ("report_page_slowest_90d_s", "the slowest report page over 90 days, s"),
    *(
        (f"report_{name.replace('-', '_')}_90d_s", f"report page `{name}` over 90 days, s")
        for name in [*page_names(), "pain-point-tickets"]
    ),
    ("report_refresh_s", "report figures: the worker's refresh when little changed, s"),
    ("report_worker_run_s", "report figures: one worker run building older days, s"),
    ("sla_what_if_90d_s", "SLA what-if, five rules, tickets of the last 90 days, s"),
    ("sla_apply_ms_per_ticket", "SLA rules applied to a newly synced ticket, ms per ticket"),
]
PG_MEASURED = [  # the SQLite figures measured again on PostgreSQL, as pg_<name>
    *(name for name, _ in ROWS if name.startswith(("journey_in", "floor_in", "journey_over"))),
    *(name for name, _ in ROWS if "_http_" in name or name.endswith("http_rps")),
    "ingest_events_per_s",
    "inbox_merge_events_per_s",
    *(name for name, _ in ROWS if name.startswith("sync_")),
]
ROWS += [
    ("pg_copy_s", "PostgreSQL: `journeydesk db copy` of the desk, s"),
    ("pg_copy_rows_per_s", "PostgreSQL: `journeydesk db copy`, rows/s"),
    ("pg_copy_verify_s", "PostgreSQL: `db copy` into a verified copy (it only verifies), s"),
    ("pg_vacuum_analyze_s", "PostgreSQL: VACUUM (ANALYZE) after the copy, s"),
    *((f"pg_{name}", f"PostgreSQL: {label}") for name, label in ROWS if name in PG_MEASURED),
]


STEP_OF = {  # the benchmarks.run step that measures each figure
    **dict.fromkeys(
        [name for name, _ in ROWS if name.startswith(("journey_in", "floor_in", "journey_over"))],
        "inprocess",
    ),
    **dict.fromkeys([name for name, _ in ROWS if name.startswith("raw_")], "raw"),
    **dict.fromkeys(
        [name for name, _ in ROWS if "_http_" in name or name.endswith("http_rps")], "http"
    ),
    **dict.fromkeys([name for name, _ in ROWS if name.startswith("check_reply")], "check_reply"),
    "ingest_events_per_s": "ingest",
    "inbox_merge_events_per_s": "ingest",
    "ingest_sustained_events_per_s": "sustained_ingest",
    "import_lines_per_s": "import",
    **dict.fromkeys([name for name, _ in ROWS if name.startswith("sync_")], "sync"),
    **dict.fromkeys([name for name, _ in ROWS if name.startswith("recompute_")], "recompute"),
    **dict.fromkeys([name for name, _ in ROWS if name.startswith("outreach_")], "outreach"),
    **{name: "outreach_send" for name, _ in ROWS if name.startswith("outreach_send")},
    **dict.fromkeys([name for name, _ in ROWS if name.startswith("sla_")], "sla"),
    **dict.fromkeys([name for name, _ in ROWS if name.startswith("report_")], "reports"),
    **dict.fromkeys([name for name, _ in ROWS if name.startswith("history_")], "history"),
}
STEP_OF.update(
    {
        **{f"pg_{name}": f"pg_{STEP_OF[name]}" for name in PG_MEASURED},
        **dict.fromkeys(["pg_copy_s", "pg_copy_rows_per_s", "pg_copy_verify_s"], "pg_copy"),
        "pg_vacuum_analyze_s": "pg_copy",
    }
)
SIDE_BY_SIDE = [  # (SQLite figure, what it is): issue 17's figures on both engines
    ("journey_inprocess_p99_ms", "journey API in-process, p99, ms"),
    ("journey_http_rps", "journey API over HTTP, requests/s"),
    ("ingest_events_per_s", "ingest API, events/s"),
    ("sync_tickets_per_s", "Zendesk ticket sync, tickets/s"),
]
NOT_MEASURED_YET = "not measured yet"


def render_markdown(data: dict) -> str:
    machine, dataset = data["machine"], data["dataset"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `"
        + data["command"]
        + "` on "
        + data["finished_at"]
        + " ("
        + ("a --quick smoke run: small samples, not the reference" if data["quick"] else "full run")
        + f", {data['run_seconds']} s). Re-run it to check; see "
        "[How to re-run](#how-to-re-run) below.",
        "",
        f"**Machine**: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gb']} GB, "
        f"Python {machine['python']}, SQLite {machine['sqlite']}, {machine['os']}; "
        f"load average at start {machine['load_average_at_start']}"
        + (
            "; PostgreSQL "
            + ", ".join(f"{key} {value}" for key, value in machine["postgres"].items())
            if machine.get("postgres")
            else ""
        )
        + ".",
        "",
        f"**Dataset**: {dataset['customers']:,} customers, {dataset['views']:,} article views, "
        f"{dataset['tickets']:,} tickets.",
        "",
        *_side_by_side(data),
        "| figure | value | target | result | notes | step (`--only`) |",
        "|---|---:|---:|---|---|---|",
    ]
    for name, label in ROWS:
        if name not in data:
            missing = NOT_MEASURED_YET if name.startswith("pg_") else "not measured"
            note = data["notes"].get(name, missing)
            lines.append(
                f"| {label} (`{name}`) | — | {_target_cell(name)} | — | {note} | "
                f"`{STEP_OF[name]}` |"
            )
            continue
        value = data[name]
        target = TARGETS.get(name)
        result = _verdict(value, *target) if target else ""
        lines.append(
            f"| {label} (`{name}`) | {value:,} | {_target_cell(name)} | {result} | "
            f"{data['notes'].get(name, '')} | `{STEP_OF[name]}` |"
        )
    loads = data.get("load_average_per_step") or {}
    lines += [
        "",
        "Every figure above comes from the one command: `"
        + data["command"]
        + "`"
        + (", but for the steps re-measured since (below)" if data.get("reruns") else "")
        + "; `--only STEP` re-runs one step. "
        "Load average (1 min) when each step started: "
        + ", ".join(f"{step} {load}" for step, load in loads.items())
        + ".",
        *(
            f"Re-measured since: step {', '.join(f'`{step}`' for step in r['steps'])} by `"
            + r["command"]
            + f"` on {r['finished_at']}."
            for r in data.get("reruns", [])
        ),
        "",
        LIMITS,
    ]
    return "\n".join(lines) + "\n"


def _side_by_side(data: dict) -> list[str]:
    """Issue 17's figures, SQLite and PostgreSQL in one table (same machine, same run)."""

    def cell(name: str) -> str:
        if name not in data:
            return NOT_MEASURED_YET if name.startswith("pg_") else "—"
        target = TARGETS.get(name)
        verdict = f" ({_verdict(data[name], *target)})" if target else ""
        return f"{data[name]:,}{verdict}"

    lines = [
        "**SQLite and PostgreSQL**, same machine, same run (`--postgres`; every figure is "
        "also in the table below):",
        "",
        "| figure | SQLite | target | PostgreSQL | target |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in SIDE_BY_SIDE:
        lines.append(
            f"| {label} | {cell(name)} | {_target_cell(name)} | {cell('pg_' + name)} | "
            f"{_target_cell('pg_' + name)} |"
        )
    lines += [
        f"| `journeydesk db copy` of the desk, s | | | {cell('pg_copy_s')} | |",
        f"| `journeydesk db copy`, rows/s | | | {cell('pg_copy_rows_per_s')} | |",
        "",
    ]
    return lines


LIMITS_FILE = Path(__file__).with_name("limits.md")
LIMITS = LIMITS_FILE.read_text(encoding="utf-8") if LIMITS_FILE.exists() else ""
"""The hand-written part of docs/benchmarks.md (what limits each figure, how to re-run):
kept in benchmarks/limits.md so that every run can rewrite the rest."""


def _target_cell(name: str) -> str:
    target = TARGETS.get(name)
    return _target_text(*target) if target else ""


STEPS: dict[str, Callable[[Bench], None]] = {
    "recompute": measure_recompute,
    "outreach": measure_outreach,  # reads the journeys the recompute stored
    "reports": measure_reports,  # reads the journeys and stage history the recompute stored
    "sla": measure_sla,  # reads them too, from a scratch copy
    "raw": measure_raw,
    "inprocess": measure_inprocess,
    "check_reply": measure_check_reply,
    "http": measure_http,
    "ingest": measure_ingest,
    "import": measure_import,
    # The heaviest writer last but for the sync (its own file): the load it leaves behind
    # would fall on the import.
    "sustained_ingest": measure_sustained_ingest,
    "sync": measure_sync,
    "outreach_send": measure_outreach_send,
    # PostgreSQL (--postgres): the desk as the SQLite steps left it, copied, then measured.
    "pg_copy": measure_pg_copy,
    "pg_inprocess": _postgres_step(_measure_inprocess, "pg_inprocess"),
    "pg_http": _postgres_step(_measure_http, "pg_http"),
    "pg_ingest": _postgres_step(measure_pg_ingest, "pg_ingest"),
    "pg_sync": _postgres_step(measure_pg_sync, "pg_sync"),
    "history": measure_history,  # on a copy of its own
}


READ_ONLY_STEPS = {"sla"}


def _open_read_only(path: Path):
    return StoreDatabase(sqlite3.connect(f"file:{path}?mode=ro", uri=True))


def _check_postgres(args: argparse.Namespace) -> None:
    """Before any step: --postgres is a PostgreSQL URL of a server that answers (a run
    should not find out after the SQLite steps), and PostgreSQL steps asked for by
    --only have one."""
    wanted = [step for step in args.only or [] if step.startswith("pg_")]
    if not args.postgres:
        if wanted:
            raise SystemExit(
                f"--only {' '.join(wanted)}: the PostgreSQL steps need --postgres "
                "postgresql://user@host:port/database"
            )
        return
    if not args.postgres.startswith(("postgresql://", "postgres://")):
        raise SystemExit(
            f"--postgres: not a PostgreSQL URL: {args.postgres!r} "
            "(write it like postgresql://postgres@127.0.0.1:5432/desk)"
        )
    pg_admin.database_name(args.postgres)
    problem = pg_admin.reachable(args.postgres)
    if problem:
        raise SystemExit(f"--postgres {args.postgres}: the server does not answer ({problem})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", help="a database made by benchmarks.generate")
    parser.add_argument("--quick", action="store_true", help="small samples (smoke run)")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="only rewrite benchmarks.md from the benchmarks.json in --out",
    )
    parser.add_argument("--only", nargs="*", choices=list(STEPS), help="run only these steps")
    parser.add_argument("--out", default=str(DOCS), help="where to write the reports")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure on PostgreSQL: the desk is copied into this database "
        "(postgresql://user@host:port/name; empty, or holding a `db copy` of --db)",
    )
    parser.add_argument(
        "--postgres-recopy",
        action="store_true",
        help="when --postgres holds an older `db copy` of the desk, drop and remake that "
        "database and copy again (without it the PostgreSQL steps are skipped)",
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=1.0,
        help="before each step, wait until the 1-minute load average is below this",
    )
    parser.add_argument(
        "--max-wait", type=float, default=900, help="seconds to wait for --quiet at most"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.render_only:
        data = json.loads((Path(args.out) / "benchmarks.json").read_text(encoding="utf-8"))
        (Path(args.out) / "benchmarks.md").write_text(render_markdown(data), encoding="utf-8")
        return
    if not args.db or not Path(args.db).exists():
        raise SystemExit(f"{args.db} does not exist; make it with python -m benchmarks.generate")
    _check_postgres(args)
    started = time.perf_counter()
    machine = machine_info()
    bench = Bench(args)
    # Run alone, steps that only read --db leave it as it was: opened read-only, neither
    # migrated nor checkpointed.
    read_only = bool(args.only) and set(args.only) <= READ_ONLY_STEPS
    db = _open_read_only(bench.db_path) if read_only else open_db(bench.db_path)
    try:
        dataset = dataset_size(db)
        bench.tickets = sample_tickets(db, apps.SOURCE, bench.sizes.tickets, seed=SEED)
    finally:
        db.conn.close()
    bench.say(
        f"dataset: {dataset['customers']:,} customers, {dataset['views']:,} views, "
        f"{dataset['tickets']:,} tickets; {machine['cores']} cores, "
        f"load {machine['load_average_at_start']}"
    )
    try:
        for name, step in STEPS.items():
            if name.startswith("pg_") and not args.postgres:
                continue  # the report says "not measured yet"
            if not args.only or name in args.only:
                bench.loads[name] = wait_for_quiet(bench, args.quiet, args.max_wait)
                step(bench)
    finally:
        shutil.rmtree(bench.folder, ignore_errors=True)
    command = "python -m benchmarks.run --db " + str(args.db) + (" --quick" if args.quick else "")
    if args.postgres:
        command += " --postgres " + args.postgres
    if args.only:
        command += " --only " + " ".join(args.only)
    write_reports(bench, dataset, machine, command, time.perf_counter() - started)


if __name__ == "__main__":
    main()
