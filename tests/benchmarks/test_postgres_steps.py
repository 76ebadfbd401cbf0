"""The benchmark's PostgreSQL steps (`--postgres`) on a small generated desk and the test
cluster: the desk copied with `db copy`'s own code, the floor answering alike on both
engines, the ingest step leaving the copy as it found it, a verified copy only verified,
an outdated one refused or made again. Figures are never asserted: only that they exist."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from benchmarks import apps, generate, run
from benchmarks.datasets import sample_tickets
from connectors.records import CustomerRef, Touchpoint
from plugin.store import open_db
from plugin.store.copy import copy_store
from plugin.store.touchpoints import insert_touchpoints


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    database = tmp_path_factory.mktemp("bench-pg") / "desk.db"
    args = generate.parse_args(
        ["--customers", "400", "--views", "8000", "--tickets", "800", "--db", str(database)]
    )
    generate.generate(args, out=io.StringIO())
    return database


def _run(desk, out, url, *steps, recopy=False) -> dict:
    argv = ["--db", str(desk), "--quick", "--out", str(out), "--max-wait", "0"]
    argv += ["--postgres", url, "--only", *steps] + (["--postgres-recopy"] if recopy else [])
    run.main(argv)
    return json.loads((out / "benchmarks.json").read_text(encoding="utf-8"))


def test_the_floor_answers_alike_on_both_engines(desk, postgres_url):
    source = open_db(desk, migrate=False)
    try:
        copy_store(source, postgres_url)
        tickets = sample_tickets(source, apps.SOURCE, 60, seed=3)
    finally:
        source.conn.close()
    on_sqlite = apps.floor_app(str(desk)).test_client()
    on_postgres = apps.floor_app(postgres_url).test_client()
    answers = 0
    for ticket in tickets:
        path = apps.floor_path(ticket.customer_id, ticket.created_at)
        expected = on_sqlite.get(path).get_json()
        assert on_postgres.get(path).get_json() == expected
        answers += bool(expected)
    assert answers >= 20  # most tickets follow some reading


def test_copy_ingest_then_only_verify_then_an_outdated_copy(desk, postgres_url, tmp_path, capsys):
    figures = _run(desk, tmp_path, postgres_url, "pg_copy", "pg_ingest")
    assert figures["pg_copy_s"] > 0 and figures["pg_copy_rows_per_s"] > 0
    assert figures["pg_ingest_events_per_s"] > 0
    # The ingest step verified the copy after removing its events (else SystemExit).
    assert "removed the step's 10,000 events" in capsys.readouterr().out

    again = _run(desk, tmp_path, postgres_url, "pg_copy")
    assert "pg_copy_verify_s" in again
    assert again["pg_copy_s"] == figures["pg_copy_s"]  # carried, not measured again
    assert "measured by an earlier run" in again["notes"]["pg_copy_s"]
    assert "already holds a verified copy" in capsys.readouterr().out

    _add_a_view(desk)  # as each run's SQLite steps do
    refused = _run(desk, tmp_path, postgres_url, "pg_copy", "pg_inprocess")
    assert "pg_journey_inprocess_p99_ms" not in refused
    note = refused["notes"]["pg_journey_inprocess_p99_ms"]
    assert "the copy was refused" in note and "--postgres-recopy" in note
    assert refused["notes"]["pg_copy_s"] == note

    recopied = _run(desk, tmp_path, postgres_url, "pg_copy", recopy=True)
    assert "pg_copy_s" in recopied and "pg_copy_verify_s" not in recopied
    assert "emptying the database, copying again" in capsys.readouterr().out
    markdown = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    assert "| figure | SQLite | target | PostgreSQL | target |" in markdown


def test_postgres_steps_without_a_url_say_how(desk, tmp_path):
    with pytest.raises(SystemExit, match="need --postgres"):
        run.main(["--db", str(desk), "--out", str(tmp_path), "--only", "pg_http"])
    with pytest.raises(SystemExit, match="not a PostgreSQL URL"):
        run.main(["--db", str(desk), "--out", str(tmp_path), "--postgres", "desk.db"])


def _add_a_view(desk) -> None:
    db = open_db(desk, migrate=False)
    try:
        point = Touchpoint(
            id="test-outdated-copy",
            type="article_view",
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            customer=CustomerRef(source_id="100000000001"),
            channel="help_center",
            article_id=run.ARTICLE_IDS[0],
            article_locale="en-us",
        )
        with db.atomic():
            insert_touchpoints(db, apps.SOURCE, [point], article_source=apps.SOURCE)
    finally:
        db.conn.close()
