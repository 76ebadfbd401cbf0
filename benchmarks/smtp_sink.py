"""A local SMTP sink for the outreach benchmark: accepts every message and drops it.

    python -m benchmarks.smtp_sink

Prints `PORT <n>` once it listens on 127.0.0.1, then serves until terminated (SIGTERM);
its own process, so the sender's CPU and memory are measured alone.
"""

from __future__ import annotations

import signal
import socket
import threading

from aiosmtpd.controller import Controller


class Drop:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def main() -> None:
    with socket.socket() as sock:  # aiosmtpd cannot take port 0 (runtime notes)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(Drop(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"PORT {port}", flush=True)
    try:
        stop.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
