"""Rules as files: `journeydesk rules export|import` on a copy of the seeded demo, run as an
operator runs them (real subprocesses), and the import's checks, previews and saves."""

from __future__ import annotations

import dataclasses
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from plugin.app import create_app
from plugin.config import load_config
from plugin.journey import versions
from plugin.journey.active_model import JOURNEY
from plugin.outreach.active_rules import OUTREACH
from plugin.rules_files import ChangedMeanwhile, export_rules, plan_import, save_import
from plugin.sla.active_rules import SLA
from plugin.store import open_db
from plugin.store.journeys import stage_counts
from plugin.store.rule_sets import list_rule_sets
from tests.helpers.cli import journeydesk
from tests.helpers.config import ANCHOR, write_config

NOW = int(ANCHOR.timestamp())
SLA_RULE = """
[[sla.rules]]
name = "purchase-moment"
priority = "urgent"
add_tags = ["journey_purchase"]
first_response_minutes = 60
[sla.rules.when]
any = [ { fact = "stage", op = "eq", value = "purchase" } ]
"""
ONBOARDING = '{ fact = "days_since_purchase", op = "lte", value = 45 }'


@pytest.fixture
def desk(seeded_demo, tmp_path) -> Path:
    """A config.toml beside a private copy of the seeded demo database: its path."""
    config = write_config(tmp_path)
    shutil.copyfile(seeded_demo.database_path, tmp_path / "journeydesk.db")
    return config


def saved_versions(config_path: Path) -> dict[str, list]:
    db = open_db(load_config(config_path).database_path, migrate=False)
    try:
        return {kind: list_rule_sets(db, kind) for kind in ("journey", "sla", "outreach")}
    finally:
        db.conn.close()


