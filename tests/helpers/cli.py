"""journeydesk's command line as an operator runs it: `python -m plugin …` in a real
subprocess, from the checkout unless told otherwise, with the suite's secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.config import SECRET

ROOT = Path(__file__).resolve().parents[2]
"""The checkout: the folder holding plugin/, docs/, apps/ and config.example.toml."""
COMMAND = [sys.executable, "-m", "plugin"]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the suite's secret and `extra`."""
    return {**os.environ, "JOURNEYDESK_SECRET": SECRET, **(extra or {})}


def journeydesk(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120, **kwargs
) -> subprocess.CompletedProcess:
    """`journeydesk ARGS` run to its end; its output as text."""
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env() if env is None else env,
        timeout=timeout,
        **kwargs,
    )


def start_journeydesk(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, **kwargs
) -> subprocess.Popen:
    """`journeydesk ARGS` started in the background; its output is discarded unless
    `stdout` / `stderr` say where it goes."""
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    kwargs.setdefault("stderr", subprocess.DEVNULL)
    return subprocess.Popen(
        [*COMMAND, *args], cwd=cwd, env=cli_env() if env is None else env, **kwargs
    )
