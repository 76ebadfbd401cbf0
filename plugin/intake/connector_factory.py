"""Build connector objects from configuration (the only place that knows every type).

Two call profiles share one builder:
- a **sync** (CLI, worker) may wait: every call gets the connector's full retry budget;
- an **interactive** fetch (an agent opening a ticket, a webhook) has an agent or a desk
  waiting on it: short timeouts, no retries, no long rate-limit sleeps. The caller
  answers with what it has instead, and the next sync catches up.

Error messages name the setting to fix exactly as the config file spells it
(`connectors[0].token_env`), the same way configuration errors do.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from requests.auth import HTTPBasicAuth
from sqlite_utils import Database

from connectors.demo import DemoDesk
from connectors.errors import ConnectorError, NotFoundError, RetriesExhaustedError
from connectors.http import HttpClient
from connectors.protocol import Connector
from plugin import clock
from plugin.config import CONNECTOR_KEYS, Config, ConfigError, ConnectorConfig
from plugin.store.sync_state import get_cursor

HISTORY_TYPES = frozenset({"zendesk"})
"""Desks whose API serves each customer's reading history (Zendesk's Events API).
The others get it from the portal snippet or imports, in real time: nothing to fetch."""
INTERACTIVE_TIMEOUT = 5.0
"""Seconds per call when someone waits. The caller's own budget is shorter (freshness:
2 s); the call may finish in the background and still be stored for the next look."""
INTERACTIVE_MAX_WAIT = 5.0
"""Longest rate-limit or Retry-After wait an interactive call accepts before failing."""
MAX_EXPORT_PAGE = 1000


def make_connector(
    config: Config,
    conf: ConnectorConfig,
    *,
    db: Database | None = None,
    interactive: bool = False,
) -> Connector:
    """The connector for `conf`.

    `db`, when given, is where Zendesk's per-user event cursors are read, so a
    requester's history is never fetched twice; it must belong to the calling thread.
    """
    if conf.type == "demo":
        return DemoDesk(
            conf.name,
            seed=conf.get("seed"),
            customers=conf.get("customers"),
            base_url=config.server["public_url"],
            anchor=clock.now().replace(second=0, microsecond=0),
        )
    if conf.type == "zendesk":
        return _zendesk(config, conf, db, interactive)
    if conf.type == "freshdesk":
        return _freshdesk(config, conf, interactive)
    if conf.type == "chatwoot":  # sidebar only: its streams are empty (connectors/chatwoot.py)
        from connectors.chatwoot import ChatwootConnector

        token = conf.secrets["token_env"].reveal()
        return ChatwootConnector(conf.name, conf.get("base_url"), conf.get("account_id"), token)
    raise ValueError(f"unknown connector type {conf.type}")


def keeps_history(conf: ConnectorConfig) -> bool:
    """Whether the desk's API serves per-customer reading history to fetch on demand."""
    return conf.type in HISTORY_TYPES


def setting(config: Config, conf: ConnectorConfig, key: str) -> str:
    """`connectors[<index>].<key>`: how the config file (and ConfigError) names a key."""
    return f"{_where(config, conf)}.{key}"


def domain_setting(config: Config, conf: ConnectorConfig) -> str:
    """The setting that says where the desk is: base_url when set, else its name."""
    if conf.get("base_url"):
        return setting(config, conf, "base_url")
    return setting(config, conf, {"zendesk": "subdomain", "freshdesk": "domain"}[conf.type])


def with_setting_hint(config: Config, conf: ConnectorConfig, exc: ConnectorError) -> ConnectorError:
    """`exc`, or an equivalent that also names the setting to check.

    Credential and domain errors already name theirs (see `_client`). A desk that
    could not be reached after every retry is either down or configured at the
    wrong address: the message says which setting holds the address.
    """
    if exc.setting or not isinstance(exc, RetriesExhaustedError | NotFoundError):
        return exc
    where = domain_setting(config, conf)
    if isinstance(exc, NotFoundError):
        # A list a sync reads is missing (a JSON 404, not one absent record): the desk's
        # API answers, but not for this account: the address is the thing to check.
        return NotFoundError(f"{exc}; check {where}", setting=where)
    return RetriesExhaustedError(
        f"{str(exc).removesuffix('; try again later')}; try again later, and if it "
        f"persists check {where} and the network",
        setting=where,
    )


def one_sentence(exc: ConnectorError) -> str:
    """The error as one sentence for a person, naming the setting to fix once."""
    text = str(exc).strip().rstrip(".")
    if exc.setting and exc.setting not in text:
        text += f" (check {exc.setting})"
    return text + "."


# -- per desk --------------------------------------------------------------------------------


