"""The journey model on real data: every stage and signal is reached, the reasons agents read
match the customer's own numbers (recomputed here by hand, from raw SQL), a bad definition
stops start-up, and the editing/preview helpers keep the model intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from plugin.journey.conditions import ConditionError
from plugin.journey.editing import (
    Scope,
    candidate_definitions,
    definition_to_toml,
    definitions_of,
    describe_condition,
    facts_markdown,
    model_to_toml,
)
from plugin.journey.facts import FACTS
from plugin.journey.model import default_definitions, load_model
from plugin.journey.preview import preview_models
from plugin.security import mint_agent_token
from plugin.store import open_db
from tests.helpers.config import SECRET, write_config
from tests.helpers.model import SIGNALS, STAGES

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400


BOTH_ENGINES = pytest.mark.usefixtures("backend")


@pytest.fixture(scope="module")
def conn(seeded_demo):
    """The demo's store, for SQL of the test's own (on either engine)."""
    db = open_db(seeded_demo.database_path, migrate=False)
    yield db
    db.conn.close()


def journey_of(client, config, customer_id: int) -> dict:
    token = mint_agent_token(config.secret, source="demo", ticket_id=None)
    response = client.get(
        f"/api/v1/customers/{customer_id}/journey", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.get_json()


def customers_in(conn, stage: str, limit: int = 3) -> list[tuple[int, int]]:
    """(customer id, the time their journey was computed) of a few customers in `stage`."""
    return conn.execute(
        "SELECT customer_id, computed_at FROM customer_journeys WHERE stage = ? "
        "ORDER BY customer_id LIMIT ?",
        [stage, limit],
    ).fetchall()


def with_signal(conn, signal: str, limit: int = 3) -> list[tuple[int, int]]:
    return conn.execute(
        "SELECT customer_id, computed_at FROM customer_journeys WHERE EXISTS (SELECT 1 FROM "
        f"{conn.dialect.elements('signals', 's')} WHERE s.value ->> 'key' = ?) "
        "ORDER BY customer_id LIMIT ?",
        [signal, limit],
    ).fetchall()


def days(n: int, word: str = "day") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def rated(csat: str | None) -> str:
    return f"rated support {csat} last time" if csat else "has not rated support yet"


def profile(conn, customer_id: int) -> dict:
    row = conn.execute(
        "SELECT purchased_at, renewal_at, plan, attributes FROM customers WHERE id = ?",
        [customer_id],
    ).fetchone()
    return dict(zip(("purchased_at", "renewal_at", "plan", "attributes"), row, strict=True))


def last_csat(conn, customer_id: int) -> str | None:
    row = conn.execute(
        "SELECT csat_score FROM tickets WHERE customer_id = ? AND csat_score IS NOT NULL "
        "AND deleted = 0 ORDER BY coalesce(solved_at, updated_at, created_at) DESC LIMIT 1",
        [customer_id],
    ).fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------- demo data


@BOTH_ENGINES
def test_every_stage_and_signal_is_reached_on_the_demo_data(conn):
    stages = dict(conn.execute("SELECT stage, count(*) FROM customer_journeys GROUP BY stage"))
    assert set(stages) == set(STAGES) and min(stages.values()) >= 5, stages
    for signal in SIGNALS:
        assert len(with_signal(conn, signal, limit=5)) == 5, signal


@BOTH_ENGINES
def test_stage_reasons_match_the_customers_own_numbers(client, seeded_demo, conn):
    for stage in ("service", "retention"):
        for customer_id, at in customers_in(conn, stage):
            purchased = profile(conn, customer_id)["purchased_at"]
            expected = f"bought {days((at - purchased) // DAY)} ago"
            assert journey_of(client, seeded_demo, customer_id)["stage"]["reasons"] == [expected]

    for customer_id, at in customers_in(conn, "advocacy"):
        person = profile(conn, customer_id)
        nps = json.loads(person["attributes"])["nps"]
        assert journey_of(client, seeded_demo, customer_id)["stage"]["reasons"] == [
            f"bought {days((at - person['purchased_at']) // DAY)} ago",
            f"gave an NPS score of {nps}",
            rated(last_csat(conn, customer_id)),
        ]

    for customer_id, at in customers_in(conn, "consideration"):
        reasons = journey_of(client, seeded_demo, customer_id)["stage"]["reasons"]
        if profile(conn, customer_id)["plan"] == "trial":
            assert reasons == ["on a trial"]
            continue
        (read,) = conn.execute(
            "SELECT count(DISTINCT t.article_id) FROM touchpoints t JOIN articles a "
            "ON a.source = t.article_source AND a.group_id = t.article_id "
            "WHERE t.customer_id = ? AND t.type = 'article_view' AND t.occurred_at >= ? "
            "AND a.category = 'Plans & pricing'",
            [customer_id, at - 30 * DAY],
        ).fetchone()
        assert reasons == [
            f"read {days(read, 'article')} about Plans & pricing in the 30 days before now"
        ]


@BOTH_ENGINES
def test_signal_reasons_match_the_customers_own_numbers(client, seeded_demo, conn):
    def signal_reasons(customer_id: int, key: str) -> list[str]:
        signals = journey_of(client, seeded_demo, customer_id)["signals"]
        return next(s["reasons"] for s in signals if s["key"] == key)

    for customer_id, at in with_signal(conn, "repeat_reader"):
        (most,) = conn.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM touchpoints WHERE customer_id = ? "
            "AND type = 'article_view' AND occurred_at >= ? GROUP BY article_id) AS views",
            [customer_id, at - 7 * DAY],
        ).fetchone()
        assert signal_reasons(customer_id, "repeat_reader") == [
            f"read one article {most} times in the 7 days before now"
        ]

    for customer_id, at in with_signal(conn, "renewal_due"):
        renewal = profile(conn, customer_id)["renewal_at"]
        left = -((at - renewal) // DAY)  # whole days until the renewal, rounded up
        # two limits on one fact: one reason
        assert signal_reasons(customer_id, "renewal_due") == [f"renews in {days(left)}"]

    for customer_id, at in with_signal(conn, "high_effort"):
        (articles,) = conn.execute(
            "SELECT count(DISTINCT article_id) FROM touchpoints WHERE customer_id = ? "
            "AND type = 'article_view' AND occurred_at >= ?",
            [customer_id, at - 7 * DAY],
        ).fetchone()
        (tickets,) = conn.execute(
            "SELECT count(*) FROM tickets WHERE customer_id = ? AND deleted = 0 "
            "AND created_at >= ?",
            [customer_id, at - 30 * DAY],
        ).fetchone()
        assert signal_reasons(customer_id, "high_effort") == [
            f"read {articles} articles in the 7 days before now",
            f"{tickets} tickets in the 30 days before now",
        ]


# --------------------------------------------------------------------------- start-up


def test_an_invalid_definition_in_config_toml_stops_start_up(tmp_path):
    body = """
    [[journey.stages]]
    key = "service"
    [journey.stages.when]
    all = [ { fact = "days_since_purchase", op = "lte", value = 45 },
            { any = [ { fact = "plan", op = "eq", value = "team" },
                      { fact = "days_since_purchse", op = "lte", value = 45 } ] } ]
    """
    path = write_config(tmp_path, body)
    env = {**os.environ, "JOURNEYDESK_SECRET": SECRET}
    for command in ("check-config", "recompute", "serve", "worker"):
        result = subprocess.run(
            [sys.executable, "-m", "plugin", command, "--config", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=60,  # serve and worker would run on if the model were not checked
        )
        assert result.returncode == 1, command
        assert "Traceback" not in result.stderr
        message = result.stderr
        assert 'journey.stages[0] "service"' in message
        assert "when.all[1].any[1].fact" in message
        assert 'unknown fact "days_since_purchse"' in message
        assert 'did you mean "days_since_purchase"' in message
    assert not (tmp_path / "journeydesk.db").exists()  # stopped before touching anything


# --------------------------------------------------------------------------- editing


def test_the_model_round_trips_through_the_editor_text():
    definitions = definitions_of(load_model(None, file="default"))
    text = model_to_toml(definitions)
    assert definitions_of(load_model(tomllib.loads(text)["journey"], file="x")) == definitions
    assert candidate_definitions(text, Scope(), definitions) == definitions
    assert definitions == definitions_of(load_model(default_definitions(), file="x"))


def test_editing_one_definition_replaces_it_in_place():
    current = definitions_of(load_model(None, file="default"))
    text = definition_to_toml("stages", current["stages"][1]).replace("45", "20")
    candidate = candidate_definitions(text, Scope("stages", "service"), current)
    assert [s["key"] for s in candidate["stages"]] == [s["key"] for s in current["stages"]]
    assert candidate["stages"][1]["when"] == {
        "all": [{"fact": "days_since_purchase", "op": "lte", "value": 20}]
    }
    assert candidate["signals"] == current["signals"]
    with pytest.raises(ConditionError, match="exactly one"):
        candidate_definitions(text + "\n" + text, Scope("stages", "service"), current)
    with pytest.raises(ConditionError, match='label = "..."'):
        candidate_definitions(
            text.replace('label = "Onboarding"', "label = 5"), Scope("stages", "service"), current
        )


def test_conditions_read_as_one_line():
    model = load_model(None, file="default")
    assert describe_condition(model.stage("purchase").condition) == (
        'days_since_purchase ≤ 7 or (plan = "trial" and days_since_signup ≥ 10)'
    )
    assert describe_condition(model.stage("awareness").condition) == "always (catch-all)"


def test_the_preview_compares_two_models_over_the_same_facts():
    before = load_model(None, file="default")
    shorter = definitions_of(before)
    shorter["stages"][1]["when"]["all"][0]["value"] = 20
    after = load_model(shorter, file="x")
    facts = {
        1: {"days_since_purchase": 10},  # stays in onboarding
        2: {"days_since_purchase": 30},  # leaves onboarding: nothing else matches
        3: {"days_since_purchase": 30, "plan": "trial"},  # leaves it for consideration
        4: {"days_since_purchase": 100, "max_views_same_article_7d": 4},
    }
    preview = preview_models(before, after, facts)
    counts = {row.key: (row.before, row.after) for row in preview.stages}
    assert counts["service"] == (3, 1) and counts["retention"] == (1, 1)
    assert counts["awareness"] == (0, 1) and counts["consideration"] == (0, 1)
    assert preview.moved == 2 and preview.signal_changes == 0
    assert [c.customer_id for c in preview.sample] == [2, 3]
    moved = {c.customer_id: c.after.stage.key for c in preview.sample}
    assert moved == {2: "awareness", 3: "consideration"}


# --------------------------------------------------------------------------- docs


def test_docs_list_every_fact_stage_and_signal():
    doc = (ROOT / "docs" / "journey.md").read_text(encoding="utf-8")
    assert facts_markdown() in doc, (
        "docs/journey.md's facts table is out of date; paste the output of "
        "python -c 'from plugin.journey.editing import facts_markdown; print(facts_markdown())'"
    )
    for name, fact in FACTS.items():
        assert f"`{fact.spec.display_name}`" in doc, name
    for key in (*STAGES, *SIGNALS):
        assert f"`{key}`" in doc, key
    for op in ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "exists"):
        assert f"`{op}`" in doc, op
