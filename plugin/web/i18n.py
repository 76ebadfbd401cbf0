"""UI strings in English and Spanish, picked from ?lang= or the agent's Accept-Language."""

from __future__ import annotations

import json
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
    """'42 min' / '3 h' / '2 days' in the agent's language."""
    if minutes < 1:  # read seconds before writing: "0 min" would look like a glitch
        return t("minutes", n="<1")
    if minutes < 60:
        return t("minutes", n=minutes)
    if minutes < 48 * 60:
        return t("hours", n=minutes // 60)
    days = minutes // (24 * 60)
    return t("day" if days == 1 else "days", n=days)
