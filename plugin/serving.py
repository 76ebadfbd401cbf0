"""How journeydesk serves HTTP in production, in one place: `journeydesk serve` and the
benchmark both run `serve_wsgi`, so the figures measure the setup operators run.

gunicorn with gevent workers. A worker reads every connection cooperatively, so a client
that sends half a request and waits holds a cheap greenlet, not the worker (sync: two such
clients froze the app) nor a pool thread (gthread waits for a request's headers in a pool
thread: N slow clients took N threads). SQLite calls block the worker's loop while they
run, but they are short (the journey's queries take microseconds to a few milliseconds).

On PostgreSQL the worker waits for each round trip the same way: psycopg picks its wait
function when first imported, in the master here, before gevent patches the worker, and
that one waits in C. Letting the worker's other requests run during the wait (psycopg
waiting through gevent's poll) was measured: journey requests per second over HTTP fell
from 1,122 to 807 at 1M customers, the switches costing more than the waits they hide on
two cores. A wait on a lock is bounded by the store's `lock_timeout`; reads take none.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger

from plugin.config import Config
from plugin.store import open_store

WORKER_SETTINGS: dict[str, Any] = {
    "worker_class": "plugin.fair_worker.FairGeventWorker",
    "worker_connections": 1000,  # open connections per worker, slow ones included
    # Seconds a kept-alive connection may idle; the gevent worker also gives a request's
    # headers no longer than this to arrive, then hangs up (slowloris).
    "keepalive": 5,
    # A listening socket per worker (SO_REUSEPORT): the kernel spreads connections evenly
    # over the workers. With one shared socket, whichever worker is awake accepts most of a
    # burst, and kept-alive connections stay where they landed: one worker queues its
    # requests while the other idles (p99 49 ms instead of 14 at 16 connections).
    "reuse_port": True,
    "timeout": 30,  # a worker whose loop is stuck this long is restarted
    "graceful_timeout": 20,
    "control_socket_disable": True,  # no ~/.gunicorn socket: nothing uses it
    "logger_class": "plugin.serving.RedactingLogger",
}

SECRET_PARAMETERS = frozenset({"token", "key"})
"""Query parameters that carry credentials: the agent token of the sidebar page and the
per-install key of Chatwoot and ingest URLs."""
REDACTED = "[redacted]"
_PARAMETER = re.compile(r"(?P<name>[^\s?&=#\"']+)=(?P<value>[^\s&#\"'\x1b]*)")


def serve_production(config: Config, *, workers: int) -> None:
    """`journeydesk serve`: the web app for `config` until stopped."""
    # Open (and migrate) the database once, here: a bad file is then one sentence, not a
    # traceback from every worker gunicorn forks and restarts.
    with open_store(config.database_path):
        pass
    bind = f"{config.server['host']}:{config.server['port']}"
    serve_wsgi(lambda: _production_app(config), bind=bind, workers=workers, accesslog="-")


def _production_app(config: Config) -> Callable:
    # Imported in the worker, after gevent patched it: the app's HTTP clients (requests,
    # urllib3, PyJWT's key fetcher) then take gevent's ssl and sockets, and cooperate.
    from plugin.app import create_app

    return create_app(config)


def serve_wsgi(load: Callable[[], Callable], *, bind: str, workers: int, **settings: Any) -> None:
    """Run gunicorn with WORKER_SETTINGS (plus `settings`) until it is stopped; `load` builds
    the WSGI app in each worker, after gevent has patched it."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            chosen = {**WORKER_SETTINGS, "bind": bind, "workers": workers, **settings}
            for key, value in chosen.items():
                self.cfg.set(key, value)

        def load(self) -> Callable:
            return load()

    Server().run()


def redact_secrets(text: str) -> str:
    """`text` with the values of credential parameters in any URL or query it holds
    replaced, whatever their percent-encoding (`%74oken=` is read as `token=` too)."""
    if "=" not in text:
        return text

    def replace(match: re.Match) -> str:
        if unquote_plus(match["name"]).lower() not in SECRET_PARAMETERS:
            return match[0]
        return f"{match['name']}={REDACTED}"

    return _PARAMETER.sub(replace, text)


class RedactSecrets(logging.Filter):
    """Rewrites a log record whose message carries a credential (a URL with ?token=)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RedactingLogger(Logger):
    """gunicorn's logger with credentials kept out of the access and error logs (the
    request line, the Referer, and error messages that quote the URI)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            if not any(isinstance(f, RedactSecrets) for f in log.filters):
                log.addFilter(RedactSecrets())

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("{authorization}i", "{http_authorization}e"):  # if a format logs them
            if name in atoms:
                atoms[name] = REDACTED
        return atoms


def redact_werkzeug_log() -> None:
    """The same for the demo's werkzeug server, which logs each request line."""
    log = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactSecrets) for f in log.filters):
        log.addFilter(RedactSecrets())
