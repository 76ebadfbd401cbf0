"""Streaming readers for touchpoint exports: JSONL and CSV, optionally gzip-compressed.

Both yield `(line_number, event)` where `event` is a dict in the ingest body's event shape
(DESIGN §4), or a `BadLine` with the reason when that one line cannot be parsed — a bad
line never stops the file. Only a file that cannot be read at all (missing, not UTF-8 in a
CSV, a CSV header with unknown or missing columns) raises `FileFormatError`.

Memory stays flat: one line at a time, whatever the file's size. `bytes_read` follows
the (compressed) bytes consumed so a caller can draw a progress bar.

CSV columns (a header row is required; order is free, only `id`, `type` and
`occurred_at` are required):

    id, type, occurred_at, email, external_id, anonymous_id, article_id, article_url,
    article_title, article_locale, query, properties_json

`properties_json` is a JSON object; `query` becomes `properties.query` (searches).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from connectors import fastjson

CSV_COLUMNS = (
    "id",
    "type",
    "occurred_at",
    "email",
    "external_id",
    "anonymous_id",
    "article_id",
    "article_url",
    "article_title",
    "article_locale",
    "query",
    "properties_json",
)
REQUIRED_CSV_COLUMNS = ("id", "type", "occurred_at")
MAX_LINE_BYTES = 1_000_000
_CUSTOMER_COLUMNS = {"email": "email", "external_id": "external_id", "anonymous_id": "anonymous_id"}
_ARTICLE_COLUMNS = {
    "article_id": "id",
    "article_url": "url",
    "article_title": "title",
    "article_locale": "locale",
}


class FileFormatError(Exception):
    """The file cannot be read at all; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BadLine:
    """One line that could not be parsed, with the reason."""

    reason: str


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from the file underneath (before decompression)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class TouchpointFile:
    """An open JSONL or CSV export; iterate it for `(line_number, event | BadLine)`.

    Use it as a context manager so the file is closed however the loop ends.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.size = os.path.getsize(self.path)
            raw = open(self.path, "rb")  # closed by close(), via the BufferedReader
        except FileNotFoundError:
            raise FileFormatError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise FileFormatError(f"{self.path}: is a folder, not a file") from None
        except OSError as exc:
            raise FileFormatError(f"{self.path}: cannot be read ({exc.strerror})") from None
        self._counter = _CountingReader(raw)
        self._binary: IO[bytes] = io.BufferedReader(self._counter)
        name = self.path.name.lower()
        if name.endswith(".gz"):
            self._binary = gzip.GzipFile(fileobj=self._binary, mode="rb")  # type: ignore[assignment]
            name = name[:-3]
        self.format = self._detect_format(name)

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    def __enter__(self) -> TouchpointFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._binary.close()

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
        try:
            if self.format == "csv":
                yield from self._csv_lines()
            else:
                yield from self._jsonl_lines()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise FileFormatError(f"{self.path}: cannot be read ({exc})") from None

    def _detect_format(self, name: str) -> str:
        if name.endswith(".csv"):
            return "csv"
        if name.endswith((".jsonl", ".ndjson", ".json")):
            return "jsonl"
        try:
            head = self._binary.peek(64)[:64] if hasattr(self._binary, "peek") else b""
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise FileFormatError(f"{self.path}: cannot be read ({exc})") from None
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            return "jsonl"
        if b"," in head:
            return "csv"
        raise FileFormatError(
            f"{self.path}: neither JSONL nor CSV; name it .jsonl or .csv (optionally .gz)"
        )

    def _jsonl_lines(self) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
        for number, raw in enumerate(self._binary, start=1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            yield number, _json_line(raw)

    def _csv_lines(self) -> Iterator[tuple[int, dict[str, Any] | BadLine]]:
        text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
        reader = csv.DictReader(text)
        try:
            header = reader.fieldnames or []
            _check_header(self.path, header)
            for row in reader:
                # line_num is the physical line where the record ended (quoted newlines).
                yield reader.line_num, _csv_event(row)
        except UnicodeDecodeError:
            raise FileFormatError(
                f"{self.path}: not UTF-8 text near line {reader.line_num + 1}; "
                "save the CSV as UTF-8"
            ) from None
        except csv.Error as exc:
            raise FileFormatError(f"{self.path}: line {reader.line_num}: {exc}") from None


def _json_line(raw: bytes) -> dict[str, Any] | BadLine:
    if len(raw) > MAX_LINE_BYTES:
        return BadLine(f"line longer than {MAX_LINE_BYTES:,} bytes")
    try:
        value = fastjson.loads(raw)
    except UnicodeDecodeError:
        return BadLine("not UTF-8 text")
    except ValueError as exc:  # also a line nested too deeply (fastjson.JsonError)
        return BadLine(f"not valid JSON ({exc.args[0].split(':')[0]})")
    if not isinstance(value, dict):
        return BadLine("expected a JSON object (one event per line)")
    return value


def _check_header(path: Path, header: list[str]) -> None:
    if not header:
        raise FileFormatError(f"{path}: empty file; a CSV needs a header row")
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise FileFormatError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"the columns are: {', '.join(CSV_COLUMNS)}"
        )
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in header]
    if missing:
        raise FileFormatError(f"{path}: the header lacks the column(s) {', '.join(missing)}")


def _csv_event(row: dict[str, Any]) -> dict[str, Any] | BadLine:
    """A CSV row in the ingest event shape; empty cells are left out."""
    if None in row:  # more cells than header columns
        return BadLine("more cells than the header has columns")
    cells = {k: v.strip() for k, v in row.items() if isinstance(v, str) and v.strip()}
    event: dict[str, Any] = {k: cells[k] for k in ("id", "type", "occurred_at") if k in cells}
    customer = {out: cells[col] for col, out in _CUSTOMER_COLUMNS.items() if col in cells}
    if customer:
        event["customer"] = customer
    article = {out: cells[col] for col, out in _ARTICLE_COLUMNS.items() if col in cells}
    if article:
        event["article"] = article
    properties: dict[str, Any] = {}
    if "properties_json" in cells:
        try:
            properties = fastjson.loads(cells["properties_json"])
        except ValueError:
            return BadLine("properties_json: not valid JSON")
        if not isinstance(properties, dict):
            return BadLine("properties_json: expected a JSON object")
    if "query" in cells:
        properties["query"] = cells["query"]
    if properties:
        event["properties"] = properties
    return event
