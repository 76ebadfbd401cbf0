"""The one TOML writer: what it writes reads back as what it was given, in config.toml's
shape, one condition per line."""

from __future__ import annotations

import tomllib

from plugin.journey.toml_text import array_table
from plugin.outreach.editing import table_to_toml
from plugin.sla.editing import table_to_toml as sla_to_toml

AWKWARD = 'Line one\nsays "hi" \\ and ends with a quote"'


def test_a_definition_reads_back_as_written_whatever_its_text():
    item = {
        "key": "vip",
        "label": "VIP ✓",
        "labels": {"es": "VIP", "pt-BR": "VIP"},
        "description": AWKWARD,
        "when": {
            "any": [
                {"fact": "read_category:Plans & pricing", "op": "gte", "value": 2},
                {
                    "all": [
                        {"fact": "plan", "op": "in", "value": ["gold", "platinum", "diamond"]},
                        {"fact": "lifetime_value", "op": "gte", "value": 12_500.5},
                        {"fact": "attribute:vip", "op": "eq", "value": True},
                    ]
                },
            ]
        },
    }
    text = array_table("journey.signals", item, ("key", "label", "labels", "description"), "when")
    assert tomllib.loads(text) == {"journey": {"signals": [item]}}
    lines = text.splitlines()
    assert lines[0] == "[[journey.signals]]" and "[journey.signals.when]" in lines
    assert '  { fact = "read_category:Plans & pricing", op = "gte", value = 2 },' in lines
    assert 'description = """' in lines  # line breaks kept readable


def test_sla_and_outreach_tables_read_back_in_their_order():
    sla = {
        "rules": [
            {
                "when": {"all": []},
                "priority": "high",
                "name": "catch-all",
                "resolution_minutes": 600,
            },
            {
                "name": "vip",
                "add_tags": ["vip"],
                "when": {"any": [{"fact": "signal:high_value", "op": "eq", "value": True}]},
            },
        ]
    }
    text = sla_to_toml(sla)
    assert tomllib.loads(text) == {"sla": sla}
    assert text.index('name = "catch-all"') < text.index('priority = "high"')  # name first
    assert tomllib.loads(sla_to_toml({"rules": []})) == {"sla": {"rules": []}}
    assert tomllib.loads(table_to_toml({"timezone": "UTC", "rules": []})) == {
        "outreach": {"timezone": "UTC", "rules": []}
    }
