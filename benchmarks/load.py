"""A small HTTP load generator: N keep-alive connections on 127.0.0.1, bounded in time
and in count.

Each connection is a thread with its own `http.client.HTTPConnection` (reconnecting by
itself when the server closes, as gunicorn's sync workers do after each response) that
sends its share of the requests back to back. Latency is measured per request, from
sending to the last byte of the answer.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Request = tuple[str, str, bytes | None, dict[str, str]]
"""(method, path, body, headers)"""


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0


def run_load(
    port: int,
    requests: Sequence[Request],
    *,
    connections: int = 16,
    seconds: float = 20.0,
    max_requests: int = 200_000,
    ok: Callable[[int], bool] = lambda status: status == 200,
) -> LoadResult:
    """Send `requests` in order, cycling, from `connections` threads until time or count runs
    out. The threads share one position, so with `max_requests=len(requests)` each request
    is sent exactly once however the connections' speeds differ (an ingest batch sent twice
    would be counted, and cheaper, as duplicates)."""
    result = LoadResult()
    lock = threading.Lock()
    sent_so_far = {"n": 0}
    start = time.perf_counter()
    deadline = start + seconds

    def take() -> int | None:
        """The index of the next request to send, or None when the count is used up."""
        with lock:
            n = sent_so_far["n"]
            if n >= max_requests:
                return None
            sent_so_far["n"] = n + 1
            return n

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, statuses, errors, first_error = [], {}, 0, ""
        while time.perf_counter() < deadline and (n := take()) is not None:
            method, path, body, headers = requests[n % len(requests)]
            sent = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                conn.close()
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if not ok(response.status):
                errors += 1
                first_error = first_error or f"HTTP {response.status} on {path}"
        conn.close()
        with lock:
            result.latencies.extend(latencies)
            result.errors += errors
            result.first_error = result.first_error or first_error
            for status, n in statuses.items():
                result.statuses[status] = result.statuses.get(status, 0) + n

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - start
    result.requests = len(result.latencies)
    return result


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`, which need not be sorted."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
