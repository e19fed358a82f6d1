"""The FrontEnd contract (tests/messaging/test_front_end_contract.py) kept by the Teams front end,
over real HTTP to the fake Teams: the same tests, with a harness of Teams' own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.messaging.frontend import FrontEnd
from bot.settings import Settings
from bot.teams.frontend import TeamsPost, front_end_for
from storage import db
from storage import teams as references
from storage.db import transaction
from tests.messaging.test_front_end_contract import *  # noqa: F403  (the contract's tests)
from tests.teams.conftest import texts
from tools.fake_teams import ACTIVITY_LIMIT, FakeTeams, personal_chat, user_id


class TeamsHarness:
    recipient = "cccccccc-0000-4000-8000-000000000001"

    def __init__(self, fake: FakeTeams, new_session: db.SessionFactory) -> None:
        self.fake = fake
        made = front_end_for(Settings.model_validate(fake.environment()), new_session)
        assert made is not None
        self.front_end: FrontEnd = made
        reference = references.ConversationReference(
            person_id=self.recipient,
            tenant_id=fake.tenant,
            service_url=fake.service_url,
            conversation_id=personal_chat(self.recipient),
            user_id=user_id(self.recipient),
            bot_id=f"28:{fake.app_id}",
        )
        with transaction(new_session) as session:
            references.remember(session=session, reference=reference, now=datetime.now(UTC))

    def delivered(self) -> list[str]:
        return ["\n".join(texts(p)) for p in self.fake.posted_to(personal_chat(self.recipient))]

    def kept(self) -> int:
        return len(self.fake.posted_to(personal_chat(self.recipient)))

    def fits(self, post: TeamsPost) -> bool:
        return len(json.dumps(post.activity).encode()) <= ACTIVITY_LIMIT

    def busy_next(self) -> None:
        self.fake.fail_next(1, 429, retry_after=3)

    def refuse_next(self) -> None:
        self.fake.fail_next(1, 400)

    def cut_next(self) -> None:
        self.fake.cut_next(1, after_keeping=True)


@pytest.fixture
def harness(teams: FakeTeams, new_session: db.SessionFactory) -> Iterator[TeamsHarness]:
    yield TeamsHarness(teams, new_session)
