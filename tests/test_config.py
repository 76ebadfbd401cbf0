"""Configuration: the example documents every key, bad files fail clearly at start-up."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest

from plugin.config import CONNECTOR_KEYS, INGEST_KEYS, SECTIONS, ConfigError, load_config
from plugin.journey.model import default_definitions
from tests.helpers.cli import ROOT
from tests.helpers.config import write_config

EXAMPLE = ROOT / "config.example.toml"
EXAMPLE_ENV = {
    "JOURNEYDESK_SECRET": "s",
    "ZENDESK_API_TOKEN": "t",
    "ZENDESK_WEBHOOK_SECRET": "w",
    "FRESHDESK_API_KEY": "k",
    "JOURNEYDESK_INGEST_KEY": "i",
}


def test_the_example_config_loads():
    config = load_config(EXAMPLE, env=EXAMPLE_ENV)
    assert [c.name for c in config.connectors] == ["zendesk", "freshdesk"]
    assert config.ingest_keys[0].source == "freshdesk"


def test_the_example_documents_every_key():
    text = EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.M))
    every_key = {k for keys in SECTIONS.values() for k in keys}
    every_key |= {k for keys in CONNECTOR_KEYS.values() for k in keys} | set(INGEST_KEYS)
    assert every_key - documented == set()


def test_the_example_journey_model_is_the_shipped_default():
    assert tomllib.loads(EXAMPLE.read_text())["journey"] == default_definitions()


@pytest.mark.parametrize(
    "body, key, fix",
    [
        ("[email]\nsmtp_prot = 25\n", "email.smtp_prot", 'did you mean "smtp_port"'),
        ('[email]\nsmtp_port = "25"\n', "email.smtp_port", "smtp_port = 25"),
        ("[email]\nstarttls = 'yes'\n", "email.starttls", "starttls = false"),
        ("[sidebar]\narticles_shown = -1\n", "sidebar.articles_shown", "positive"),
        (
            "[[connectors]]\nname='z'\ntype='zendesk'\nsubdomain='a'\nemail='e@x'\n"
            "token_env='NOT_SET_ANYWHERE'\n",
            "connectors[1].token_env",
            "export NOT_SET_ANYWHERE",
        ),
        ("[[connectors]]\nname='f'\ntype='fresh'\n", "connectors[1].type", "zendesk"),
        (
            "[[connectors]]\nname='z'\ntype='zendesk'\nemail='e@x'\n",
            "connectors[1].subdomain",
            "set subdomain",
        ),
        (
            "[[ingest.keys]]\nname='p'\nkey_env='JOURNEYDESK_SECRET'\nsource='nope'\n",
            "ingest.keys[0].source",
            "demo",
        ),
        ("[oops]\n", "oops", "remove it"),
    ],
)
def test_bad_config_names_file_key_and_fix(tmp_path, body, key, fix):
    path = write_config(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and key in message and fix in message


def test_missing_secret_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("JOURNEYDESK_SECRET")
    with pytest.raises(ConfigError, match="JOURNEYDESK_SECRET is not set"):
        load_config(write_config(tmp_path))


def test_toml_syntax_error_is_reported(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_invalid_stage_definition_stops_start_up(tmp_path):
    body = """
    [[journey.stages]]
    key = "service"
    [journey.stages.when]
    all = [ { fact = "days_since_purchse", op = "lte", value = 45 } ]
    """
    path = write_config(tmp_path, body)
    result = subprocess.run(
        [sys.executable, "-m", "plugin", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert 'journey.stages[0] "service"' in result.stderr
    assert "days_since_purchse" in result.stderr and "days_since_purchase" in result.stderr


def test_malformed_config_exits_non_zero_without_traceback(tmp_path):
    path = write_config(tmp_path, "[sidebar]\nlookback_days = 'thirty'\n")
    result = subprocess.run(
        [sys.executable, "-m", "plugin", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "sidebar.lookback_days" in result.stderr and "config.toml" in result.stderr
    assert "lookback_days = 30" in result.stderr


ZENDESK = "[[connectors]]\nname='z'\ntype='zendesk'\nsubdomain='acme'\nemail='e@x'\n"
ZENDESK_ENV = {"JOURNEYDESK_SECRET": "s", "ZENDESK_API_TOKEN": "t"}


@pytest.mark.parametrize(
    ("line", "key", "fix"),
    [
        (
            "history_user_tags = ['big customer']",
            "history_user_tags",
            'e.g. history_user_tags = ["vip"',
        ),
        ("history_user_tags = [7]", "history_user_tags", "as Zendesk shows it"),
        ("history_user_tags = 'vip'", "history_user_tags", 'history_user_tags = ["..."]'),
        ("history_organizations = [true]", "history_organizations", "ids as numbers"),
        ("history_organizations = ['']", "history_organizations", "names as text"),
        ("history_users_per_sync = 0", "history_users_per_sync", "history_users_per_sync = 500"),
        ("history_users_per_sync = 100000", "history_users_per_sync", "next syncs"),
        ("history_signed_in_days = 5000", "history_signed_in_days", "0 turns that pass off"),
        ("history_signed_in_days = -1", "history_signed_in_days", "positive number"),
        ("history_user_tag = ['vip']", "history_user_tag", 'did you mean "history_user_tags"'),
    ],
)
def test_bad_history_audience_names_file_key_and_fix(tmp_path, line, key, fix):
    path = write_config(tmp_path, ZENDESK + line + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ZENDESK_ENV)
    message = str(info.value)
    assert str(path) in message and f"connectors[1].{key}" in message and fix in message


def test_history_audience_defaults_and_values(tmp_path):
    body = ZENDESK + "history_user_tags = ['vip']\nhistory_organizations = [123, 'Acme Inc']\n"
    zendesk = load_config(write_config(tmp_path, body), env=ZENDESK_ENV).connector("z")
    assert zendesk.get("history_user_tags") == ["vip"]
    assert zendesk.get("history_organizations") == [123, "Acme Inc"]
    assert zendesk.get("history_users_per_sync") == 500
    assert zendesk.get("history_signed_in_days") == 90


def test_the_zendesk_connector_gets_the_history_audience(tmp_path):
    from plugin.intake.connector_factory import make_connector

    body = ZENDESK + "history_user_tags = ['vip']\nhistory_organizations = [123, 'Acme Inc']\n"
    body += "history_users_per_sync = 50\nhistory_signed_in_days = 0\n"
    config = load_config(write_config(tmp_path, body), env=ZENDESK_ENV)
    connector = make_connector(config, config.connector("z"))
    assert connector.audience == ("tag:vip", "org:123", "org:Acme Inc")
    assert (connector.audience_cap, connector.signed_in_days) == (50, 0)
    assert connector._audience_setting == "connectors[1].history_organizations"


POSTGRES_URL = "postgresql://journeydesk@db.example.com:5432/journeydesk"


@pytest.mark.parametrize(
    "database, key, fix",
    [
        ('url = "mysql://db/x"', "database.url", 'url = "postgresql://'),
        (
            'url = "postgresql://jd:hunter2@db.example.com/jd"',
            "database.url",
            "database.password_env",
        ),
        (f'url = "{POSTGRES_URL}"\npath = "x.db"', "database.url", "keep url"),
        (
            f'url = "{POSTGRES_URL}"\npassword_env = "NOT_SET_ANYWHERE"',
            "database.password_env",
            "export NOT_SET_ANYWHERE",
        ),
    ],
)
def test_bad_database_url_names_file_key_and_fix(tmp_path, database, key, fix):
    path = write_config(tmp_path, database=database)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and key in message and fix in message
    assert "hunter2" not in message


def test_a_postgres_url_is_the_store_location_and_its_password_stays_out_of_it(tmp_path):
    database = f'url = "{POSTGRES_URL}"\npassword_env = "JD_DB_PASSWORD"'
    path = write_config(tmp_path, database=database)
    config = load_config(path, env={"JOURNEYDESK_SECRET": "s" * 32, "JD_DB_PASSWORD": "pw-1"})
    assert config.database_path == POSTGRES_URL
    assert "pw-1" not in repr(config.database_path) + str(config.database_path)
    assert config.database_path.password == "pw-1"
