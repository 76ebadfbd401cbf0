"""Build connector objects from configuration (the only place that knows every type)."""

from __future__ import annotations

from connectors.demo import DemoDesk
from connectors.protocol import Connector
from plugin.config import Config, ConnectorConfig


def make_connector(config: Config, conf: ConnectorConfig) -> Connector:
    if conf.type == "demo":
        return DemoDesk(
            conf.name,
            seed=conf.get("seed"),
            customers=conf.get("customers"),
            base_url=config.server["public_url"],
        )
    if conf.type == "zendesk":
        from connectors.zendesk import ZendeskConnector

        return ZendeskConnector(
            conf.name,
            conf.get("subdomain"),
            conf.get("email"),
            conf.secrets["token_env"].reveal(),
            base_url=conf.get("base_url"),
        )
    if conf.type == "freshdesk":
        from connectors.freshdesk import FreshdeskConnector

        return FreshdeskConnector(
            conf.name,
            conf.get("domain"),
            conf.secrets["api_key_env"].reveal(),
            base_url=conf.get("base_url"),
        )
    raise ValueError(f"unknown connector type {conf.type}")
