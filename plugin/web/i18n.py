"""UI strings in English and Spanish, picked from ?lang= or the agent's Accept-Language."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from flask import request

LANGUAGES = ("en", "es")


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("plugin").joinpath(f"locales/{lang}.json").read_text("utf-8")
    return json.loads(text)


def pick_language() -> str:
    asked = (request.args.get("lang") or "").split("-")[0].lower()
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES) or "en"


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
