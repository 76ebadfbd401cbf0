"""Configuration: `config.toml` → a validated, frozen `Config`.

One declarative table of keys (type, default, help) drives validation and the tests
that keep `config.example.toml` complete. Secrets never live in the file: keys ending in
`_env` name the environment variable that holds them, read once here.
Every problem raises `ConfigError` naming the file, the key and the fix.
"""

from __future__ import annotations

import difflib
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plugin.journey.model import load_model
from plugin.outreach.rules import load_rules
from plugin.security import Secret
from plugin.sla.business_hours import BusinessCalendar, CalendarError, parse_calendar
from plugin.sla.rules import load_sla_rules
from plugin.store.backends.postgres import PostgresLocation, is_postgres


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and how to fix it."""

    def __init__(self, file: str, key: str, problem: str, fix: str) -> None:
        self.file, self.key, self.problem, self.fix = file, key, problem, fix
        super().__init__(f"{file}: {key}: {problem}. Fix: {fix}")


@dataclass(frozen=True)
class Key:
    type: type | tuple[type, ...]
    default: Any
    help: str


SECTIONS: dict[str, dict[str, Key]] = {
    "server": {
        "host": Key(str, "127.0.0.1", "address the web app listens on"),
        "port": Key(int, 8000, "port the web app listens on"),
        "public_url": Key(str, "http://127.0.0.1:8000", "base URL used in links"),
        "proxy_hops": Key(int, 0, "reverse proxies in front that set X-Forwarded-For"),
    },
    "database": {
        "path": Key(str, "journeydesk.db", "the SQLite file"),
        "url": Key(str, "", "a PostgreSQL database instead: postgresql://user@host:5432/name"),
        "password_env": Key(str, "", "env var: the PostgreSQL password (url only)"),
    },
    "security": {
        "secret_env": Key(str, "JOURNEYDESK_SECRET", "env var: signs tokens and sessions"),
        "admin_password_env": Key(str, "JOURNEYDESK_ADMIN_PASSWORD", "env var: admin login"),
    },
    "sidebar": {
        "articles_shown": Key(int, 5, "articles listed before the ticket"),
        "lookback_days": Key(int, 30, "how far before the ticket reading counts"),
        "redundant_window_days": Key(int, 90, "reply guard: reads this far back count"),
        "help_center_domains": Key(list, [], "custom domains serving the desks' articles"),
    },
    "email": {
        "smtp_host": Key(str, "localhost", "SMTP server"),
        "smtp_port": Key(int, 25, "SMTP port"),
        "starttls": Key(bool, False, "use STARTTLS"),
        "ssl": Key(bool, False, "connect over TLS from the start (SMTPS, usually port 465)"),
        "username_env": Key(str, "", "env var: SMTP user (empty: no login)"),
        "password_env": Key(str, "", "env var: SMTP password"),
        "from": Key(str, "Support <support@example.com>", "sender of proactive emails"),
        "unsubscribe_mailto": Key(str, "", "address for mailto: unsubscribes (empty: none)"),
        "timeout_seconds": Key(int, 30, "SMTP connect and command timeout"),
        "ca_file": Key(str, "", "PEM file of the CA that signs the SMTP server (empty: system)"),
    },
}

_COMMON_CONNECTOR_KEYS = {
    "name": Key(str, None, "the <source> in ids and URLs"),
    "type": Key(str, None, "zendesk | freshdesk | chatwoot | demo"),
    "base_url": Key(str, "", "override of the desk's API base URL"),
    "sync_interval_minutes": Key(int, 5, "how often the worker syncs"),
    "webhook_secret_env": Key(str, "", "env var: verifies POST /webhooks/<name>"),
    "journey_note": Key(bool, False, "post a private journey note on new tickets"),
    "journey_note_language": Key(str, "en", "the journey note's language: en | es"),
    "business_hours": Key(
        dict, {}, "SLA clocks: a weekly calendar and a time zone (empty: calendar minutes)"
    ),
}
CONNECTOR_KEYS: dict[str, dict[str, Key]] = {
    "zendesk": {
        **_COMMON_CONNECTOR_KEYS,
        "subdomain": Key(str, None, "acme for acme.zendesk.com"),
        "email": Key(str, None, "the admin whose API token is used"),
        "token_env": Key(str, "ZENDESK_API_TOKEN", "env var: the API token"),
        "app_public_key_env": Key(str, "", "env var: the sidebar app's public key (PEM)"),
        "app_audience": Key(str, "", "the sidebar app installation's JWT audience"),
        "export_requests_per_minute": Key(int, 10, "export budget: 10/min, 30 with High Volume"),
        "export_page_size": Key(int, 1000, "records per export page (1-1000)"),
        "plan_field": Key(str, "plan", "user field key holding the customer's plan"),
        "purchased_at_field": Key(str, "purchased_at", "user field key: date of purchase"),
        "renewal_at_field": Key(str, "renewal_at", "user field key: renewal date"),
        "lifetime_value_field": Key(str, "lifetime_value", "user field key: lifetime value"),
        "max_retries": Key(int, 5, "retries of a failing call before the sync gives up"),
        "history_signed_in_days": Key(
            int, 90, "read the history of users signed in this many days back (0: off)"
        ),
        "history_user_tags": Key(list, [], "also read the history of users with these tags"),
        "history_organizations": Key(
            list, [], "also read the history of these organizations' members (ids or names)"
        ),
        "history_users_per_sync": Key(
            int, 500, "cap on users a sync reads for tags/organizations; the rest go next"
        ),
    },
    "freshdesk": {
        **_COMMON_CONNECTOR_KEYS,
        "domain": Key(str, None, "acme.freshdesk.com"),
        "api_key_env": Key(str, "FRESHDESK_API_KEY", "env var: the API key"),
        "app_secret_env": Key(str, "", "env var: shared with the Freshdesk app (iparam)"),
        "email_config_id": Key(int, 0, "the support email outbound messages are sent from"),
        "push_article_views": Key(bool, False, "write captured views to the contact timeline"),
        "portal_url": Key(str, "", "host of article links when the portal has its own domain"),
        "languages": Key(list, [], "article languages to read (empty: ask the account)"),
        "max_retries": Key(int, 5, "retries of a failing call before the sync gives up"),
    },
    "demo": {
        **_COMMON_CONNECTOR_KEYS,
        "seed": Key(int, 7, "random seed of the generated help desk"),
        "customers": Key(int, 2000, "how many customers the demo desk has"),
    },
    # Chatwoot: the dashboard app (sidebar) only; conversations are confirmed through its API.
    "chatwoot": {
        **_COMMON_CONNECTOR_KEYS,
        "base_url": Key(str, None, "https://chatwoot.acme.example (or https://app.chatwoot.com)"),
        "account_id": Key(int, None, "the Chatwoot account id (in its dashboard URLs)"),
        "token_env": Key(str, "CHATWOOT_API_TOKEN", "env var: an agent's api_access_token"),
        "app_key_env": Key(str, None, "env var: the dashboard app key (?key= in its URL)"),
    },
}
SECRET_KEYS = {"token_env", "api_key_env", "webhook_secret_env", "app_secret_env", "key_env"}
SECRET_KEYS |= {"app_key_env", "app_public_key_env"}  # read like secrets, from the environment
INGEST_KEYS = {
    "name": Key(str, None, "a label for the portal"),
    "key_env": Key(str, None, "env var: the ingest key (Authorization: Bearer)"),
    "source": Key(str, None, "whose customers and articles the events are about"),
    "allowed_origins": Key(list, [], "origins the browser snippet may post from"),
    "identity_secret_env": Key(str, "", "env var: HMAC key sites sign customer ids with"),
    "help_center_jwks_url": Key(str, "", "Zendesk Help Center JWT keys (Enterprise plans)"),
    "help_center_issuer": Key(str, "", "expected iss of Help Center JWTs (empty: not checked)"),
    "rate_limit_per_minute": Key(int, 600, "requests per minute this key may send"),
}
FREE_SECTIONS = ("journey", "outreach", "sla")
"""Validated by their own engines (condition trees), not by this table."""


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    type: str
    settings: dict[str, Any]
    secrets: dict[str, Secret]

    def get(self, key: str) -> Any:
        return self.settings.get(key, CONNECTOR_KEYS[self.type][key].default)

    def business_calendar(self) -> BusinessCalendar | None:
        """The SLA clocks' calendar (None: calendar minutes); checked at load time."""
        return parse_calendar(self.get("business_hours"))


