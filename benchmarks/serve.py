"""Serve one of the benchmark apps exactly as `journeydesk serve` serves journeydesk:
`plugin.serving.serve_wsgi`, the same worker class and settings.

    python -m benchmarks.serve journey_app|floor_app --port N [--workers 2]
"""

from __future__ import annotations

import argparse

from benchmarks import apps
from plugin.serving import serve_wsgi

FACTORIES = {"journey_app": apps.journey_app, "floor_app": apps.floor_app}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve")
    parser.add_argument("factory", choices=list(FACTORIES))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    serve_wsgi(
        FACTORIES[args.factory],
        bind=f"127.0.0.1:{args.port}",
        workers=args.workers,
        loglevel="warning",
    )


if __name__ == "__main__":
    main()
