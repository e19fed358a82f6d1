"""How many posts Teams shows twice, and how many it never shows, when connections are cut.

    python -m benchmarks.teams_uncertain_send
    python -m benchmarks.teams_uncertain_send --messages 500 --cut 0.05 0.2 0.5

Teams cannot be asked whether a post arrived, so after a send whose outcome is unknown the
Teams front end sends the post once more, and after a second it takes the post as delivered
(bot/teams/frontend.py). Against the fake Teams (tools/fake_teams.py), which cuts the connection
of each post with the given probability, half of them after keeping the post and half before,
this delivers ``--messages`` one-post messages through the one delivery loop and prints, per
probability: the posts cut, the messages shown twice (the bound: never more than twice), and
the messages never shown (both of two sends cut before Teams kept them).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.messaging.delivery import Delivery
from bot.messaging.message import CONVERSATION, Message
from bot.settings import Settings
from bot.teams.frontend import front_end_for
from storage import db, outbox
from storage import teams as references
from storage.db import transaction
from storage.encryption import generate_key, keyring
from tools.fake_teams import FakeTeams, personal_chat, user_id

PERSON = "33333333-3333-4333-8333-333333333333"
START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Figures:
    cut_probability: float
    messages: int
    posts_cut: int
    shown_twice: int
    shown_more: int
    never_shown: int


class Clock:
    def __init__(self) -> None:
        self.current = START

    def __call__(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current


def measure(fake: FakeTeams, *, messages: int, probability: float) -> Figures:
    keyring.configure([generate_key()])
    with tempfile.TemporaryDirectory() as directory:
        engine = db.make_engine(f"sqlite:///{directory}/bench.db")
        db.upgrade(engine)
        new_session = db.session_factory(engine)
        front_end = front_end_for(Settings.model_validate(fake.environment()), new_session)
        assert front_end is not None
        clock = Clock()
        with transaction(new_session) as session:
            references.remember(
                session=session,
                reference=references.ConversationReference(
                    person_id=PERSON,
                    tenant_id=fake.tenant,
                    service_url=fake.service_url,
                    conversation_id=personal_chat(PERSON),
                    user_id=user_id(PERSON),
                    bot_id=f"28:{fake.app_id}",
                ),
                now=clock(),
            )
            for n in range(messages):
                outbox.enqueue(
                    session=session,
                    dedupe_key=f"bench-{n}",
                    surface=CONVERSATION,
                    recipient=PERSON,
                    payload=Message.of("teams/usage", word=f"marker-{n}").to_json(),
                    now=clock(),
                )
        fake.reset()
        fake.cut_randomly(probability, seed=7)
        delivery = Delivery(new_session, front_end, now=clock)
        while _pending(new_session):
            delivery.deliver_due()
            clock.current += timedelta(seconds=60)
        cut = sum(1 for call in fake.calls if call.cut is not None)
        shown = Counter(
            _marker(post) for post in fake.posted_to(personal_chat(PERSON)) if _marker(post)
        )
        engine.dispose()
    copies = [shown.get(f"marker-{n}", 0) for n in range(messages)]
    return Figures(
        cut_probability=probability,
        messages=messages,
        posts_cut=cut,
        shown_twice=sum(1 for c in copies if c == 2),
        shown_more=sum(1 for c in copies if c > 2),
        never_shown=sum(1 for c in copies if c == 0),
    )


def _pending(new_session: db.SessionFactory) -> bool:
    with new_session() as session:
        return outbox.pending_count(session=session) > 0


def _marker(post: dict[str, object]) -> str | None:
    text = str(post)
    start = text.find("marker-")
    if start < 0:
        return None
    end = start + len("marker-")
    while end < len(text) and text[end].isdigit():
        end += 1
    return text[start:end]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--cut", type=float, nargs="+", default=[0.05, 0.2, 0.5])
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # each cut is logged; the figures say it all
    fake = FakeTeams().start()
    try:
        print("| posts cut at random | messages | sends cut | shown twice | more | never shown |")
        print("| --- | --- | --- | --- | --- | --- |")
        for probability in args.cut:
            figures = measure(fake, messages=args.messages, probability=probability)
            print(
                f"| {probability:.0%} | {figures.messages} | {figures.posts_cut} | "
                f"{figures.shown_twice} | {figures.shown_more} | {figures.never_shown} |"
            )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
