"""The one TOML writer for what admins edit: journey definitions, outreach rules, SLA rules.

Each definition is an array-of-tables block in the very shape of `config.toml`
(``[[journey.stages]]``, ``[[outreach.rules]]``, ``[[sla.rules]]``): its keys in a fixed
order, then its condition tree as a sub-table with one condition per line, so the text
diffs well and reads like the file an admin wrote. Pure.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
SHORT_LINE = 88
"""A nested group fits on one line up to this width."""


def array_table(
    table: str,
    item: Mapping[str, Any],
    keys: Sequence[str],
    condition: str,
    *,
    dotted: Collection[str] = (),
) -> str:
    """`item` as a ``[[table]]`` block: `keys` in their order (those it has), then the
    condition tree under `condition` as ``[table.condition]``. Keys in `dotted` holding a
    table are written one ``key.sub = ...`` line each (e.g. a subject by language)."""
    lines = [f"[[{table}]]"]
    for name in keys:
        if name == condition or name not in item:
            continue
        value = item[name]
        if name in dotted and isinstance(value, Mapping):
            lines += [f"{name}.{key(str(k))} = {text_value(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key(name)} = {text_value(value)}")
    tree = item.get(condition) or {"all": []}
    group = next((k for k in ("all", "any") if k in tree), None)
    if group is None or len(tree) != 1:
        lines.append(f"{key(condition)} = {value_text(tree)}")
    else:
        lines.append(f"[{table}.{condition}]")
        lines.append(f"{group} = {children(tree[group], indent=0)}")
    return "\n".join(lines)


def children(items: list[Any], *, indent: int) -> str:
    """A group's conditions: one per line, short nested groups on one line."""
    if not items:
        return "[]"
    pad = " " * (indent + 2)
    written = [_node(child, indent=indent + 2) for child in items]
    return "[\n" + "".join(f"{pad}{item},\n" for item in written) + " " * indent + "]"


def _node(node: Mapping[str, Any], *, indent: int) -> str:
    group = next((k for k in ("all", "any") if k in node), None)
    if group is None:
        return value_text(node)
    one_line = f"{{ {group} = [ {', '.join(_node(c, indent=0) for c in node[group])} ] }}"
    if len(one_line) + indent <= SHORT_LINE or not node[group]:
        return one_line
    return f"{{ {group} = {children(node[group], indent=indent)} }}"


def key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def value_text(value: Any) -> str:
    """A TOML value on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else json.dumps(str(value))
    if isinstance(value, str):
        # A JSON string without ASCII escaping is a valid TOML basic string.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(item) for item in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        pairs = (f"{key(str(k))} = {value_text(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    return json.dumps(str(value), ensure_ascii=False)


def text_value(value: Any) -> str:
    """A value; text with line breaks as a multi-line string, readable in an editor."""
    if isinstance(value, str) and "\n" in value and not _CONTROL.search(value):
        escaped = value.replace("\\", "\\\\").replace('"""', '""\\"')
        if escaped.endswith('"'):
            escaped = escaped[:-1] + '\\"'
        return f'"""\n{escaped}"""'
    return value_text(value)
