#!/usr/bin/env python3
"""Build the help desk app packages into installable zips.

    python apps/build.py --public-url https://journeydesk.acme.example --out dist/apps

Writes `journeydesk-zendesk.zip` (upload as a private Zendesk app, or `zcli apps:create` the
unzipped folder), `journeydesk-freshdesk.zip` (the FDK project: `fdk validate && fdk pack`) and
`journeydesk-chatwoot.zip` (the dashboard app page script and its setup notes).

The sources under apps/<desk>/ carry placeholders that only the deployment knows:
`{{PUBLIC_URL}}` (no trailing slash), `{{PUBLIC_SCHEME}}`, `{{PUBLIC_HOST}}` and
`{{PUBLIC_PATH}}` (its parts, for Freshworks request templates, which want them apart),
`{{VERSION}}` and `{{AUTHOR_EMAIL}}`. The build fills them in, generates the Zendesk logos,
checks that every JSON file still parses and that no placeholder is left, and zips
reproducibly (sorted entries, fixed timestamps), so the same inputs give the same bytes.

Stdlib only: the Makefile and CI call it before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import tomllib
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

APPS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = APPS_DIR.parent
DESKS = ("zendesk", "freshdesk", "chatwoot")
TEXT_SUFFIXES = frozenset({".css", ".html", ".js", ".json", ".md", ".svg", ".txt"})
PLACEHOLDER = re.compile(r"\{\{[A-Z_]+\}\}")  # ours only: FDK's {{{appclient}}} is lower case
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: reproducible archives
# What a public URL may look like: no user-info, query or fragment, and nothing that would need
# escaping inside the JSON, JS and HTML strings it is pasted into.
PUBLIC_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.-]+(?::\d{1,5})?)(?P<path>(?:/[A-Za-z0-9._~%-]+)*)/?"
)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
LOGO_SIZES = {"assets/logo.png": 320, "assets/logo-small.png": 128}  # Zendesk's sizes


class BuildError(Exception):
    """A problem the person running the build can fix; the message says how."""


@dataclass(frozen=True)
class Target:
    """The journeydesk server the packages talk to."""

    url: str
    scheme: str
    host: str
    path: str

    @property
    def hostname(self) -> str:
        return self.host.partition(":")[0].lower()


def parse_public_url(raw: str) -> Target:
    m = PUBLIC_URL.fullmatch(raw.strip())
    if m is None:
        raise BuildError(
            f"--public-url {raw!r} is not a plain http(s) URL such as "
            "https://journeydesk.acme.example (no query, fragment or user name)"
        )
    target = Target(
        url=f"{m['scheme']}://{m['host']}{m['path']}",
        scheme=m["scheme"],
        host=m["host"],
        path=m["path"],
    )
    # Zendesk refuses absolute location URLs that are not https, localhost excepted.
    if target.scheme != "https" and target.hostname not in LOCAL_HOSTS:
        raise BuildError(
            f"--public-url must use https (Zendesk and Freshworks load only https apps): {raw}"
        )
    return target


def project_version() -> str:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def placeholder_values(target: Target, version: str, author_email: str | None) -> dict[str, str]:
    return {
        "{{PUBLIC_URL}}": target.url,
        "{{PUBLIC_SCHEME}}": target.scheme,
        "{{PUBLIC_HOST}}": target.host,
        "{{PUBLIC_PATH}}": target.path,
        "{{VERSION}}": version,
        "{{AUTHOR_EMAIL}}": author_email or f"support@{target.hostname}",
    }


def source_files(desk: str) -> list[Path]:
    """The package's files as committed: everything but dotfiles and editor/OS clutter."""
    root = APPS_DIR / desk
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and "__pycache__" not in path.parts
    )


def render(path: Path, values: dict[str, str]) -> bytes:
    if path.suffix not in TEXT_SUFFIXES:
        return path.read_bytes()
    text = path.read_text(encoding="utf-8")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text.encode("utf-8")


def package_contents(desk: str, values: dict[str, str]) -> dict[str, bytes]:
    root = APPS_DIR / desk
    contents = {
        path.relative_to(root).as_posix(): render(path, values) for path in source_files(desk)
    }
    if desk == "zendesk":
        contents.update({name: logo_png(size) for name, size in LOGO_SIZES.items()})
    check_contents(desk, contents)
    return contents


def check_contents(desk: str, contents: dict[str, bytes]) -> None:
    for name, data in contents.items():
        if Path(name).suffix not in TEXT_SUFFIXES:
            continue
        text = data.decode("utf-8")
        left = sorted(set(PLACEHOLDER.findall(text)))
        if left:
            raise BuildError(f"{desk}/{name}: unknown placeholder(s) {', '.join(left)}")
        if name.endswith(".json"):
            try:
                json.loads(text)
            except json.JSONDecodeError as e:
                raise BuildError(f"{desk}/{name} is not valid JSON after filling in: {e}") from e


def write_zip(path: Path, contents: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name in sorted(contents):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # rw-r--r--, whatever the checkout's umask was
            zf.writestr(info, contents[name])


def build(
    public_url: str,
    out_dir: Path,
    *,
    desks: Sequence[str] = DESKS,
    version: str | None = None,
    author_email: str | None = None,
) -> list[Path]:
    """Build the packages of `desks` into `out_dir`; returns the zip paths."""
    values = placeholder_values(
        parse_public_url(public_url), version or project_version(), author_email
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for desk in desks:
        zip_path = out_dir / f"journeydesk-{desk}.zip"
        write_zip(zip_path, package_contents(desk, values))
        written.append(zip_path)
    return written


# ---------------------------------------------------------------- the Zendesk logos


def logo_png(size: int) -> bytes:
    """A square RGBA PNG: three white stops joined by a path (a journey) on teal."""
    stops = [(0.22 * size, 0.68 * size), (0.50 * size, 0.34 * size), (0.78 * size, 0.60 * size)]
    dot, half_line = 0.095 * size, 0.032 * size
    teal, white = bytes((0x0F, 0x76, 0x6E, 0xFF)), bytes((0xFF, 0xFF, 0xFF, 0xFF))
    segments = list(pairwise(stops))
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # PNG filter type 0 (none) for this scanline
        for x in range(size):
            px, py = x + 0.5, y + 0.5
            on_path = any(_near_segment(px, py, a, b, half_line) for a, b in segments)
            on_dot = any((px - sx) ** 2 + (py - sy) ** 2 <= dot * dot for sx, sy in stops)
            row += white if on_path or on_dot else teal
        rows.append(bytes(row))
    return _png(size, size, b"".join(rows))


def _near_segment(
    px: float, py: float, a: tuple[float, float], b: tuple[float, float], width: float
) -> bool:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2 <= width * width


def _png(width: int, height: int, scanlines: bytes) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(scanlines, 9))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="apps/build.py", description="Build journeydesk's help desk app packages."
    )
    parser.add_argument(
        "--public-url",
        required=True,
        help="where journeydesk is served, as the desks' browsers reach it (server.public_url)",
    )
    parser.add_argument("--out", type=Path, default=Path("dist/apps"), help="output directory")
    parser.add_argument(
        "--desk", action="append", choices=DESKS, help="build only this desk (repeatable)"
    )
    parser.add_argument("--version", help="app version (default: the project's version)")
    parser.add_argument(
        "--author-email",
        help="support address shown in the Zendesk app listing (default: support@<public host>)",
    )
    args = parser.parse_args(argv)
    try:
        paths = build(
            args.public_url,
            args.out,
            desks=args.desk or DESKS,
            version=args.version,
            author_email=args.author_email,
        )
    except BuildError as e:
        print(f"apps/build.py: error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
