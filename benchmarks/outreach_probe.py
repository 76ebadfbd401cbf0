"""Outreach delivery under test, in its own process so its memory can be watched.

    python -m benchmarks.outreach_probe --messages 20000 [--port PORT]

Fills a scratch store's outbox with MESSAGES pending emails (about 2 kB of text and HTML
each, as the shipped templates render), then runs journeydesk's delivery (`deliver_due`:
the lease, each message marked `sending` and committed, built as multipart text + HTML
with the unsubscribe headers, sent, marked `sent` and committed) over ONE SMTP
connection to the sink on PORT (without --port it starts `benchmarks.smtp_sink` itself).
Needs no benchmark database. Prints one JSON line: sent, seconds, SMTP sessions, and
this process's resident memory sampled every SAMPLE_SECONDS while it sends.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SAMPLE_SECONDS = 0.5
TEXT = (
    "Hi {name},\n\nYou read “Set up single sign-on” four times this week. "
    "A person on our team can walk you through it: reply to this email and we will "
    "find a time.\n\n" + "Here is what people usually ask next. " * 20 + "\n\nThe Acme team\n"
)


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    from benchmarks.sync_probe import memory_mb as read

    return read(pid)


def fill_outbox(db_path: Path, count: int) -> None:
    from plugin.store import open_db
    from plugin.store.outbox import claim_messages

    db = open_db(db_path)
    try:
        claim_messages(
            db,
            (
                {
                    "rule": "repeat-reader",
                    "customer_id": n,
                    "period": "bench",
                    "status": "pending",
                    "channel": "email",
                    "recipient": f"customer{n}@example.com",
                    "locale": "en",
                    "reasons": [{"fact": "max_views_same_article_7d", "op": "gte", "value": 3}],
                    "subject": "Still stuck on Set up single sign-on?",
                    "body_text": TEXT.format(name=f"Customer {n}"),
                    "body_html": "<p>" + TEXT.format(name=f"Customer {n}") + "</p>",
                    "next_attempt_at": 0,
                }
                for n in range(1, count + 1)
            ),
            now=int(time.time()),
        )
    finally:
        db.conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outreach_probe")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--port", type=int, help="an SMTP sink's port (else one is started)")
    args = parser.parse_args(argv)
    os.environ.setdefault("JOURNEYDESK_SECRET", "benchmark-secret-0123456789abcdef")
    sink = None
    if args.port is None:
        sink = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.smtp_sink"], stdout=subprocess.PIPE, text=True
        )
        args.port = int(sink.stdout.readline().split()[1])
    folder = Path(tempfile.mkdtemp(prefix="journeydesk-outreach-bench-"))
    try:
        report = run(folder, args.port, args.messages)
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait(timeout=10)
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    print(json.dumps(report), flush=True)


def run(folder: Path, port: int, count: int) -> dict:
    from plugin.config import load_config
    from plugin.outreach import channels
    from plugin.outreach.delivery import deliver_due

    config_path = folder / "config.toml"
    config_path.write_text(
        f"""
[server]
public_url = "https://help.acme.example"
[database]
path = "outreach.db"
[email]
smtp_host = "127.0.0.1"
smtp_port = {port}
from = "Acme Support <support@acme.example>"
timeout_seconds = 30
""",
        encoding="utf-8",
    )
    config = load_config(config_path)
    fill_outbox(Path(config.database_path), count)

    sessions = []
    connect = channels.EmailChannel._open

    def counted(self):  # how many SMTP connections the run opened
        sessions.append(1)
        return connect(self)

    channels.EmailChannel._open = counted
    samples: list[dict[str, float]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(SAMPLE_SECONDS):
            samples.append({"at": round(time.perf_counter() - started, 2), **memory_mb()})

    started = time.perf_counter()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    delivery = deliver_due(config, batch=500)
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join()
    return {
        "messages": count,
        "sent": delivery.sent,
        "failed": delivery.failed,
        "retrying": delivery.retrying,
        "errors": delivery.errors[:3],
        "seconds": elapsed,
        "smtp_sessions": len(sessions),
        "samples": samples,
        **memory_mb(),
    }


if __name__ == "__main__":
    main()
