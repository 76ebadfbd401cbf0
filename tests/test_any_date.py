"""On any day: the demo's promises hold wherever its history ends, at any hour.

The demo desk is anchored at the clock's "now" and the journey is evaluated on the same
clock, so these dates (month ends, a leap day, a daylight-saving night, the last second of a
year, late evening UTC) give the demo and the journey one shared, moved "now". Every stage
and signal must be reached by at least five customers of a small demo at each of them, and a
ticket of every stage must open in the sidebar API with its reasons.
"""

from __future__ import annotations

import pytest

from plugin import clock
from plugin.app import create_app
from plugin.background.jobs import run_recompute
from plugin.config import load_config
from plugin.intake.connector_factory import make_connector
from plugin.intake.sync import run_sync
from plugin.security import mint_agent_token
from plugin.store import open_db
from plugin.store.journeys import signal_counts, stage_counts
from plugin.store.tickets import sample_tickets_by_stage
from tests.helpers.config import SECRET, write_config
from tests.helpers.model import SIGNALS, STAGES

MOMENTS = [
    "2028-02-29T00:00:00Z",  # a leap day, at midnight
    "2026-01-31T23:30:00Z",  # a month end, late evening UTC (already tomorrow in Madrid)
    "2026-03-29T01:30:00Z",  # Europe's clocks go forward this night
    "2026-11-01T05:30:00Z",  # America's clocks go back this morning
    "2026-12-31T23:59:59Z",  # the last second of a year
    "2027-06-30T12:00:00Z",  # a half-year end, midday
]
CUSTOMERS = 250  # the smallest demo the promise is made for, and quick to seed


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_demo_reaches_every_stage_and_signal_at(moment, tmp_path):
    with clock.moved_to(clock.parse_moment(moment)):
        config = load_config(write_config(tmp_path, customers=CUSTOMERS))
        db = open_db(config.database_path)
        run_sync(db, make_connector(config, config.connector("demo")))
        run_recompute(config, full=True)

        stages, signals = stage_counts(db), signal_counts(db)
        assert {s: stages.get(s, 0) for s in STAGES if stages.get(s, 0) < 5} == {}, stages
        assert {s: signals.get(s, 0) for s in SIGNALS if signals.get(s, 0) < 5} == {}, signals

        client = create_app(config).test_client()
        for sample in sample_tickets_by_stage(db, "demo"):
            token = mint_agent_token(SECRET, source="demo", ticket_id=sample["id"])
            answer = client.get(
                f"/api/v1/tickets/demo/{sample['id']}/journey",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200, answer.get_json()
            assert answer.get_json()["stage"]["key"] == sample["stage"]
