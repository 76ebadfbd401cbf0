"""Performance knobs of the Python runtime, in one place, each with why.

Domain code calls these by name (`with sync_tuning():`, `with gc_paused():`,
`freeze_startup_objects()`) and never touches `gc` or `sys` itself. Everything here is
process-wide by nature (the collector and the GIL belong to the interpreter), so the little
state it keeps (`_frozen`, `_sync`) is per process and lives here, nowhere else.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterator

SYNC_GC_THRESHOLD = 20_000
"""Container allocations between two young-generation collections while a sync runs
(Python's default is 700). An export page is ~40,000 dicts and lists alive until the
page is stored: with the default, the collector walks each page dozens of times (about
a tenth of the sync's CPU) and finds nothing, since parsed JSON holds no cycles."""
SYNC_SWITCH_INTERVAL = 0.0001
"""Seconds a thread may hold the GIL while another waits for it, during a sync (Python's
default: 0.005). The writer releases the GIL for each SQLite step and then waits for the
read-ahead thread (parsing the next page) to hand it back; with the default it waits up
to 5 ms per step, so SQLite's work and the parsing hardly overlap. 200,000 tickets on two
busy cores, same CPU time: 5,000-5,200 tickets/s at 5 ms, 5,900-6,700 at 0.5 ms; 0.1 ms
was ~10 % faster than 0.5 ms again."""

_frozen = False  # per process: gc.freeze() has run in this interpreter
_sync_lock = threading.Lock()
_sync: dict = {"running": 0, "saved": None}  # per process: syncs running, settings to restore


def freeze_startup_objects() -> None:
    """Move what start-up made (modules, the app, the model: ~80,000 objects) out of the
    cyclic collector's sight, once per process: every full collection re-walked them
    (~40 ms, about once every few thousand journey requests of a web worker)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


@contextlib.contextmanager
def sync_tuning() -> Iterator[None]:
    """The collector threshold and GIL switch interval above, for the duration of a sync
    (process-wide settings: the previous ones are restored when the last sync running in
    the process ends)."""
    with _sync_lock:
        if not _sync["running"]:
            gc_threshold, interval = _sync["saved"] = gc.get_threshold(), sys.getswitchinterval()
            gc.set_threshold(max(gc_threshold[0], SYNC_GC_THRESHOLD), *gc_threshold[1:])
            sys.setswitchinterval(min(interval, SYNC_SWITCH_INTERVAL))
        _sync["running"] += 1
    try:
        yield
    finally:
        with _sync_lock:
            _sync["running"] -= 1
            if not _sync["running"]:
                gc_threshold, interval = _sync["saved"]
                gc.set_threshold(*gc_threshold)
                sys.setswitchinterval(interval)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch's objects are made (then as before).

    A batch of ingested or imported events makes tens of thousands of small objects that
    all stay alive until it is stored, so the collector ran every 700 allocations and
    walked them all again each time (16 % of an import's CPU). They hold no cycles:
    reference counting frees them. Nested use keeps the outer pause.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
