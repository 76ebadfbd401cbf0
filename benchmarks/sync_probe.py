"""The sync under test, in its own process so its memory can be watched from outside.

    python -m benchmarks.sync_probe --db PATH --base-url http://127.0.0.1:PORT

Runs journeydesk's Zendesk ticket sync (`run_sync`, the tickets stream: export pages →
parsed tickets → requesters resolved → tickets and their derived touchpoints written
with the cursor, one transaction per page) into PATH, and prints one JSON line: tickets,
seconds, and this process's resident memory after every 100,000 tickets.

The export pacing (10 requests a minute on a real Zendesk) is set to zero: the local
server is unthrottled and the figure is journeydesk's processing speed.
"""

from __future__ import annotations

import argparse
import json
import time

from connectors.zendesk import ZendeskConnector
from plugin.intake.sync import run_sync
from plugin.store import open_db

SAMPLE_EVERY = 100_000


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB, from /proc."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_probe")
    parser.add_argument("--db", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", default="benchmark-zendesk-token")
    args = parser.parse_args(argv)
    connector = ZendeskConnector(
        "zendesk",
        "acme",
        "admin@acme.example",
        args.token,
        base_url=args.base_url,
        export_interval=0.0,
    )
    db = open_db(args.db)
    done = {"tickets": 0, "next": SAMPLE_EVERY}
    samples: list[dict[str, float]] = []

    def progress(_stream: str, count: int) -> None:
        done["tickets"] += count
        if done["tickets"] >= done["next"]:
            done["next"] += SAMPLE_EVERY
            samples.append({"tickets": done["tickets"], **memory_mb()})

    started = time.perf_counter()
    report = run_sync(db, connector, streams=("tickets",), progress=progress)
    elapsed = time.perf_counter() - started
    db.conn.close()
    print(
        json.dumps(
            {
                "tickets": report.written.get("tickets", 0),
                "rejected": len(report.rejected),
                "seconds": elapsed,
                "samples": samples,
                **memory_mb(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
