"""Per-app state and the per-request database handle."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g
from sqlite_utils import Database

from plugin.config import Config
from plugin.journey.model import JourneyModel
from plugin.sidebar import SidebarSettings
from plugin.store import open_db


@dataclass
class AppState:
    config: Config
    model: JourneyModel
    sidebar: SidebarSettings


def state() -> AppState:
    return current_app.extensions["journeydesk"]


def db() -> Database:
    """One connection per request (sqlite3 connections must not cross threads)."""
    if "db" not in g:
        g.db = open_db(state().config.database_path, migrate=False)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    handle = g.pop("db", None)
    if handle is not None:
        handle.conn.close()
