"""Work a web request starts and does not wait for, in an OS thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def start_in_thread(target: Callable[..., Any], *args: Any, name: str, **kwargs: Any) -> None:
    """Run `target(*args, **kwargs)` in a native thread, also in a gevent worker.

    There `threading.Thread` makes a greenlet, which runs on the worker's own loop: a long
    recompute would hold up every request of that worker, and past gunicorn's timeout get
    the worker killed. gevent's thread pool runs it in a real thread, beside the loop.
    """
    if _gevent_patched():
        import gevent

        gevent.get_hub().threadpool.spawn(target, *args, **kwargs)
        return
    threading.Thread(target=target, args=args, kwargs=kwargs, name=name, daemon=True).start()


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("threading")