@dataclass(frozen=True)
class IngestKeyConfig:
    name: str
    key: Secret
    source: str
    allowed_origins: tuple[str, ...]
    identity_secret: Secret | None = None
    help_center_jwks_url: str = ""
    help_center_issuer: str = ""
    rate_limit_per_minute: int = 600


@dataclass(frozen=True)
class Config:
    path: str
    server: dict[str, Any]
    database_path: str
    secret: Secret
    admin_password: Secret | None
    sidebar: dict[str, Any]
    email: dict[str, Any]
    connectors: tuple[ConnectorConfig, ...]
    ingest_keys: tuple[IngestKeyConfig, ...]
    journey: dict[str, Any] = field(default_factory=dict)
    outreach: dict[str, Any] = field(default_factory=dict)
    sla: dict[str, Any] = field(default_factory=dict)
    demo_mode: bool = False
    admin_password_env: str = "JOURNEYDESK_ADMIN_PASSWORD"
    """The variable the admin password is read from (named in the admin's set-up page)."""
    database_password_env: str = ""
    """The variable [database] password_env names (`db copy` reads a target's password from it)."""

    def connector(self, name: str) -> ConnectorConfig | None:
        return next((c for c in self.connectors if c.name == name), None)

    def touchpoint_sources(self, desk: str) -> tuple[str, ...]:
        """Where touchpoints about `desk`'s customers come from: its sync, its imports and
        the portals whose ingest key names it."""
        portals = (f"portal:{k.name}" for k in self.ingest_keys if k.source == desk)
        return (desk, f"import:{desk}", *portals)


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> Config:
    """Read and validate a config file; raises ConfigError."""
    path = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            path, "(file)", "not found", "copy config.example.toml to config.toml and edit it"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            path, "(syntax)", f"not valid TOML ({exc})", "correct the syntax"
        ) from None
    return build_config(data, path=path, env=os.environ if env is None else env)


