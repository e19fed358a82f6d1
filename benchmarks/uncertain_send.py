"""What a send of unknown outcome costs, and how long a sent message waits to be marked sent.

    python -m benchmarks.uncertain_send                    # SQLite, loopback and 100 ms Slack
    python -m benchmarks.uncertain_send --database postgresql://postgres@127.0.0.1:5432/test
    python -m benchmarks.uncertain_send --messages 200 --slack-latency 0 250

Against the tests' fake Slack Web API (tools/fake_slack.py), taking ``--slack-latency`` ms over
each call as a far-away Slack does, prints for each latency:

- Web API calls and milliseconds per message delivered by the retry path: a normal send; an
  uncertain one that had arrived (looked for, found, not sent); one that had not (looked for,
  then sent). The difference to the normal send is the cost of looking.
- the marking of messages sent straight after commit: how long after Slack took a message it
  was marked sent (the moment in which a crash leaves it uncertain), and how many mark
  transactions, for messages sent all at once and one after another, with the marker's former
  0.1 s gathering and without it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.web import WebClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, select

from bot.messaging import outbox as recording
from bot.messaging.delivery import MARK_GATHER_SECONDS, Delivery
from bot.messaging.frontend import Stamp
from bot.messaging.message import CONVERSATION, Message
from bot.slack.frontend import SlackFrontEnd
from storage import db, outbox, processes
from storage.db import SessionFactory, transaction
from storage.encryption import generate_key, keyring
from storage.models import OutboxMessage, Process
from tools.fake_slack import FakeSlack

DEAD = "benchmarkdeadprocess000000000000"


@dataclass(frozen=True)
class PathFigures:
    name: str
    calls_per_message: float
    ms_per_message: float


@dataclass(frozen=True)
class MarkFigures:
    name: str
    window_p50_ms: float
    window_max_ms: float
    transactions: int


def now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def database(url: str | None) -> Iterator[Engine]:
    """A migrated, empty database: a temporary SQLite file, or a fresh PostgreSQL schema."""
    keyring.configure([generate_key()])
    if url is None:
        with tempfile.TemporaryDirectory() as directory:
            engine = db.make_engine(f"sqlite:///{directory}/bench.db")
            db.upgrade(engine)
            yield engine
            engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = db.make_engine(scoped.render_as_string(hide_password=False))
    try:
        db.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


def fresh(fake: FakeSlack) -> None:
    """No calls and no conversations yet; Slack's latency as it was."""
    latency = fake.call_delay
    fake.reset()
    fake.call_delay = latency


QUESTION = Message.of("notices/close_refused", found=False, case_ref="CSC-1234")


def people(count: int) -> list[str]:
    return [f"U0B{n:05d}" for n in range(count)]


def enqueue_posts(new_session: SessionFactory, count: int, owner: str | None) -> list[int]:
    """One post to each of ``count`` people; claimed by ``owner`` for a minute if given."""
    started = now()
    ids = []
    with transaction(new_session) as session:
        for user in people(count):
            message_id = outbox.enqueue(
                session=session,
                dedupe_key=f"bench:{uuid.uuid4().hex}",
                surface=CONVERSATION,
                recipient=user,
                payload=QUESTION.to_json(),
                now=started,
                claimed_until=started + timedelta(seconds=60) if owner else None,
                owner=owner,
            )
            assert message_id is not None
            ids.append(message_id)
    return ids


def strand(new_session: SessionFactory, count: int, client: WebClient, arrived: bool) -> None:
    """What a process killed mid-send leaves: posts it claimed (and, if ``arrived``, sent but
    did not mark), taken over when it is found dead."""
    with transaction(new_session) as session:
        processes.register(
            session=session,
            process=Process(id=DEAD, host="elsewhere", pid=1, started_at=now(), seen_at=now()),
        )
    ids = enqueue_posts(new_session, count, owner=DEAD)
    if arrived:
        front_end = SlackFrontEnd(client)
        with new_session() as session:
            rows = session.exec(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))  # type: ignore[union-attr]
            for row in rows:
                said = Message.from_json(row.payload)
                [post] = front_end.render(row.surface, row.recipient, said)
                assert front_end.send(post, stamp=Stamp(row.id or 0)).ok
    with transaction(new_session) as session:
        processes.forget(session=session, process_ids=[DEAD], now=now())


