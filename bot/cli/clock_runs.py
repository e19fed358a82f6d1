"""Running the clock for `reflect clock`: for good, or every job once. Imported only when the
clock runs, as it brings the scheduler."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.bootstrap import Database
from bot.cli.output import print_template
from bot.clock.lock import clock_lock, wait_for
from bot.clock.scheduler import ClockProcess, tick
from bot.config.clock import ClockConfig
from bot.identity import Directory
from bot.messaging.frontend import FrontEnd
from bot.settings import Settings


def parse_local_time(text: str, zone: ZoneInfo) -> datetime | None:
    """``2026-12-07T09:30`` as a local time in ``zone``, in UTC."""
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if local.tzinfo is not None:
        return None
    return local.replace(tzinfo=zone).astimezone(UTC)


def run_once(
    database: Database,
    settings: Settings,
    config: ClockConfig,
    *,
    at: datetime | None,
    wait: float,
    front_end: FrontEnd | None = None,
    directory: Directory | None = None,
) -> int:
    lock = clock_lock(database.engine, settings.database_url)
    if not wait_for(
        lock, retry_seconds=min(config.lock_retry_seconds, max(wait, 0.01)), timeout=wait
    ):
        print_template("clock_busy", stream=sys.stderr, seconds=int(wait))
        return 3
    try:
        base = at or datetime.now(UTC)
        started = time.monotonic()

        # As of --at, moving on with real time so delivery's retry delays still make sense.
        def now() -> datetime:
            return base + timedelta(seconds=time.monotonic() - started)

        outcome = tick(
            database, settings, config, now=now, front_end=front_end, directory=directory
        )
    finally:
        lock.release()
    print_template(
        "clock_once",
        at=base.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M"),
        zone=settings.timezone,
        decided=outcome.jobs.decided,
        total=outcome.jobs.total,
        failed_jobs=outcome.jobs.failed_jobs,
        delivery=outcome.delivery,
        waiting=outcome.waiting,
    )
    return 1 if outcome.jobs.failed_jobs else 0


def run_forever(
    database: Database,
    settings: Settings,
    config: ClockConfig,
    front_end: FrontEnd | None = None,
    directory: Directory | None = None,
) -> int:
    return ClockProcess(database, settings, config, front_end, directory).run()
