"""A process's work beside its requests, whatever front ends it runs: the inbox's handlers, the
delivery loop's senders, the process table, the backlog alarm, and the health checks that
/healthz runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.backlog import Backlog
from bot.liveness import Liveness
from bot.messaging.delivery import INTERVAL as RETRY_INTERVAL
from bot.messaging.delivery import Delivery
from bot.messaging.frontend import FrontEnd
from bot.messaging.inbox import Inbox
from bot.reflection.service import utcnow
from bot.startup import StartUp
from storage.db import SessionFactory

# Threads per process sending what requests and handlers record; each person's messages stay in
# order. A real platform takes 100 ms or more over each message, and a sender waits that long,
# so enough of them to keep a team's next questions moving (see docs/performance.md).
DEFAULT_SENDERS = 16
DEFAULT_HANDLERS = 2

HealthCheck = Callable[[], str | None]
# /healthz answers within this, however the database behaves.
HEALTH_BUDGET_SECONDS = 0.8
# Far longer than any database or Web API timeout lets one answer's handling take.
STUCK_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class About:
    """A health check and what it waits on, named in the 503 when it does not finish."""

    subject: str
    check: HealthCheck

    def __call__(self) -> str | None:
        return self.check()


class HealthChecks:
    """Runs the checks in order on a thread of its own, one run at a time, and reports the
    first problem; a run still going after ``budget`` seconds is a problem too (a database
    that does not answer). A caller arriving during a run waits for that run, so a stuck
    database never gathers more than one waiting thread."""

    def __init__(self, checks: Sequence[HealthCheck], budget: float = HEALTH_BUDGET_SECONDS):
        self.checks = list(checks)
        self.budget = budget
        self._lock = threading.Lock()
        self._run: _HealthRun | None = None

    def problem(self) -> str | None:
        with self._lock:
            if self._run is None or self._run.done.is_set():
                self._run = _HealthRun(self.checks)
            run = self._run
        if not run.done.wait(self.budget):
            return f"{run.waiting_on} did not answer within {self.budget:g} s"
        return run.problem


class _HealthRun:
    def __init__(self, checks: Sequence[HealthCheck]) -> None:
        self.done = threading.Event()
        self.problem: str | None = None
        self.waiting_on = "the health check"
        threading.Thread(
            target=self._go, args=(checks,), name="reflect-health", daemon=True
        ).start()

    def _go(self, checks: Sequence[HealthCheck]) -> None:
        try:
            for check in checks:
                self.waiting_on = getattr(check, "subject", "the health check")
                self.problem = check()
                if self.problem:
                    return
        except Exception as error:  # a check that fails is a problem, never a 500
            self.problem = f"health check failed ({type(error).__name__})"
        finally:
            self.done.set()


def handling_stuck_check(inbox: Inbox, stuck_after: float = STUCK_AFTER_SECONDS) -> HealthCheck:
    """A problem when this process has been handling one answer for longer than any of its
    timeouts allows: a handler thread is stuck, and the answers behind it wait."""

    def check() -> str | None:
        longest = inbox.longest_in_hand()
        if longest <= stuck_after:
            return None
        return f"answer handling stuck for {longest:.0f} s (over {stuck_after:g} s)"

    return About("answer handling", check)


@dataclass
class Background:
    """A process's work after the platform's acknowledgement: the inbox handles what requests
    stored, and the delivery loop sends what handling recorded and retries what could not go
    out. Started by its StartUp once the database answers (see start_after)."""

    inbox: Inbox
    delivery: Delivery
    liveness: Liveness
    backlog: Backlog | None = None
    startup: StartUp | None = None

    @classmethod
    def make(
        cls,
        new_session: SessionFactory,
        front_end: FrontEnd,
        *,
        senders: int = DEFAULT_SENDERS,
        handlers: int = DEFAULT_HANDLERS,
        pace: Callable[[], None] = lambda: None,
        retry_interval: float = RETRY_INTERVAL,
    ) -> Background:
        liveness = Liveness(new_session, now=utcnow)
        # What the handlers record goes to the delivery's senders: a handler waiting for
        # Slack's answer (tens to hundreds of milliseconds from a real server) would hold up
        # everyone's next question behind it.
        delivery = Delivery(
            new_session,
            front_end,
            senders=senders,
            pace=pace,
            interval=retry_interval,
            owner=liveness.id,
        )
        inbox = Inbox(new_session, threads=handlers, pace=pace, owner=liveness.id)

        def take_over() -> None:  # a dead process's claims have just fallen due
            inbox.recover()
            delivery.wake()

        liveness.on_takeover = take_over
        return cls(inbox, delivery, liveness)

    def start(self) -> None:
        """Join the process table (taking over from any predecessor that died), then work."""
        self.delivery.start()
        self.inbox.start()
        self.liveness.start()
        if self.backlog is not None:
            self.backlog.start()

    def start_after(self, ready: Callable[[], None], *, sqlite_path: Path | None = None) -> StartUp:
        """Start in the background once ``ready`` succeeds, trying it again until it does."""
        self.startup = StartUp(ready, self.start, sqlite_path=sqlite_path)
        self.startup.start()
        return self.startup

    def starting(self) -> str | None:
        """What start-up still waits for; None once the work has started."""
        return None if self.startup is None else self.startup.problem()

    def problem(self) -> str | None:
        """Why this process cannot do its work: still starting, or a worker thread ended."""
        starting = self.starting()
        if starting is not None:
            return starting
        workers = {
            "delivery": self.delivery.running,
            "answer handling": self.inbox.running,
            "the process table": self.liveness.running,
        }
        stopped = [name for name, running in workers.items() if not running]
        return f"{', '.join(stopped)} stopped" if stopped else None

    def stop(self) -> None:
        """Finish what is in hand, then leave the process table, releasing any claims left."""
        if self.startup is not None:
            self.startup.stop()
        if self.backlog is not None:
            self.backlog.stop()
        self.inbox.stop()
        self.delivery.stop()
        self.liveness.stop()
