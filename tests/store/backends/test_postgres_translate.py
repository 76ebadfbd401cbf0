"""The store's SQLite statements as PostgreSQL reads them (backends/postgres.translate)."""

from __future__ import annotations

import pytest

from plugin.store.backends.postgres import translate


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
        ("SELECT a FROM t WHERE b = :when", "SELECT a FROM t WHERE b = %(when)s"),
        ("SELECT '?', 'it''s :x', \"col?\" FROM t", "SELECT '?', 'it''s :x', \"col?\" FROM t"),
        (
            "SELECT a FROM t WHERE b LIKE 'en%' AND c = ?",
            "SELECT a FROM t WHERE b LIKE 'en%%' AND c = %s",
        ),
        ("SELECT a % 7 FROM t", "SELECT a %% 7 FROM t"),
        ("SELECT x::bigint FROM t WHERE y = :y", "SELECT x::bigint FROM t WHERE y = %(y)s"),
        ("SELECT a -- why? because\nFROM t", "SELECT a -- why? because\nFROM t"),
        (
            "SELECT a FROM tickets INDEXED BY tickets_created_at WHERE b = ?",
            "SELECT a FROM tickets WHERE b = %s",
        ),
        ("SELECT a FROM tickets t NOT INDEXED WHERE b = 1", "SELECT a FROM tickets t WHERE b = 1"),
        (
            "SELECT 1 FROM j CROSS JOIN tickets t ON t.id = j.value CROSS JOIN c ON c.id = 1",
            "SELECT 1 FROM j JOIN tickets t ON t.id = j.value JOIN c ON c.id = 1",
        ),
        (
            "SELECT 1 FROM a CROSS JOIN b WHERE a.x = b.y",
            "SELECT 1 FROM a CROSS JOIN b WHERE a.x = b.y",
        ),
        (
            "INSERT OR IGNORE INTO leases (name) VALUES (?)",
            "INSERT INTO leases (name) VALUES (%s) ON CONFLICT DO NOTHING",
        ),
        (
            "INSERT OR IGNORE INTO outbox (k) SELECT k FROM plan RETURNING id;",
            "INSERT INTO outbox (k) SELECT k FROM plan ON CONFLICT DO NOTHING RETURNING id",
        ),
    ],
)
def test_statements_are_translated(sqlite: str, postgres: str) -> None:
    assert translate(sqlite) == postgres


def test_an_empty_list_matches_nothing_and_its_negation_is_refused() -> None:
    assert translate("SELECT 1 FROM t WHERE a IN ( )") == "SELECT 1 FROM t WHERE a IN (NULL)"
    with pytest.raises(ValueError, match="empty list"):
        translate("DELETE FROM t WHERE a NOT IN ()")


def test_insert_or_replace_is_refused_with_the_portable_form_named() -> None:
    with pytest.raises(ValueError, match="ON CONFLICT DO UPDATE"):
        translate("INSERT OR REPLACE INTO leases (name) VALUES (?)")