def export(config_path: Path, *args: str) -> str:
    result = journeydesk("rules", "export", "--config", str(config_path), *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def edited(text: str) -> str:
    """`text` (an export of all three kinds) with onboarding ending at day 20, an SLA rule
    and the first outreach rule enabled."""
    assert ONBOARDING in text and "[sla]\nrules = []\n" in text
    text = text.replace(ONBOARDING, ONBOARDING.replace("45", "20"), 1)
    text = text.replace("[sla]\nrules = []\n", SLA_RULE.lstrip())
    return text.replace("enabled = false", "enabled = true", 1)


def test_an_export_imports_back_unchanged_and_saves_nothing(desk, tmp_path):
    out = tmp_path / "rules.toml"
    result = journeydesk("rules", "export", "--config", str(desk), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"journeydesk rules import {out}" in result.stderr  # what to do next
    text = out.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert set(data) == {"journey", "sla", "outreach"}
    assert [s["key"] for s in data["journey"]["stages"]][0] == "purchase"
    assert data["sla"] == {"rules": []} and len(data["outreach"]["rules"]) == 5

    result = journeydesk("rules", "import", "--config", str(desk), str(out))
    assert result.returncode == 0, result.stderr
    assert "none of them changes" in result.stdout
    for label in ("journey model", "SLA rules", "outreach rules"):
        assert f"{label}: unchanged (in force: version 0, " in result.stdout
    assert "Save" not in result.stdout
    assert saved_versions(desk) == {"journey": [], "sla": [], "outreach": []}


def test_an_edited_file_is_previewed_then_saved_in_force_and_recomputed(desk, tmp_path):
    path = tmp_path / "edited.toml"
    path.write_text(edited(export(desk)), encoding="utf-8")

    result = journeydesk("rules", "import", "--config", str(desk), str(path), "--yes")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 to save as new versions" in out
    assert "changed   stage service" in out and "new       purchase-moment" in out
    assert "changed   repeat-reader" in out
    moved = int(re.search(r"customers: (\d+) would change stage", out)[1])
    assert moved > 0
    after = {
        label: int(count.replace(",", ""))
        for label, count in re.findall(r"^    (\w[\w ]*?)\s+[\d,]+\s+([\d,]+)\s+\S+$", out, re.M)
    }
    assert len(after) == 12  # six stages, six signals
    assert re.search(r"repeat-reader: \d+ in the audience now, \d+ would receive it", out)
    assert "Saved journey model version 1 (imported from edited.toml)." in out
    assert "Saved SLA rules version 1" in out and "Saved outreach rules version 1" in out
    assert f"Recomputed 300 customers with the new journey model: {moved} changed stage." in out

    config = load_config(desk)
    db = open_db(config.database_path, migrate=False)
    try:
        model = versions.in_force(db, config, JOURNEY)
        sla = versions.in_force(db, config, SLA)
        outreach = versions.in_force(db, config, OUTREACH)
        stored = stage_counts(db)
    finally:
        db.conn.close()
    assert (model.version_number, sla.version_number, outreach.version_number) == (1, 1, 1)
    assert model.version.created_by == "import edited.toml"
    assert [r.name for r in sla.value.rules] == ["purchase-moment"]
    assert sla.value.rules[0].priority == "urgent"
    assert outreach.value.rules[0].enabled
    assert model.version.definitions["stages"][1]["when"] == {
        "all": [{"fact": "days_since_purchase", "op": "lte", "value": 20}]
    }
    # the preview's "after" column is what the recompute then stored
    labels = {stage.label: stage.key for stage in model.value.stages}
    assert {labels[label]: n for label, n in after.items() if label in labels and n} == stored

    admin = create_app(dataclasses.replace(config, demo_mode=True)).test_client()
    for page in ("/admin/journey", "/admin/outreach"):
        listed = admin.get(page).text
        assert "import edited.toml" in listed and "imported from edited.toml" in listed, page

    again = journeydesk("rules", "import", "--config", str(desk), str(path))
    assert again.returncode == 0 and "none of them changes" in again.stdout
    assert re.search(r"version 1, saved 2026-11-20T00:0\d:\d\dZ by import edited", again.stdout)


def test_an_invalid_kind_stops_the_whole_import(desk, tmp_path):
    text = edited(export(desk)).replace('priority = "urgent"', 'priority = "asap"')
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")

    result = journeydesk("rules", "import", "--config", str(desk), str(path), "--yes")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: {path}: sla.rules[0] \"purchase-moment\": priority: 'asap' is not a priority; "
        "write one of low, normal, high, urgent"
    )
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert saved_versions(desk) == {"journey": [], "sla": [], "outreach": []}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[server]\nport = 1\n", "server: a rules file holds only [journey], [sla] and [outreach]"),
        ("x = [\n", "this is not valid TOML"),
        ("", "holds no rules; write [[journey.stages]], [[sla.rules]] or [[outreach.rules]]"),
        ("journey = 5\n", "journey: write it as tables, e.g. [[journey.stages]]"),
        (
            '[[journey.signals]]\nkey = "a"\nlabel = "A"\n[journey.signals.when]\nall = []\n',
            "journey.stages: write at least one [[journey.stages]]",
        ),
        (
            '[[outreach.rules]]\nname = "x"\nschedule = "0 9 * * *"\nchannel = "email"\n'
            'subject = "Hi"\nbody = "{% for %}"\n[outreach.rules.audience]\nall = []\n',
            "outreach.rules: ",
        ),
    ],
)
def test_a_file_that_is_not_rules_is_refused_in_one_sentence(desk, tmp_path, text, says):
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    result = journeydesk("rules", "import", "--config", str(desk), str(path), "--yes")
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {path}: ") and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert saved_versions(desk) == {"journey": [], "sla": [], "outreach": []}


def test_dry_run_previews_and_saves_nothing(desk, tmp_path):
    path = tmp_path / "edited.toml"
    path.write_text(edited(export(desk)), encoding="utf-8")
    result = journeydesk("rules", "import", "--config", str(desk), str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would change stage" in result.stdout and "--dry-run: nothing saved." in result.stdout
    assert "Save 3" not in result.stdout
    assert saved_versions(desk) == {"journey": [], "sla": [], "outreach": []}


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "yes please\nno\n"])
def test_the_question_saves_only_on_yes(desk, tmp_path, answer):
    path = tmp_path / "edited.toml"
    path.write_text(edited(export(desk)), encoding="utf-8")
    result = journeydesk("rules", "import", "--config", str(desk), str(path), input=answer)
    assert result.returncode == 1
    assert "Save 3 new versions? [y/N]" in result.stdout
    assert "Nothing saved (answer y to save; --yes saves without asking)." in result.stderr
    assert saved_versions(desk) == {"journey": [], "sla": [], "outreach": []}