def delivery_path(
    engine: Engine, fake: FakeSlack, count: int, name: str, prepare: Callable[[], None]
) -> PathFigures:
    new_session = db.session_factory(engine)
    empty(engine)
    fresh(fake)
    prepare()
    calls_before = len(fake.calls)
    client = WebClient(token="xoxb-bench", base_url=fake.url, timeout=10)
    started = time.perf_counter()
    report = Delivery(new_session, SlackFrontEnd(client), now=now).deliver_due(limit=count)
    took = time.perf_counter() - started
    assert report.sent == count, report
    calls = len(fake.calls) - calls_before
    return PathFigures(name, calls / count, took * 1000 / count)


def delivery_paths(engine: Engine, fake: FakeSlack, count: int) -> list[PathFigures]:
    new_session = db.session_factory(engine)
    client = WebClient(token="xoxb-bench", base_url=fake.url, timeout=10)
    return [
        delivery_path(
            engine, fake, count, "normal send", lambda: enqueue_posts(new_session, count, None)
        ),
        delivery_path(
            engine,
            fake,
            count,
            "uncertain, had arrived",
            lambda: strand(new_session, count, client, arrived=True),
        ),
        delivery_path(
            engine,
            fake,
            count,
            "uncertain, had not",
            lambda: strand(new_session, count, client, arrived=False),
        ),
    ]


def marking(
    engine: Engine, fake: FakeSlack, count: int, gather: float, together: bool
) -> MarkFigures:
    new_session = db.session_factory(engine)
    empty(engine)
    fresh(fake)
    marks: list[int] = []

    def count_marks(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE outbox SET status"):
            marks.append(1)

    client = WebClient(token="xoxb-bench", base_url=fake.url, timeout=10)
    delivery = Delivery(new_session, SlackFrontEnd(client), senders=16, mark_gather_seconds=gather)
    event.listen(engine, "before_cursor_execute", count_marks)
    try:
        for n, user in enumerate(people(count)):
            with transaction(new_session) as session:
                recording.record(
                    session,
                    key=f"bench:mark:{n}",
                    recipient=user,
                    message=QUESTION,
                    now=now(),
                    delivery=delivery,
                )
            if not together:  # one person at a time: the next once this one is marked
                wait_for(lambda n=n: sent_count(new_session) == n + 1)
        wait_for(lambda: sent_count(new_session) == count)
    finally:
        delivery.stop()
        event.remove(engine, "before_cursor_execute", count_marks)
    with new_session() as session:
        rows = list(session.exec(select(OutboxMessage)))
    windows = [
        (row.sent_at.timestamp() - float(row.posted_ref or 0)) * 1000
        for row in rows
        if row.sent_at is not None
    ]
    name = f"{'all at once' if together else 'one at a time'}, gathering {gather:g} s"
    return MarkFigures(name, statistics.median(windows), max(windows), len(marks))


def sent_count(new_session: SessionFactory) -> int:
    with new_session() as session:
        rows = session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "sent"))
        return len(list(rows))


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the messages were not marked sent")
        time.sleep(0.001)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL (default: a temporary SQLite)")
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--slack-latency", type=float, nargs="+", default=[0.0, 100.0])
    parser.add_argument(
        "--gather",
        type=float,
        nargs="+",
        default=[0.1, MARK_GATHER_SECONDS],
        help="seconds the marker gathers sent messages (0.1: before; now %(default)s)",
    )
    args = parser.parse_args(argv)
    fake = FakeSlack().start()
    try:
        with database(args.database) as engine:
            kind = "PostgreSQL" if args.database else "SQLite"
            for latency in args.slack_latency:
                fake.call_delay = latency / 1000
                print(f"\n{kind}, Slack taking {latency:g} ms a call, {args.messages} messages")
                print(f"{'delivery (retry path)':<32} {'calls/message':>14} {'ms/message':>11}")
                for path in delivery_paths(engine, fake, args.messages):
                    print(
                        f"{path.name:<32} {path.calls_per_message:>14.2f}"
                        f" {path.ms_per_message:>11.1f}"
                    )
                print(
                    f"{'marking (sent after commit)':<40} {'p50 ms':>7} {'max ms':>7} {'marks':>6}"
                )
                for together in (True, False):
                    for gather in args.gather:
                        figures = marking(engine, fake, args.messages, gather, together)
                        print(
                            f"{figures.name:<40} {figures.window_p50_ms:>7.1f}"
                            f" {figures.window_max_ms:>7.1f} {figures.transactions:>6}"
                        )
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
