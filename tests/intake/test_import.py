"""`journeydesk import FILE --source NAME`, run as an admin would: a real subprocess."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

from connectors.files import BadLine
from connectors.records import CustomerRef
from plugin.intake.ingest import IngestTarget, import_events
from plugin.store import open_db, open_store
from plugin.store.customers import find_customer
from plugin.store.history import article_views_of, timeline
from plugin.store.touchpoints import count_touchpoints
from tests.helpers.cli import journeydesk
from tests.helpers.config import database_of, write_config


def run_import(folder: Path, file: Path, source: str = "demo") -> subprocess.CompletedProcess:
    config = folder / "config.toml"
    if not config.exists():
        write_config(folder, customers=5)
    return journeydesk("import", str(file), "--source", source, "--config", str(config))


def event(number: int, **overrides) -> dict:
    base = {
        "id": f"evt-{number}",
        "type": "article_view",
        "occurred_at": f"2026-10-{1 + number % 28:02d}T10:00:00Z",
        "customer": {"email": f"reader{number % 7}@example.com"},
        "article": {"id": str(100 + number % 13), "title": "How to export", "locale": "en-us"},
    }
    return base | overrides


def views_of(folder: Path, email: str) -> list[dict]:
    db = open_db(database_of(folder), migrate=False)
    try:
        customer_id = find_customer(db, CustomerRef(email=email), "demo")
        return article_views_of(db, customer_id) if customer_id else []
    finally:
        db.conn.close()


def test_import_has_help():
    result = journeydesk("import", "--help")
    assert result.returncode == 0 and "properties_json" in result.stdout


def test_jsonl_import_reports_bad_lines_and_reimport_counts_duplicates(tmp_path, store_location):
    lines = [json.dumps(event(n)) for n in range(2500)]
    for n in range(0, 2500, 100):  # 25 bad lines spread over three batches
        lines[n] = json.dumps(event(n, occurred_at="last tuesday"))
    lines[1] = "{not json"
    lines[2] = "[1, 2]"
    lines.insert(3, "")  # blank lines are skipped, line numbers still count them
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    first = run_import(tmp_path, file)
    assert first.returncode == 0, first.stderr
    assert "2,500 lines read; 2,473 accepted, 0 duplicates, 27 rejected." in first.stdout
    assert "Rejected lines (first 20):" in first.stdout
    assert "  line 1: occurred_at: 'last tuesday' is not an ISO 8601 time" in first.stdout
    assert "  line 2: not valid JSON" in first.stdout
    assert "  line 3: expected a JSON object (one event per line)" in first.stdout
    assert "  line 102: occurred_at:" in first.stdout  # 101 lines + the blank one
    assert "  … and 7 more" in first.stdout
    assert "Traceback" not in first.stderr

    again = run_import(tmp_path, file)
    assert again.returncode == 0, again.stderr
    assert "2,473 duplicates, 27 rejected." in again.stdout and " 0 accepted," in again.stdout
    db = open_db(store_location, migrate=False)
    assert count_touchpoints(db, "article_view") == 2473
    db.conn.close()


def test_csv_import_with_quoted_cells_and_bad_rows(tmp_path, store_location):
    file = tmp_path / "export.csv"
    file.write_text(
        "id,type,occurred_at,email,anonymous_id,article_id,article_url,article_title,"
        "article_locale,query,properties_json\n"
        'c1,article_view,2026-11-20T10:00:00Z,ana@example.com,,360001,,"Export, the easy way",'
        "en-us,,\n"
        "c2,search,2026-11-20T10:05:00+01:00,ana@example.com,,,,,,export csv,"
        '"{""result_count"": 0}"\n'
        "c3,article_view,2026-11-20T10:06:00Z,,v-1,,https://x.test/demo/hc/es/articles/"
        "360002-exportar,,es,,\n"
        "c4,article_view,,ana@example.com,,360001,,,,,\n"
        "c5,search,2026-11-20T10:07:00Z,ana@example.com,,,,,,,{broken\n"
        "c6,identify,2026-11-20T10:08:00Z,ana@example.com,v-1,,,,,,\n",
        encoding="utf-8",
    )
    result = run_import(tmp_path, file)
    assert result.returncode == 0, result.stderr
    assert "6 lines read; 4 accepted, 0 duplicates, 2 rejected." in result.stdout
    assert "  line 5: occurred_at: required" in result.stdout
    assert "  line 6: properties_json: not valid JSON" in result.stdout
    views = views_of(tmp_path, "ana@example.com")
    # the visitor's view (URL only, resolved by the demo desk) moved to Ana on identify
    assert [(v["article_id"], v["article_locale"]) for v in views] == [
        ("360001", "en-us"),
        ("360002", "es"),
    ]
    db = open_db(store_location, migrate=False)
    ana = find_customer(db, CustomerRef(email="ana@example.com"), "demo")
    searches = [t for t in timeline(db, ana, until=2**40, limit=10) if t["type"] == "search"]
    db.conn.close()
    assert searches[0]["properties"] == {"query": "export csv", "result_count": 0}
    assert searches[0]["occurred_at"] == 1795165500  # 10:05 at +01:00 is 09:05 UTC


def test_gzipped_jsonl_is_read_too(tmp_path):
    file = tmp_path / "events.jsonl.gz"
    with gzip.open(file, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(event(n)) + "\n" for n in range(30))
    result = run_import(tmp_path, file)
    assert result.returncode == 0 and "30 accepted" in result.stdout, result.stderr


def test_a_file_that_cannot_be_read_fails_with_one_sentence(tmp_path):
    missing = run_import(tmp_path, tmp_path / "nope.jsonl")
    assert missing.returncode == 1
    assert "nope.jsonl: no such file" in missing.stderr and "Traceback" not in missing.stderr

    typo = tmp_path / "typo.csv"
    typo.write_text("id,type,occurred_at,emial\nx,search,2026-11-20T10:00:00Z,a@b.c\n")
    bad_header = run_import(tmp_path, typo)
    assert bad_header.returncode == 1
    assert "unknown column(s) 'emial'" in bad_header.stderr

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(
        "id,type,occurred_at,query\nx,search,2026-11-20T10:00:00Z,café\n".encode("latin-1")
    )
    not_utf8 = run_import(tmp_path, latin1)
    assert not_utf8.returncode == 1 and "not UTF-8" in not_utf8.stderr

    unknown_source = run_import(tmp_path, typo, source="zendesk")
    assert (
        unknown_source.returncode == 1 and "No connector named 'zendesk'" in unknown_source.stderr
    )


def test_batches_count_every_line_once_whatever_it_gives(tmp_path, store_location):
    """Lines are parsed as they are read: each gives one touchpoint or one rejection."""
    target = IngestTarget(
        source="import:demo",
        article_source="demo",
        article_ref=lambda url: None,
        channel="import",
        desk_types_allowed=True,
    )
    records = [
        (1, event(1)),
        (2, BadLine("not valid JSON")),
        (3, event(3)),
        (4, event(4, type="")),
        (5, event(1)),  # a duplicate of line 1, in the next batch
        (6, event(6)),
        (7, event(7)),
    ]
    counts = []
    with open_store(store_location) as db:
        report = import_events(
            db, target, iter(records), batch_size=2, progress=lambda r: counts.append(r.lines)
        )
        stored = count_touchpoints(db)
    assert counts == [2, 4, 6, 7]
    assert (report.lines, report.accepted, report.duplicates, report.rejected) == (7, 4, 1, 2)
    assert [r.index for r in report.first_rejections] == [2, 4]
    assert stored == 4
