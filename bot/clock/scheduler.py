"""The clock process: a thin APScheduler 3.x BlockingScheduler with an in-memory job store.

Every few minutes a tick runs every job once as of now, then delivers the outbox through the
front end it is given (bot/messaging/delivery.py's loop); between ticks the outbox is delivered
every half minute so a platform's Retry-After is honoured promptly. Nothing
is kept in the job store that matters: what is due and what was sent live in the database.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.bootstrap import Database
from bot.clock.context import ClockContext, TickReport
from bot.clock.jobs import run_jobs
from bot.clock.lock import ClockLock, clock_lock, wait_for
from bot.config.clock import ClockConfig
from bot.identity import Directory
from bot.liveness import Liveness
from bot.messaging.delivery import Delivery, DeliveryReport
from bot.messaging.frontend import FrontEnd
from bot.settings import Settings
from bot.working_hours import WorkingHours
from storage import outbox

log = logging.getLogger(__name__)


def working_hours(settings: Settings, config: ClockConfig) -> WorkingHours:
    return WorkingHours(settings.zone, config.workday_start, config.workday_end)


@dataclass
class TickOutcome:
    jobs: TickReport
    delivery: DeliveryReport | None
    waiting: int


def tick(
    database: Database,
    settings: Settings,
    config: ClockConfig,
    *,
    now: Callable[[], datetime],
    owner: str | None = None,
    front_end: FrontEnd | None = None,
    directory: Directory | None = None,
) -> TickOutcome:
    """Every job once as of ``now()``, looking practitioners given by e-mail up in
    ``directory``, then delivery through ``front_end`` if there is one; claims name ``owner``
    (this process, in the process table) when given."""
    context = ClockContext(
        new_session=database.new_session,
        config=config,
        hours=working_hours(settings, config),
        now=now(),
        directory=directory,
        retention=settings.retention,
        report_small_number=settings.report_small_number,
    )
    jobs = run_jobs(context)
    if jobs.total:
        log.info("clock decided %s prompt(s): %s", jobs.total, jobs.decided)
    delivery = None
    if front_end is not None:
        delivery = Delivery(database.new_session, front_end, now=now, owner=owner).deliver_all()
    with database.new_session() as session:
        waiting = outbox.pending_count(session=session)
    return TickOutcome(jobs, delivery, waiting)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ClockProcess:
    """`reflect clock`: wait for the lock, then tick on a schedule until stopped."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        config: ClockConfig,
        front_end: FrontEnd | None = None,
        directory: Directory | None = None,
    ) -> None:
        self.database = database
        self.front_end = front_end
        self.directory = directory
        self.settings = settings
        self.config = config
        self.lock: ClockLock = clock_lock(database.engine, settings.database_url)
        # In the process table while it holds the lock: a clock killed mid-send has what it
        # was sending checked and sent by the next one at once, not when the claim runs out.
        self.liveness = Liveness(database.new_session, now=utcnow)
        self.stopping = threading.Event()
        self.scheduler = BlockingScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(2)},
            timezone=settings.zone,
        )

    def run(self) -> int:
        self._handle_signals()
        if not wait_for(
            self.lock, retry_seconds=self.config.lock_retry_seconds, stop=self.stopping
        ):
            return 0
        log.info(
            "this clock holds the lock; deciding every %s minutes in %s",
            self.config.every_minutes,
            self.settings.timezone,
        )
        self.scheduler.add_job(
            self._tick,
            CronTrigger(minute=f"*/{self.config.every_minutes}", timezone=self.settings.zone),
            id="tick",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(self.settings.zone),
        )
        if self.front_end is not None:
            self.scheduler.add_job(
                self._deliver,
                IntervalTrigger(seconds=self.config.deliver_every_seconds),
                id="deliver",
                max_instances=1,
                coalesce=True,
            )
        else:
            log.warning("no front end is configured: prompts are recorded but not sent")
        self.liveness.start()
        try:
            self.scheduler.start()
        finally:
            self.liveness.stop()
            self.lock.release()
        return 0

    def stop(self) -> None:
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _handle_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.warning("clock stopping (signal %s)", signum)
            self.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _holding(self) -> bool:
        if self.lock.is_held():
            return True
        log.error("this clock lost its lock (database connection dropped); waiting to retake it")
        return wait_for(self.lock, retry_seconds=self.config.lock_retry_seconds, stop=self.stopping)

    def _tick(self) -> None:
        if not self._holding():
            return
        try:
            outcome = tick(
                self.database,
                self.settings,
                self.config,
                now=utcnow,
                owner=self.liveness.id,
                front_end=self.front_end,
                directory=self.directory,
            )
            if outcome.delivery and (outcome.delivery.retrying or outcome.delivery.failed):
                log.warning(
                    "delivery: %s sent, %s waiting to retry, %s failed",
                    outcome.delivery.sent,
                    outcome.delivery.retrying,
                    outcome.delivery.failed,
                )
        except Exception as exc:  # the database is down: log, and the next tick tries again
            log.error("clock tick failed (%s); trying again next tick", type(exc).__name__)
            log.debug("clock tick failure", exc_info=exc)

    def _deliver(self) -> None:
        if self.front_end is None or not self._holding():
            return
        try:
            Delivery(
                self.database.new_session, self.front_end, now=utcnow, owner=self.liveness.id
            ).deliver_all()
        except Exception as exc:
            log.error("delivery failed (%s); trying again shortly", type(exc).__name__)
