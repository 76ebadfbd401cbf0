"""Strict at the edges of the web app: ids SQLite can bind, and JSON a browser can parse.

Installed once by the app factory (`install`), so every route and every `jsonify` gets
them without a patch per endpoint:

- `<int:...>` route parts are store row ids: 1 to 2^63-1 digits-wise. A larger number
  would raise OverflowError when SQLite binds it (a 500); now the route does not match,
  which is the 404 the client should get for an id that cannot exist.
- `jsonify` writes strict JSON: NaN and ±Infinity (which the standard library writes as
  bare words that JSON.parse refuses) go out as null. A history stored before ingest held
  properties to strict JSON may still hold them. Costless when there are none: the
  encoder refuses them (allow_nan off) and only then is the value copied without them.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter, Map

MAX_ROW_ID = 2**63 - 1


class RowIdConverter(IntegerConverter):
    """Flask's `int` converter bounded to SQLite's INTEGER (at most 19 digits, ≤ 2^63-1)."""

    regex = r"\d{1,19}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        if self.max is None:
            self.max = MAX_ROW_ID


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, writing null where a float is not a JSON number."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        try:
            return super().dumps(obj, allow_nan=False, **kwargs)
        except ValueError:  # NaN or Infinity somewhere: not JSON
            return super().dumps(finite(obj), allow_nan=False, **kwargs)


def finite(value: Any) -> Any:
    """A copy of `value` with NaN and ±Infinity replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def install(app: Flask) -> None:
    """Before any blueprint is registered: routes compile with the converter they name."""
    app.url_map.converters["int"] = RowIdConverter
    app.json = StrictJSONProvider(app)