def demo_config(database_path: str = "journeydesk-demo.db", port: int = 8000) -> Config:
    """The embedded default: SQLite + the demo help desk, open sidebar, random secret."""
    data = {
        "server": {"port": port, "public_url": f"http://127.0.0.1:{port}"},
        "database": {"path": database_path},
        "connectors": [{"name": "demo", "type": "demo", "sync_interval_minutes": 5}],
    }
    return build_config(data, path="(built-in demo config)", env=os.environ, demo=True)


def build_config(data: dict[str, Any], *, path: str, env: Any, demo: bool = False) -> Config:
    known = set(SECTIONS) | {"connectors", "ingest"} | set(FREE_SECTIONS)
    for key in data:
        if key not in known:
            _unknown(path, key, key, known)
    sections = {
        name: _section(path, name, data.get(name, {}), keys) for name, keys in SECTIONS.items()
    }
    connectors = tuple(_connectors(path, data.get("connectors", []), env))
    _unique(path, "connectors", [c.name for c in connectors])
    ingest = tuple(_ingest_keys(path, data.get("ingest", {}), env, {c.name for c in connectors}))
    secret_env = sections["security"]["secret_env"]
    secret = _env_secret(path, "security.secret_env", secret_env, env, required=not demo)
    password_env = sections["security"]["admin_password_env"]
    password = _env_secret(path, "security.admin_password_env", password_env, env, required=False)
    for name in FREE_SECTIONS:
        if name in data and not isinstance(data[name], dict):
            raise ConfigError(path, name, "must be a table", f"write it as [{name}] ...")
    # Every command stops here on a bad stage or signal (ConditionError names it), not later.
    load_model(data.get("journey", {}), file=path)
    load_rules(data.get("outreach", {}), file=path, env=env)
    load_sla_rules(data.get("sla", {}), file=path)
    if sections["email"]["ssl"] and sections["email"]["starttls"]:
        raise ConfigError(
            path, "email.ssl", "ssl and starttls are both true", "choose one (ssl: port 465)"
        )
    return Config(
        path=path,
        server=sections["server"],
        database_path=_database_location(path, data.get("database", {}), sections["database"], env),
        secret=secret or Secret(secrets.token_urlsafe(32)),
        admin_password=password,
        admin_password_env=password_env,
        database_password_env=sections["database"]["password_env"],
        sidebar=sections["sidebar"],
        email=sections["email"],
        connectors=connectors,
        ingest_keys=ingest,
        journey=data.get("journey", {}),
        outreach=data.get("outreach", {}),
        sla=data.get("sla", {}),
        demo_mode=demo,
    )


def _section(path: str, name: str, values: Any, keys: dict[str, Key]) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(path, name, "must be a table", f"write it as [{name}]")
    result = {key: spec.default for key, spec in keys.items()}
    for key, value in values.items():
        full = f"{name}.{key}"
        if key not in keys:
            _unknown(path, full, key, keys)
        result[key] = _typed(path, full, value, keys[key])
    return result


