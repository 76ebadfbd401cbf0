"""Storing journeys: an unchanged journey only moves its computed_at; a changed one is
rewritten, keeping stage_since while the stage stays; a stage change is history."""

from plugin.store import open_db
from plugin.store.journeys import JourneyRow, get_journey, save_journeys, stage_history


def _db(tmp_path):
    db = open_db(tmp_path / "desk.db")
    db.conn.executemany(
        "INSERT INTO customers (id, name, created_at, updated_at) VALUES (?, ?, 1, 1)",
        [(1, "Ana"), (2, "Bo")],
    )
    return db


def test_saving_the_same_journey_again_moves_only_computed_at(tmp_path):
    db = _db(tmp_path)
    reasons = [{"actual": 400, "expected": 45, "fact": "days_since_purchase", "op": "gt"}]
    signals = [{"key": "high_value", "reasons": []}]
    assert save_journeys(db, [JourneyRow(1, "retention", reasons, signals)], now=100) == 1
    assert save_journeys(db, [JourneyRow(1, "retention", reasons, signals)], now=200) == 0
    stored = get_journey(db, 1)
    assert (stored["stage"], stored["stage_since"], stored["computed_at"]) == (
        "retention",
        100,
        200,
    )
    assert (stored["reasons"], stored["signals"]) == (reasons, signals)
    assert len(stage_history(db, 1)) == 1


def test_new_reasons_in_the_same_stage_are_stored_and_since_stays(tmp_path):
    db = _db(tmp_path)
    before = [{"actual": 400, "expected": 45, "fact": "days_since_purchase", "op": "gt"}]
    after = [{"actual": 401, "expected": 45, "fact": "days_since_purchase", "op": "gt"}]
    save_journeys(
        db, [JourneyRow(1, "retention", before, []), JourneyRow(2, "awareness", [], [])], now=100
    )
    moved = save_journeys(
        db,
        [
            JourneyRow(1, "retention", after, [{"key": "x", "reasons": []}]),
            JourneyRow(2, "purchase", [], []),
        ],
        now=300,
    )
    assert moved == 1
    one, two = get_journey(db, 1), get_journey(db, 2)
    assert (one["reasons"], one["signals"], one["stage_since"], one["computed_at"]) == (
        after,
        [{"key": "x", "reasons": []}],
        100,
        300,
    )
    assert (two["stage"], two["stage_since"], two["computed_at"]) == ("purchase", 300, 300)
    assert [(h["from_stage"], h["to_stage"], h["at"]) for h in stage_history(db, 2)] == [
        ("awareness", "purchase", 300),
        (None, "awareness", 100),
    ]
