"""A sync run from the command line, with a progress display and a one-line summary."""

from __future__ import annotations

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from plugin.background.jobs import run_source_sync
from plugin.config import Config
from plugin.intake.sync import SyncReport


def sync_with_progress(config: Config, source: str, *, full: bool = False) -> SyncReport:
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        tasks: dict[str, int] = {}

        def advance(stream: str, count: int) -> None:
            if stream not in tasks:
                tasks[stream] = progress.add_task(f"{source} {stream}", total=None)
            progress.advance(tasks[stream], count)

        return run_source_sync(config, source, full=full, progress=advance)


def describe_sync(report: SyncReport) -> str:
    parts = [f"{stream}: {count:,}" for stream, count in report.written.items()]
    text = f"{report.source}: synced ({', '.join(parts) or 'nothing new'})"
    if report.rejected:
        text += f"; {len(report.rejected)} record(s) rejected, first: {report.rejected[0]}"
    for notice in report.notices:
        text += f"\n  note: {notice}"
    return text
