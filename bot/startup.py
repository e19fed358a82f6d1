"""A web process's start-up work, done in the background, so that the process starts whatever
state the database is in (unreachable, locked, read-only) and serves as soon as it can.

Until the work is done ``problem()`` names what it is waiting for (/healthz says 503 with it, and
Slack's requests get 503, which Slack retries). Each try is bounded by the connection's limits
(storage/db.py); the waits between tries grow from FIRST_WAIT to LONGEST_WAIT. A fault is
logged in one plain line when it is first met (storage/health.py logs the database's), and
another line says when the process started after all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bot.settings import SettingsError
from storage import health
from storage.encryption import EncryptionKeyError

log = logging.getLogger(__name__)

FIRST_WAIT = 0.25
LONGEST_WAIT = 2.0
STARTING = "starting"


class StartUp:
    """Runs ``prepare`` until it succeeds, then ``then`` once (starting the process's work)."""

    def __init__(
        self,
        prepare: Callable[[], None],
        then: Callable[[], None],
        *,
        sqlite_path: Path | None = None,
        first_wait: float = FIRST_WAIT,
        longest_wait: float = LONGEST_WAIT,
    ) -> None:
        self.prepare = prepare
        self.then = then
        self.sqlite_path = sqlite_path
        self.first_wait = first_wait
        self.longest_wait = longest_wait
        self._waiting_for = STARTING
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def problem(self) -> str | None:
        """None once started; else what start-up is waiting for, in a few plain words."""
        if self._done.is_set():
            return None
        if self._waiting_for == STARTING:
            return STARTING
        return f"{self._waiting_for} (starting)"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reflect-startup", daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        started = time.monotonic()
        wait = self.first_wait
        said: set[str] = set()
        while not self._stop.is_set():
            try:
                self.prepare()
            except Exception as error:  # anything at all: never a traceback, always a retry
                self._waiting_for, line = self._explain(error)
                line = line or f"not serving yet: {self._waiting_for}"
                if line not in said:
                    said.add(line)
                    log.error("%s; trying again every %g s at most", line, self.longest_wait)
                if self._stop.wait(wait):
                    return
                wait = min(wait * 2, self.longest_wait)
                continue
            self.then()
            self._done.set()
            if said:
                log.warning(
                    "serving: started %.1f s after the first try", time.monotonic() - started
                )
            return

    def _explain(self, error: Exception) -> tuple[str, str | None]:
        """The short reason for /healthz, and what to log (None: the reason will do, as
        storage.health logs the database's faults in full)."""
        diagnosis = health.note(error, self.sqlite_path, log=True)
        if diagnosis is not None:
            return diagnosis.reason, None
        if isinstance(error, SettingsError):
            return "database schema not up to date", f"not serving yet: {error}"
        if isinstance(error, EncryptionKeyError):
            return "encryption key cannot read what is stored", f"not serving yet: {error}"
        name = type(error).__name__
        return f"start-up failed ({name})", f"not serving yet: start-up failed ({name})"
