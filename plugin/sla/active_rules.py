"""SLA rules as versioned definitions: `plugin.journey.versions` with the kind declared here.

Versions are `rule_sets` of kind "sla" holding the whole `[sla]` table; the latest saved
version wins, else the config file's `[sla]`, else none (no rule: tickets keep what the desk
gave them). `versions.in_force(db, config, SLA)` reads them, `versions.save` and
`versions.restore` write them.
"""

from __future__ import annotations

from plugin.journey.versions import Versioned
from plugin.sla.rules import SlaRules, load_sla_rules

KIND = "sla"

SLA: Versioned[SlaRules] = Versioned(
    kind=KIND,
    label="SLA rules",
    build=lambda definitions, file: load_sla_rules(definitions, file=file),
    section=lambda config: config.sla,
    defines=lambda section: "rules" in section,
    file_definitions=lambda config: dict(config.sla) or {"rules": []},
    from_file="the config file's SLA rules",
    shipped="no SLA rules",
)
