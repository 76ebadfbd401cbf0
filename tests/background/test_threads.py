"""Background work started by a request runs in an OS thread, also in a gevent worker
(where `threading.Thread` would make a greenlet sharing, and stalling, the worker's loop)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

from plugin.background.threads import start_in_thread
from tests.helpers.cli import ROOT


def test_in_a_gevent_patched_process_the_work_runs_in_another_os_thread():
    script = textwrap.dedent(
        """
        from gevent import monkey

        monkey.patch_all()
        import gevent

        from plugin.background.threads import start_in_thread

        native_id = monkey.get_original("threading", "get_native_id")
        seen = []
        start_in_thread(lambda: seen.append(native_id()), name="probe")
        for _ in range(500):
            if seen:
                break
            gevent.sleep(0.01)
        print(native_id(), *seen)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    main, *job = result.stdout.split()
    assert len(job) == 1, "the work never ran"
    assert job[0] != main


def test_without_gevent_it_is_an_ordinary_daemon_thread():
    seen: list[tuple[str, bool]] = []
    start_in_thread(
        lambda: seen.append((threading.current_thread().name, threading.current_thread().daemon)),
        name="journeydesk-probe",
    )
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [("journeydesk-probe", True)]
