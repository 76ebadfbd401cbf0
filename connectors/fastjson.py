"""`json.loads` with orjson's speed where the two agree, safe on any input.

Export pages are megabytes and ingest bodies hold hundreds of events; orjson reads them
two to four times faster. It differs from the standard library in a few corners, which
go to `json.loads` instead, so callers see the standard library's values and errors:
what orjson refuses (UTF-16/32 or a BOM, NaN, lone surrogates, malformed input), and
integers past 64 bits, which orjson would silently read as floats — a document with
19 digits in a row (anywhere, even in a string) is not given to it. That check costs
about a fifth of the parse.

Two departures from `json.loads`, because every caller reads documents from outside
(request bodies, import lines, desk pages) and must never crash on one:

- nesting: a document nested deeper than the parsers go (orjson: 1,024 levels; the
  standard library: the interpreter's recursion limit, about 1,000) raises `JsonError`,
  a ValueError, never RecursionError;
- lone UTF-16 surrogates (`"\\ud83d"`, what a browser sends for a string cut inside an
  emoji) become U+FFFD: such a string cannot be encoded as UTF-8, so SQLite and every
  response would fail on it later. orjson refuses them, so only the fallback can make
  them; it walks the value only when the text can hold one (an escape `\\uD8..\\uDF..`
  or a raw surrogate): plain documents pay nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_DIGITS_AS_ZERO = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
"""A `bytes.translate` table: every digit becomes "0", everything else a space."""
_NINETEEN_DIGITS = b"0" * 19
_NINETEEN_DIGITS_IN_TEXT = re.compile(r"[0-9]{19}")
_SURROGATE_IN_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
"""An escaped surrogate, or one encoded raw (CESU-8, which json.loads lets through)."""
_SURROGATE_IN_TEXT = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonError(ValueError):
    """The document cannot be read as JSON here (the message says why)."""


def loads(content: bytes | str) -> Any:
    """Parse a JSON document as `json.loads` does, with the two departures above."""
    if isinstance(content, str):
        safe = _NINETEEN_DIGITS_IN_TEXT.search(content) is None
    else:  # megabytes of export page: translating is faster than a regex scan
        safe = _NINETEEN_DIGITS not in content.translate(_DIGITS_AS_ZERO)
    if safe:
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            if str(exc).startswith("depth limit"):  # json.loads would only recurse deeper
                raise JsonError("nested too deeply") from None
    try:
        value = json.loads(content)
    except RecursionError:
        raise JsonError("nested too deeply") from None
    return _without_lone_surrogates(value) if _may_hold_surrogates(content) else value


def _may_hold_surrogates(content: bytes | str) -> bool:
    if isinstance(content, str):
        return _SURROGATE_IN_TEXT.search(content) is not None
    if content[:1] in (b"\x00", b"\xff", b"\xfe") or content[1:2] == b"\x00":
        return True  # UTF-16 or UTF-32: too rare to scan cleverly, just walk
    return _SURROGATE_IN_BYTES.search(content) is not None


def _without_lone_surrogates(value: Any) -> Any:
    """`value` with every string's lone surrogates replaced (in place, without recursion:
    the value may be nested nearly as deep as the interpreter allows)."""
    if isinstance(value, str):
        return _fix(value)
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = _fix(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
        elif isinstance(node, dict):
            for key in [k for k in node if _LONE_SURROGATE.search(k)]:
                node[_fix(key)] = node.pop(key)
            for key, item in node.items():
                if isinstance(item, str):
                    node[key] = _fix(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
    return value


def _fix(text: str) -> str:
    """Join surrogate pairs left split (raw CESU-8), replace the lone ones with U+FFFD."""
    if _LONE_SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
