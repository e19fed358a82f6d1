"""The delivery worker: a thread that sends the outbox, woken as soon as a request records
messages and polling every couple of seconds for retries that fall due."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from slack_sdk.web import WebClient

from bot.delivery import deliver_due
from bot.reflection.service import utcnow
from storage.db import SessionFactory

log = logging.getLogger(__name__)
# How often the worker looks for messages due a retry when nothing wakes it sooner.
INTERVAL = 1.5


class DeliveryWorker:
    def __init__(
        self,
        new_session: SessionFactory,
        client: WebClient,
        *,
        now: Callable[[], datetime] = utcnow,
        interval: float = INTERVAL,
        owner: str | None = None,
    ) -> None:
        """``owner``: this process's id in the process table, recorded on its claims."""
        self.new_session = new_session
        self.client = client
        self.now = now
        self.interval = interval
        self.owner = owner
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="reflect-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before sending, so a wake during this pass means another pass
            try:
                report = deliver_due(self.new_session, self.client, now=self.now, owner=self.owner)
            except Exception as exc:  # the database is down: try again next time round
                log.warning("delivery pass failed: %s", type(exc).__name__)
            else:
                if report.sent:
                    continue  # what was just sent may have unblocked later messages
            self._wake.wait(self.interval)