def _zendesk(
    config: Config, conf: ConnectorConfig, db: Database | None, interactive: bool
) -> Connector:
    from connectors.zendesk import ZendeskConnector

    rate = _positive(config, conf, "export_requests_per_minute")
    page_size = _positive(config, conf, "export_page_size")
    if page_size > MAX_EXPORT_PAGE:
        raise ConfigError(
            config.path,
            setting(config, conf, "export_page_size"),
            f"Zendesk serves at most {MAX_EXPORT_PAGE} records per page, not {page_size}",
            f"write it like export_page_size = {MAX_EXPORT_PAGE}",
        )
    subdomain, base_url = conf.get("subdomain"), conf.get("base_url")
    token = conf.secrets["token_env"].reveal()
    where = _where(config, conf)
    http = _client(
        config,
        conf,
        base_url or f"https://{subdomain}.zendesk.com",
        HTTPBasicAuth(f"{conf.get('email')}/token", token),  # Zendesk's API-token form
        desk="Zendesk",
        credentials=f"{where}.email and the API token in ${conf.get('token_env')} "
        f"({where}.token_env)",
        interactive=interactive,
    )
    # The per-user cursor is the scope of the touchpoints stream (Batch.scope = user id).
    user_cursor = partial(get_cursor, db, conf.name, "touchpoints") if db is not None else None
    return ZendeskConnector(
        conf.name,
        subdomain,
        conf.get("email"),
        token,
        base_url=base_url,
        http=http,
        export_page_size=page_size,
        export_interval=60.0 / rate,
        plan_field=conf.get("plan_field"),
        purchased_at_field=conf.get("purchased_at_field"),
        renewal_at_field=conf.get("renewal_at_field"),
        lifetime_value_field=conf.get("lifetime_value_field"),
        user_cursor=user_cursor,
        history_signed_in_days=conf.get("history_signed_in_days"),
        history_user_tags=[str(t).strip() for t in conf.get("history_user_tags")],
        history_organizations=[str(o).strip() for o in conf.get("history_organizations")],
        history_users_per_sync=conf.get("history_users_per_sync"),
        audience_setting=setting(config, conf, "history_organizations"),
    )


def _freshdesk(config: Config, conf: ConnectorConfig, interactive: bool) -> Connector:
    from connectors.freshdesk import FreshdeskConnector

    domain = conf.get("domain")
    domain = domain if "." in domain else f"{domain}.freshdesk.com"
    api_key = conf.secrets["api_key_env"].reveal()
    where = _where(config, conf)
    http = _client(
        config,
        conf,
        conf.get("base_url") or f"https://{domain}",
        HTTPBasicAuth(api_key, "X"),  # the API key is the user name; the password is unused
        desk="Freshdesk",
        credentials=f"the API key in ${conf.get('api_key_env')} ({where}.api_key_env)",
        interactive=interactive,
    )
    languages = conf.get("languages")
    return FreshdeskConnector(
        conf.name,
        domain,
        api_key,
        base_url=conf.get("base_url"),
        http=http,
        email_config_id=conf.get("email_config_id") or None,
        portal_url=conf.get("portal_url"),
        languages=[str(x) for x in languages] if languages else None,
    )


def _client(
    config: Config,
    conf: ConnectorConfig,
    base_url: str,
    auth: HTTPBasicAuth,
    *,
    desk: str,
    credentials: str,
    interactive: bool,
) -> HttpClient:
    policy: dict[str, Any] = {"max_retries": conf.get("max_retries")}
    if interactive:
        policy = {
            "max_retries": 0,
            "timeout": INTERACTIVE_TIMEOUT,
            "max_retry_after": INTERACTIVE_MAX_WAIT,
            "pace_default_wait": INTERACTIVE_MAX_WAIT,
        }
    return HttpClient(
        base_url,
        auth,
        desk=desk,
        credentials_setting=credentials,
        domain_setting=domain_setting(config, conf),
        **policy,
    )


def _where(config: Config, conf: ConnectorConfig) -> str:
    index = next(i for i, c in enumerate(config.connectors) if c.name == conf.name)
    return f"connectors[{index}]"


def _positive(config: Config, conf: ConnectorConfig, key: str) -> int:
    value = conf.get(key)
    if value < 1:
        raise ConfigError(
            config.path,
            setting(config, conf, key),
            f"must be at least 1, got {value}",
            f"write it like {key} = {CONNECTOR_KEYS[conf.type][key].default}",
        )
    return value


class ConnectorsByName:
    """The connectors of one pass over a queue of desk writes, made once per desk: every
    row of a desk shares its HTTP session and rate budget."""

    def __init__(self, config: Config, db: Database) -> None:
        self._config, self._db = config, db
        self._made: dict[str, Any] = {}

    def __getitem__(self, source: str) -> Any:
        connector = self._made.get(source)
        if connector is None:
            conf = self._config.connector(source)
            if conf is None:
                raise ConnectorError(f"no connector named {source!r} in the config")
            connector = self._made[source] = make_connector(self._config, conf, db=self._db)
        return connector