def _typed(path: str, full: str, value: Any, spec: Key) -> Any:
    expected = spec.type
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not ok:
        name = expected.__name__ if isinstance(expected, type) else "value"
        key = full.rsplit(".", 1)[-1]
        raise ConfigError(
            path,
            full,
            f"expected {_article(name)} {name}, got {value!r}",
            f"write it like {key} = {_toml_example(spec)}",
        )
    if expected is int and value < 0:
        raise ConfigError(path, full, f"must not be negative, got {value}", "use a positive number")
    return value


def _toml_example(spec: Key) -> str:
    if isinstance(spec.default, bool):
        return str(spec.default).lower()
    if isinstance(spec.default, int):
        return str(spec.default)
    if isinstance(spec.default, list):
        return '["..."]'
    if isinstance(spec.default, dict):
        return '{ timezone = "Europe/Madrid", mon = "09:00-18:00" }'
    return f'"{spec.default or "..."}"'


def _article(name: str) -> str:
    return "an" if name[0] in "aeiou" else "a"


def _unknown(path: str, full: str, key: str, known: Any) -> None:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f'did you mean "{close[0]}"?' if close else f"known keys: {', '.join(sorted(known))}"
    raise ConfigError(path, full, "unknown key", f"remove it or correct it ({hint})")


