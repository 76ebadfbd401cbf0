"""UI strings in English and Spanish, picked from ?lang= or the agent's Accept-Language."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from flask import request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

LANGUAGES = ("en", "es")
_BY_HEADER: dict[str, str] = {}
"""The language picked for each Accept-Language value seen: a desk's agents send a few
values again and again, and parsing one costs more than the rest of picking."""
_BY_HEADER_MAX = 512


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("plugin").joinpath(f"locales/{lang}.json").read_text("utf-8")
    return json.loads(text)


def pick_language() -> str:
    environ = request.environ
    if environ.get("QUERY_STRING"):
        asked = (request.args.get("lang") or "").split("-")[0].lower()
        if asked in LANGUAGES:
            return asked
    header = environ.get("HTTP_ACCEPT_LANGUAGE")
    if not header:
        return "en"
    lang = _BY_HEADER.get(header)
    if lang is None:
        lang = parse_accept_header(header, LanguageAccept).best_match(LANGUAGES) or "en"
        if len(_BY_HEADER) >= _BY_HEADER_MAX:  # bounded whatever clients send
            _BY_HEADER.clear()
        _BY_HEADER[header] = lang
    return lang


def translator(lang: str):
    strings = catalogue(lang)
    fallback = catalogue("en")

    def t(key: str, **values) -> str:
        text = strings.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return t


def ago(minutes: int, t) -> str:
    """'42 min' / '1 h 37 min' / '14 h' / '2 days' in the agent's language, rounded honestly:
    minutes kept below 10 h (1 h 37 min is not "1 h"), then the nearest hour, then the
    nearest day."""
    if minutes < 1:  # read seconds before writing: "0 min" would look like a glitch
        return t("minutes", n="<1")
    if minutes < 60:
        return t("minutes", n=minutes)
    if minutes < 10 * 60:
        hours, rest = divmod(minutes, 60)
        return t("hours_minutes", h=hours, m=rest) if rest else t("hours", n=hours)
    if minutes < 47 * 60 + 30:
        return t("hours", n=(minutes + 30) // 60)
    days = (minutes + 12 * 60) // (24 * 60)  # half a day rounds up, as a person would
    return t("day" if days == 1 else "days", n=days)


RECENT_MINUTES = 48 * 60
"""Moments younger than this read as relative ("3 h ago"); older ones as a localized date."""


def _epoch(at: str | int | None) -> int | None:
    if at is None or at == "":
        return None
    if isinstance(at, int):
        return at
    return int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp())


class Dates:
    """One date style per language for everything the sidebar shows: relative for recent
    moments ("3 h ago", "hace 3 h"), localized absolute otherwise ("Nov 19, 18:06",
    "19 nov, 18:06"), days as "Nov 17, 2026" / "17 nov 2026". Times are UTC (said in the
    tooltip the template adds)."""

    def __init__(self, t: Callable[..., str], now: int) -> None:
        self.t = t
        self.now = now
        self.months = t("months_short").split(",")

    def day(self, at: str | int | None) -> str:
        moment = _epoch(at)
        if moment is None:
            return ""
        d = datetime.fromtimestamp(moment, UTC)
        return self.t("date_format", day=d.day, month=self.months[d.month - 1], year=d.year)

    def moment(self, at: str | int | None) -> str:
        when = _epoch(at)
        if when is None:
            return ""
        minutes = (self.now - when) // 60
        if 0 <= minutes < RECENT_MINUTES:
            return self.t("ago", ago=ago(minutes, self.t))
        d = datetime.fromtimestamp(when, UTC)
        return self.t(
            "moment_format",
            day=d.day,
            month=self.months[d.month - 1],
            year=d.year,
            time=f"{d.hour:02d}:{d.minute:02d}",
        )
