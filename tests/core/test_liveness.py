"""The process table: a dead process is recognised (gone, a zombie, a reused pid, or unseen for
long) and its claims fall due at once; a live one on another host is left alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.liveness import STALE_AFTER, Liveness, pid_alive, pid_started
from storage import db, inbox
from storage.db import transaction
from storage.models import InboxItem, OutboxMessage, Process

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_live_process_a_dead_one_a_zombie_and_a_reused_pid() -> None:
    me = os.getpid()
    assert pid_alive(me, pid_started(me))
    assert not pid_alive(me, "1")  # our pid, but started at another time: not that process
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert pid_alive(child.pid, pid_started(child.pid))
        child.send_signal(signal.SIGKILL)
        # Killed, not yet collected: a zombie. The kernel takes a moment under load, so wait
        # for the state rather than for a number of reads.
        deadline = time.monotonic() + 10
        while _state(child.pid) != "Z":
            assert time.monotonic() < deadline, "the killed child never became a zombie"
            time.sleep(0.005)
        assert not pid_alive(child.pid, None)
    finally:
        child.wait()
    assert not pid_alive(child.pid, None)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[-1].split()[0]


def _process(pid: int, *, host: str, seen: datetime, name: str) -> Process:
    return Process(id=name, host=host, pid=pid, started_at=seen, seen_at=seen)


def test_a_dead_processs_claims_fall_due_at_once(new_session: db.SessionFactory) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    here = socket.gethostname()
    with transaction(new_session) as session:
        session.add(_process(finished.pid, host=here, seen=NOW, name="dead-here"))
        session.add(_process(1, host="elsewhere", seen=NOW, name="alive-elsewhere"))
        session.add(
            _process(1, host="elsewhere", seen=NOW - STALE_AFTER * 2, name="silent-elsewhere")
        )
        for owner in ("dead-here", "alive-elsewhere", "silent-elsewhere"):
            inbox.add(
                session=session,
                kind="answer",
                user_id=f"U0{owner.upper()[:8]}",
                payload={"text": "kept"},
                now=NOW,
                claimed_until=NOW + timedelta(seconds=60),
                owner=owner,
            )
            session.add(
                OutboxMessage(
                    dedupe_key=f"msg:{owner}",
                    surface="conversation",
                    recipient="U0TESTPRAC",
                    payload={},
                    status="sending",
                    attempts=1,
                    next_attempt_at=NOW + timedelta(seconds=60),
                    created_at=NOW,
                    owner=owner,
                )
            )
    took_over: list[bool] = []
    liveness = Liveness(new_session, now=lambda: NOW, on_takeover=lambda: took_over.append(True))
    liveness.start()
    try:
        with new_session() as session:
            left = {p.id for p in session.exec(select(Process))}
            items = list(session.exec(select(InboxItem)))
            messages = {m.dedupe_key: m for m in session.exec(select(OutboxMessage))}
    finally:
        liveness.stop()
    assert left == {"alive-elsewhere", liveness.id}
    assert took_over == [True]
    [still_held] = [i for i in items if i.owner is not None]
    assert still_held.owner == "alive-elsewhere" and still_held.claimed_until > NOW
    due = [i for i in items if i.owner is None]
    assert len(due) == 2 and all(i.claimed_until == NOW for i in due)
    assert messages["msg:alive-elsewhere"].status == "sending"
    for owner in ("dead-here", "silent-elsewhere"):
        message = messages[f"msg:{owner}"]
        assert (message.status, message.uncertain, message.owner) == ("pending", True, None)
    with new_session() as session:  # a clean stop leaves the table
        assert liveness.id not in {p.id for p in session.exec(select(Process))}
