"""Two `reflect serve` processes, one stopped (SIGSTOP) past its claims again and again: does
anything arrive twice, or out of order?

    python -m benchmarks.stalled_send                      # SQLite, 12 stops
    python -m benchmarks.stalled_send --database postgresql://postgres@127.0.0.1:5432/test

Each trial records messages for four new people (two of them several posts long, as "Show the
answers" is) and stops one process for ``--stop`` seconds, longer than the process table takes
to find it stalled (15 s), so the other takes its claims over. Odd trials stop it at a random
moment just after recording; even ones stop, deterministically, the process that has claimed
an uncertain message and is looking for it (between its claim and its send). Prints, per trial
and in all: duplicates, parts out of order, and how long after the stop everything was sent.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import update
from sqlmodel import select

from bot.bootstrap import open_database
from bot.messaging import outbox as recording
from bot.messaging.message import Message, Part
from bot.reflection.service import utcnow
from bot.settings import Settings
from bot.slack.frontend import STAMP
from storage.db import SessionFactory, transaction
from storage.encryption import generate_key
from storage.models import OutboxMessage, Process
from tools.fake_slack import FakeSlack

REPO = Path(__file__).resolve().parents[1]


def long_message(n: int) -> Message:
    parts = [Part("slack/history_header", {"case_ref": f"CSC-{n}", "count": 4, "shown": 4})]
    parts += [
        Part("slack/close_refused", {"found": False, "case_ref": f"CSC-{n} " * 400}, apart=True)
        for _ in range(4)
    ]
    return Message(tuple(parts))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )
    wait_for(lambda: healthy(port), 30)
    return process


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return int(answer.status) == 200
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def record(new_session: SessionFactory, trial: int) -> list[str]:
    people = [f"U0STOP{trial:02d}{n}" for n in range(4)]
    with transaction(new_session) as session:
        for n, person in enumerate(people):
            message = long_message(n) if n < 2 else Message.of("slack/stale_button")
            recording.record(
                session, key=f"stop:{trial}:{n}", recipient=person, message=message, now=utcnow()
            )
        if trial % 2 == 0:  # the first one's send before had an unknown outcome
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.dedupe_key == f"stop:{trial}:0")  # type: ignore[arg-type]
                .values(uncertain=True)
            )
    return people


def claimer(
    new_session: SessionFactory, key: str, servers: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes] | None:
    with new_session() as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).first()
        if row is None or row.status != "sending" or row.owner is None:
            return None
        process = session.get(Process, row.owner)
    if process is None:
        return None
    return next((s for s in servers if os.getpgid(process.pid) == s.pid), None)


def all_sent(new_session: SessionFactory) -> bool:
    with new_session() as session:
        return all(m.status == "sent" for m in session.exec(select(OutboxMessage)))


def judged(fake: FakeSlack, people: list[str]) -> tuple[int, int]:
    duplicates = out_of_order = 0
    for person in people:
        stamps = [
            (m["metadata"]["event_payload"]["outbox_id"], m["metadata"]["event_payload"]["part"])
            for m in fake.held(person)
            if m.get("metadata", {}).get("event_type") == STAMP
        ]
        duplicates += len(stamps) - len(set(stamps))
        firsts = list(dict.fromkeys(stamps))
        out_of_order += sum(1 for a, b in itertools.pairwise(firsts) if b < a)
    return duplicates, out_of_order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stalled_send")
    parser.add_argument("--database", help="DATABASE_URL (default: a new SQLite file)")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--stop", type=float, default=17.0, help="seconds each stop lasts")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="stalled-send-"))
    url = args.database or f"sqlite:///{folder / 'reflect.db'}"
    key = generate_key()
    database = open_database(Settings(database_url=url, encryption_keys=(key,)))
    new_session = database.new_session
    fake = FakeSlack().start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REFLECT_"))},
        "DATABASE_URL": url,
        "REFLECT_ENCRYPTION_KEY": key,
        "SLACK_BOT_TOKEN": "xoxb-benchmark",
        "SLACK_SIGNING_SECRET": "benchmark-secret",
        "SLACK_API_URL": fake.url,
        "REFLECT_THREADS": "4",
        "HOME": str(folder),
    }
    servers = [serve(env, folder / f"serve-{n}.log") for n in range(2)]
    rng = random.Random(22)
    totals = [0, 0]
    slowest = 0.0
    try:
        for trial in range(args.trials):
            if trial % 2 == 0:
                fake.slow_history(1, 2.0)
            people = record(new_session, trial)
            target: subprocess.Popen[bytes] | None
            if trial % 2 == 0:
                target = None
                deadline = time.monotonic() + 10
                while target is None and time.monotonic() < deadline:
                    target = claimer(new_session, f"stop:{trial}:0", servers)
                    time.sleep(0.01)
                target = target or rng.choice(servers)
            else:
                time.sleep(rng.uniform(0, 0.2))
                target = rng.choice(servers)
            os.killpg(target.pid, signal.SIGSTOP)
            stopped = time.monotonic()
            # Polled while the process is stopped: the other one should have sent it all.
            wait_for(lambda: all_sent(new_session), args.stop)
            settled = time.monotonic() - stopped
            time.sleep(max(0.0, stopped + args.stop - time.monotonic()))
            os.killpg(target.pid, signal.SIGCONT)
            if not all_sent(new_session):
                wait_for(lambda: all_sent(new_session), 60)
                settled = time.monotonic() - stopped
            time.sleep(3)  # anything the resumed process would still send
            duplicates, out_of_order = judged(fake, people)
            totals[0] += duplicates
            totals[1] += out_of_order
            slowest = max(slowest, settled)
            kind = "between claim and send" if trial % 2 == 0 else "at random"
            print(
                f"trial {trial + 1:2d} ({kind}): duplicates {duplicates}, out of order "
                f"{out_of_order}, all sent {settled:.1f} s after the stop",
                flush=True,
            )
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGCONT)
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(15)
        fake.stop()
        database.engine.dispose()
    print(
        f"{args.trials} stops of {args.stop:g} s: duplicates {totals[0]}, parts out of order "
        f"{totals[1]}, slowest until all sent {slowest:.1f} s after a stop"
    )
    return 0 if totals == [0, 0] else 1


if __name__ == "__main__":
    raise SystemExit(main())
