"""The backlog alarm: an answer waiting too long to be handled, or a message too long to be sent.

Apart from liveness (/healthz: can this process serve?): a stuck answer is the same on every
process, and restarting a process does not move it. So it is shown at /healthz/backlog, naming
what waits, and logged in one line when it trips and one when it clears, never in /healthz.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.reflection.service import utcnow
from storage import health
from storage.db import SessionFactory
from storage.health import Oldest

log = logging.getLogger(__name__)

# How often each web process looks, to log when the alarm trips or clears.
LOOK_EVERY = 5.0


@dataclass(frozen=True)
class Waiting:
    """The oldest of one kind of work, and whether it has waited too long."""

    kind: str  # "answer" or "message"
    oldest: Oldest | None
    seconds: float
    limit: float
    held_by: str | None  # "this process", "another process", or None: due, nobody holds it

    @property
    def too_long(self) -> bool:
        return self.oldest is not None and self.seconds > self.limit

    def line(self) -> str:
        assert self.oldest is not None
        what = (
            f"unhandled answer (inbox item {self.oldest.id})"
            if self.kind == "answer"
            else f"unsent message (outbox message {self.oldest.id})"
        )
        held = f"held by {self.held_by}" if self.held_by else "held by no process"
        error = f", last error {self.oldest.last_error}" if self.oldest.last_error else ""
        return (
            f"oldest {what} waiting {self.seconds:.0f} s (over {self.limit:g} s), {held}, "
            f"{self.oldest.tries} tr{'y' if self.oldest.tries == 1 else 'ies'}{error}"
        )

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"limit_seconds": self.limit, "too_long": self.too_long}
        if self.oldest is None:
            return {**shown, "oldest": None}
        return {
            **shown,
            "oldest": {
                "id": self.oldest.id,
                "waiting_seconds": round(self.seconds),
                "held_by": self.held_by,
                "tries": self.oldest.tries,
                "last_error": self.oldest.last_error,
            },
        }


class Backlog:
    """Looks at the oldest waiting answer and message; ``owner``: this process's id, to say
    whether a claim is this process's or another's."""

    def __init__(
        self,
        new_session: SessionFactory,
        *,
        answer_seconds: float,
        message_seconds: float,
        owner: str | None = None,
        now: Callable[[], datetime] = utcnow,
        every: float = LOOK_EVERY,
    ) -> None:
        self.new_session = new_session
        self.answer_seconds = answer_seconds
        self.message_seconds = message_seconds
        self.owner = owner
        self.now = now
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tripped: tuple[str, ...] = ()

    def look(self) -> list[Waiting]:
        now = self.now()
        with self.new_session() as session:
            answer = health.oldest_waiting_answer(session)
            message = health.oldest_unsent_message(session)
        return [
            self._waiting("answer", answer, self.answer_seconds, now),
            self._waiting("message", message, self.message_seconds, now),
        ]

    def _waiting(self, kind: str, oldest: Oldest | None, limit: float, now: datetime) -> Waiting:
        if oldest is None:
            return Waiting(kind, None, 0.0, limit, None)
        held_by = None
        if oldest.owner is not None and oldest.held_until > now:
            held_by = "this process" if oldest.owner == self.owner else "another process"
        return Waiting(kind, oldest, (now - oldest.since).total_seconds(), limit, held_by)

    def report(self) -> tuple[bool, dict[str, Any]]:
        """Whether something waits too long, and what waits, for /healthz/backlog."""
        waiting = self.look()
        problems = [w.line() for w in waiting if w.too_long]
        body: dict[str, Any] = {"ok": not problems, "problems": problems}
        for w in waiting:
            body[f"{w.kind}s"] = w.as_json()
        return not problems, body

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reflect-backlog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            try:
                self.check()
            except Exception as exc:  # the database is away: /healthz says so, not this
                log.debug("could not look at the backlog: %s", type(exc).__name__)
            if self._stop.wait(self.every):
                return

    def check(self) -> None:
        """Log one line when the alarm trips (or what trips it changes), one when it clears."""
        late = [w for w in self.look() if w.too_long]
        tripped = tuple(f"{w.kind} {w.oldest.id}" for w in late if w.oldest is not None)
        if tripped and tripped != self._tripped:
            log.error(
                "backlog: %s; see GET /healthz/backlog and docs/operations.md",
                "; ".join(w.line() for w in late),
            )
        elif self._tripped and not tripped:
            log.warning("backlog: nothing waits too long any more")
        self._tripped = tripped
