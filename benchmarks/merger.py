"""The worker's merge job alone, in its own process, for benchmarks.run's sustained ingest.

`python -m benchmarks.merger CONFIG` runs `plugin.background.jobs.scheduled_merge` every
`plugin.background.scheduler.MERGE_SECONDS`, as `journeydesk worker` does (without its syncs and
recomputes), until it is terminated. The configuration's secrets come from the
environment (benchmarks.apps.ENV).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from benchmarks.apps import bench_config
from plugin.background.jobs import scheduled_merge
from plugin.background.scheduler import MERGE_SECONDS


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    config = bench_config(Path(args[0]))
    # Terminated mid-merge, the chunk's transaction rolls back: its events stay waiting.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        scheduled_merge(config)
        time.sleep(MERGE_SECONDS)


if __name__ == "__main__":
    main()
