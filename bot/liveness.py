"""This process in the process table: registered at start, seen every few seconds, removed at a
clean stop. Each look also finds processes that died without stopping (``kill -9``, a crash, a
lost machine) and takes over their claims, so their work resumes at once rather than when a
lease runs out.

A process is dead when its row says it ran on this host and its pid is gone (or now belongs to
another process), or when it has not been seen for ``STALE_AFTER``, whatever the host.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from storage import health, processes
from storage.db import SessionFactory, transaction
from storage.models import Process

log = logging.getLogger(__name__)

SEEN_EVERY = 2.0
STALE_AFTER = timedelta(seconds=15)


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (Linux): state first, start time 20th;
    empty where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # The command name (field 2) may hold spaces; fields after its closing bracket are fixed.
    return stat.rsplit(")", 1)[-1].split()


def pid_started(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), or None where that cannot be read."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process has that pid: not provably ours, not provably dead
    fields = _stat_fields(pid)
    if fields and fields[0] in {"Z", "X"}:
        return False  # killed, and waiting only for its parent to collect it
    return started is None or pid_started(pid) in (None, started)


class Liveness:
    def __init__(
        self,
        new_session: SessionFactory,
        *,
        now: Callable[[], datetime],
        on_takeover: Callable[[], None] = lambda: None,
        seen_every: float = SEEN_EVERY,
    ) -> None:
        self.new_session = new_session
        self.now = now
        self.on_takeover = on_takeover
        self.seen_every = seen_every
        self.id = uuid.uuid4().hex
        self.host = socket.gethostname()[:255]
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._registered = False
        self._failing: str | None = None
        self._doing = ""

    def start(self) -> None:
        """Register and take over from the dead now, then keep looking in the background. A
        database that is away, or a dead process's row held by a session elsewhere, fails the
        look within the connection's limits; it is logged and tried again, never raised."""
        self._look_once()
        self._thread = threading.Thread(target=self._run, name="reflect-liveness", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def look(self) -> int:
        """Say this process is alive; forget the dead and take over their claims. Returns how
        many dead processes were found.

        Two transactions: being seen does not wait on a dead process's rows, which a session
        left open elsewhere may hold (the takeover then fails within lock_timeout, and the
        next look tries again)."""
        now = self.now()
        self._doing = "record that this process is alive"
        with transaction(self.new_session) as session:
            if not processes.seen(session=session, process_id=self.id, now=now):
                if self._registered:
                    # Taken for dead (not seen for a long while: a stalled machine). Our
                    # claims were taken over; register again so later claims are ours.
                    log.warning("this process was taken for dead; registering again")
                processes.register(session=session, process=self._row(now))
        self._registered = True
        with self.new_session() as session:
            dead = [p.id for p in processes.all_processes(session=session) if self._is_dead(p, now)]
        failed: Exception | None = None
        taken = 0
        self._doing = f"take over the work of {len(dead)} stopped process(es)"
        for process_id in dead:  # one at a time: one held row holds up only its own process
            try:
                with transaction(self.new_session) as session:
                    processes.forget(session=session, process_ids=[process_id], now=now)
                taken += 1
            except Exception as exc:
                failed = exc
        if taken:
            log.warning("took over the work of %s stopped process(es)", taken)
            self.on_takeover()
        if failed is not None:
            raise failed
        return taken

    def _row(self, now: datetime) -> Process:
        return Process(
            id=self.id,
            host=self.host,
            pid=self.pid,
            pid_started=pid_started(self.pid),
            started_at=now,
            seen_at=now,
        )

    def _is_dead(self, process: Process, now: datetime) -> bool:
        if process.id == self.id:
            return False
        if process.seen_at < now - STALE_AFTER:
            return True
        if process.host != self.host:
            return False
        if process.pid == self.pid:
            return True  # our pid, so not that process: a restart in a fresh container
        return not pid_alive(process.pid, process.pid_started)

    def _run(self) -> None:
        while not self._stop.wait(self.seen_every):
            self._look_once()

    def _look_once(self) -> None:
        try:
            self.look()
        except Exception as exc:  # the database is away: try again next time round
            fault = health.note(exc, log=True)
            failing = fault.reason if fault else type(exc).__name__
            if failing != self._failing:
                log.warning(
                    "could not %s: %s; trying again every %g s",
                    self._doing,
                    failing,
                    self.seen_every,
                )
            self._failing = failing
            return
        if self._failing is not None:
            log.warning("this process is recorded alive again, and has looked for stopped ones")
        self._failing = None

    def stop(self) -> None:
        """Leave the table at a clean stop (after the work in hand was finished or given back)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            with transaction(self.new_session) as session:
                processes.forget(session=session, process_ids=[self.id], now=self.now())
        except Exception as exc:
            log.warning("could not leave the process table: %s", type(exc).__name__)