def test_answering_y_saves(desk, tmp_path):
    path = tmp_path / "sla.toml"
    path.write_text(SLA_RULE, encoding="utf-8")
    result = journeydesk("rules", "import", "--config", str(desk), str(path), input="y\n")
    assert result.returncode == 0, result.stderr
    assert "1 kind of rules, 1 to save" in result.stdout
    assert "Save 1 new version? [y/N]" in result.stdout
    assert "Saved SLA rules version 1 (imported from sla.toml)." in result.stdout
    assert "Recomputed" not in result.stdout  # the journey model was not in the file
    found = saved_versions(desk)
    assert [v.version for v in found["sla"]] == [1] and not found["journey"]


def test_one_kind_exports_alone_and_the_export_is_stable(desk, seeded_demo, tmp_path):
    sla = export(desk, "--kind", "sla")
    assert tomllib.loads(sla) == {"sla": {"rules": []}}
    assert "# SLA rules: version 0, no SLA rules" in sla and "journey model:" not in sla

    path = tmp_path / "edited.toml"
    path.write_text(edited(export(desk)), encoding="utf-8")
    assert journeydesk("rules", "import", "--config", str(desk), str(path), "--yes").returncode == 0

    config = load_config(desk)
    db = open_db(config.database_path, migrate=False)
    try:
        kinds = ("journey", "sla", "outreach")
        first = export_rules(db, config, kinds, now=NOW).splitlines()
        second = export_rules(db, config, kinds, now=NOW + 3600).splitlines()
    finally:
        db.conn.close()
    assert first[1] == "# Exported 2026-11-20T00:00:00Z." and first[1] != second[1]
    assert first[:1] + first[2:] == second[:1] + second[2:]
    saved = r"# journey model: version 1, saved 2026-11-20T00:0\d:\d\dZ by import edited\.toml"
    assert any(re.fullmatch(saved, line) for line in first)
    # the file as edited is what is exported now, comments and the header aside
    assert tomllib.loads("\n".join(first)) == tomllib.loads(path.read_text(encoding="utf-8"))


def test_a_version_saved_after_the_preview_stops_the_save(desk, tmp_path):
    path = tmp_path / "edited.toml"
    path.write_text(edited(export(desk)), encoding="utf-8")
    config = load_config(desk)
    db = open_db(config.database_path)
    try:
        plan = plan_import(db, config, str(path), now=NOW)
        versions.save(db, SLA, {"rules": []}, created_by="Ana", note="meanwhile", now=NOW)
        with pytest.raises(ChangedMeanwhile, match="the SLA rules changed since"):
            save_import(db, config, plan, created_by="import edited.toml", now=NOW)
        assert [v.created_by for v in list_rule_sets(db, "sla")] == ["Ana"]
        assert list_rule_sets(db, "journey") == [] and list_rule_sets(db, "outreach") == []
    finally:
        db.conn.close()


def test_the_rules_commands_have_help():
    for command in ("export", "import"):
        result = journeydesk("rules", command, "--help")
        assert result.returncode == 0 and "--config" in result.stdout, command


def test_an_sla_change_shows_the_what_if_of_sla_simulate(desk, tmp_path):
    path = tmp_path / "sla.toml"
    path.write_text(SLA_RULE, encoding="utf-8")
    imported = journeydesk(
        "rules", "import", "--config", str(desk), str(path), "--dry-run", "--days", "120"
    )
    simulated = journeydesk(
        "sla", "simulate", "--config", str(desk), "--rules", str(path), "--days", "120"
    )
    assert imported.returncode == 0 and simulated.returncode == 0, imported.stderr
    assert "new       purchase-moment" in imported.stdout
    assert 'urgent, +journey_purchase, first response 60 min when stage = "purchase"' in (
        imported.stdout
    )

    def table(text: str, title: str) -> str:
        return text.split(title, 1)[1].split("└", 1)[0]

    for title in ("By priority", "By stage", "By channel"):
        assert table(imported.stdout, title) == table(simulated.stdout, title), title
    urgent = re.search(r"│ urgent\s+│\s+(\d+) │\s+(\d+) │", imported.stdout)
    assert int(urgent[2]) > int(urgent[1])  # the rule raises purchase tickets to urgent
    assert "--dry-run: nothing saved." in imported.stdout