def _unique(path: str, where: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(
                path, where, f'the name "{name}" is used twice', "give each a unique name"
            )
        seen.add(name)


def _connectors(path: str, items: Any, env: Any) -> list[ConnectorConfig]:
    if not isinstance(items, list):
        raise ConfigError(path, "connectors", "must be a list", "write each as [[connectors]]")
    result = []
    for index, item in enumerate(items):
        where = f"connectors[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(path, where, "must be a table", "write it as [[connectors]]")
        kind = item.get("type")
        if kind not in CONNECTOR_KEYS:
            raise ConfigError(
                path,
                f"{where}.type",
                f"unknown connector type {kind!r}",
                f"use one of: {', '.join(CONNECTOR_KEYS)}",
            )
        keys = CONNECTOR_KEYS[kind]
        settings = _section(path, where, item, keys)
        if kind == "zendesk":
            _check_history_audience(path, where, settings)
        _check_business_hours(path, where, settings)
        if settings["journey_note_language"] not in NOTE_LANGUAGES:
            raise ConfigError(
                path,
                f"{where}.journey_note_language",
                f"{settings['journey_note_language']!r} is not a language notes are written in",
                f"use one of: {', '.join(NOTE_LANGUAGES)}",
            )
        for key, spec in keys.items():
            if spec.default is None and not settings.get(key):
                raise ConfigError(path, f"{where}.{key}", "is required", f"set {key} ({spec.help})")
        secrets_ = {
            key: secret
            for key in keys
            if key in SECRET_KEYS and settings.get(key)
            for secret in [_env_secret(path, f"{where}.{key}", settings[key], env, required=True)]
        }
        result.append(ConnectorConfig(settings["name"], kind, settings, secrets_))
    return result


NOTE_LANGUAGES = ("en", "es")
"""The languages of the journey note (those of the sidebar and of reasons)."""
MAX_SIGNED_IN_DAYS = 1095
"""Zendesk keeps events 3 years at most (Enterprise Plus): further back finds nothing."""
MAX_HISTORY_USERS_PER_SYNC = 5000
"""Each user costs at least one Events API call: 5,000 in one sync already takes 5 to 20
minutes of the whole Events budget (250-1,000 requests/min by plan)."""


def _check_business_hours(path: str, where: str, settings: dict[str, Any]) -> None:
    try:
        parse_calendar(settings["business_hours"])
    except CalendarError as exc:
        key = f"{where}.business_hours" + (f".{exc.key}" if exc.key else "")
        raise ConfigError(path, key, exc.problem, exc.fix) from None


def _check_history_audience(path: str, where: str, settings: dict[str, Any]) -> None:
    """The Zendesk keys that say whose reading history is read (docs/connectors.md)."""
    days = settings["history_signed_in_days"]
    if days > MAX_SIGNED_IN_DAYS:
        raise ConfigError(
            path,
            f"{where}.history_signed_in_days",
            f"{days} days is longer than Zendesk keeps events ({MAX_SIGNED_IN_DAYS} days at most)",
            "write it like history_signed_in_days = 90 (0 turns that pass off)",
        )
    cap = settings["history_users_per_sync"]
    if not 1 <= cap <= MAX_HISTORY_USERS_PER_SYNC:
        raise ConfigError(
            path,
            f"{where}.history_users_per_sync",
            f"must be between 1 and {MAX_HISTORY_USERS_PER_SYNC}, got {cap}",
            "write it like history_users_per_sync = 500 (the rest are read by the next syncs)",
        )
    for tag in settings["history_user_tags"]:
        word = isinstance(tag, str) and tag != ""
        if not word or any(c.isspace() or c in '",' for c in tag):
            raise ConfigError(
                path,
                f"{where}.history_user_tags",
                f"{tag!r} is not a Zendesk tag (a tag is one word: no spaces, commas or quotes)",
                'write each tag as Zendesk shows it, e.g. history_user_tags = ["vip", "beta"]',
            )
    for org in settings["history_organizations"]:
        ok = (isinstance(org, int) and not isinstance(org, bool) and org > 0) or (
            isinstance(org, str) and org.strip() != ""
        )
        if not ok:
            raise ConfigError(
                path,
                f"{where}.history_organizations",
                f"{org!r} is neither an organization id nor a name",
                "write ids as numbers and names as text, e.g. "
                'history_organizations = [360012345678, "Acme Inc"]',
            )


def _ingest_keys(path: str, section: Any, env: Any, sources: set[str]) -> list[IngestKeyConfig]:
    if not isinstance(section, dict) or set(section) - {"keys"}:
        raise ConfigError(path, "ingest", "only [[ingest.keys]] is allowed", "use [[ingest.keys]]")
    result = []
    for index, item in enumerate(section.get("keys", [])):
        where = f"ingest.keys[{index}]"
        values = _section(path, where, item, INGEST_KEYS)
        for key in ("name", "key_env", "source"):
            if not values[key]:
                raise ConfigError(path, f"{where}.{key}", "is required", f"set {key}")
        if values["source"] not in sources:
            raise ConfigError(
                path,
                f"{where}.source",
                f"no connector named {values['source']!r}",
                f"use one of: {', '.join(sorted(sources)) or '(add a [[connectors]] first)'}",
            )
        identity = values["identity_secret_env"]
        result.append(
            IngestKeyConfig(
                name=values["name"],
                key=_env_secret(path, f"{where}.key_env", values["key_env"], env, required=True),
                source=values["source"],
                allowed_origins=tuple(values["allowed_origins"]),
                identity_secret=_env_secret(
                    path, f"{where}.identity_secret_env", identity, env, required=True
                )
                if identity
                else None,
                help_center_jwks_url=values["help_center_jwks_url"],
                help_center_issuer=values["help_center_issuer"],
                rate_limit_per_minute=values["rate_limit_per_minute"],
            )
        )
    return result


def _env_secret(path: str, key: str, var: str, env: Any, *, required: bool) -> Secret | None:
    if not var:
        return None
    value = env.get(var)
    if not value:
        if required:
            raise ConfigError(
                path,
                key,
                f"the environment variable {var} is not set",
                f"export {var}=... before starting (secrets never go in the file)",
            )
        return None
    return Secret(value)


def _database_location(path: str, given: dict, database: dict[str, Any], env: Any) -> str:
    """The store's location: the SQLite file's path, or the PostgreSQL URL (its password,
    from the environment, carried beside it and never printed)."""
    url = database["url"]
    if not url:
        return _relative_to(path, database["path"])
    if "path" in given:
        raise ConfigError(
            path, "database.url", "both path and url are set", "keep url (PostgreSQL) or path"
        )
    if not is_postgres(url):
        raise ConfigError(path, "database.url", f"not a PostgreSQL URL: {url!r}", _URL_FIX)
    if urlsplit(url).password is not None:
        raise ConfigError(
            path,
            "database.url",
            "the URL holds a password",
            "remove it from the URL and name an environment variable in database.password_env",
        )
    password = _env_secret(
        path, "database.password_env", database["password_env"], env, required=True
    )
    return PostgresLocation(url, password.reveal() if password else None)


_URL_FIX = 'write it like url = "postgresql://journeydesk@db.example.com:5432/journeydesk"'


def _relative_to(config_path: str, value: str) -> str:
    """Relative database paths are relative to the config file's folder."""
    if os.path.isabs(value) or config_path.startswith("("):
        return value
    return str(Path(config_path).resolve().parent / value)
