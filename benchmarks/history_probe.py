"""What an agent's sidebar waits while the stage history is rebuilt: run beside the rebuild.

    python -m benchmarks.history_probe --db FILE --customers 1,2,3

Until its standard input closes, it repeats what the sidebar does for one customer: read
their journey and stage history (`get_journey`, `stage_history`), then evaluate and store
their journey (`recompute_customers`, a short write transaction that waits for the
rebuild's). Prints one JSON line: the count and the p50 / p99 / max of each, in ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from plugin.clock import now_epoch
from plugin.journey.model import load_model
from plugin.journey.recompute import recompute_customers
from plugin.store import open_db
from plugin.store.journeys import get_journey, stage_history

PAUSE_S = 0.02


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history_probe")
    parser.add_argument("--db", required=True)
    parser.add_argument("--customers", required=True, help="comma-separated customer ids")
    args = parser.parse_args(argv)
    customers = [int(c) for c in args.customers.split(",")]
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    model = load_model(None, file="default")  # the benchmark's config has no [journey]
    db = open_db(args.db, migrate=False)
    reads: list[float] = []
    writes: list[float] = []
    print("ready", flush=True)
    n = 0
    while not stop.is_set():
        customer = customers[n % len(customers)]
        n += 1
        started = time.perf_counter()
        get_journey(db, customer)
        stage_history(db, customer)
        reads.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        recompute_customers(db, model, [customer], now=now_epoch())
        writes.append((time.perf_counter() - started) * 1000)
        time.sleep(PAUSE_S)
    db.conn.close()
    print(json.dumps({"reads": _summary(reads), "writes": _summary(writes)}), flush=True)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {
        "count": len(values),
        "p50": round(ordered[len(ordered) // 2], 2),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max": round(ordered[-1], 2),
    }


if __name__ == "__main__":
    main()
