"""The front ends the contract suite runs against: each is a harness that says what its platform
received and makes it fail the ways platforms fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest
from slack_sdk.web import WebClient

from bot.messaging.frontend import FrontEnd
from bot.slack import blocks as bk
from bot.slack.frontend import SlackCall, SlackFrontEnd
from tests.messaging.memory import MemoryFrontEnd, MemoryPlatform, MemoryPost
from tests.slack.conftest import BOT_TOKEN, fake_slack, fake_slack_server, message_text
from tools.fake_slack import FakeSlack

__all__ = ["fake_slack", "fake_slack_server"]


class Harness(Protocol):
    front_end: FrontEnd
    recipient: str

    def delivered(self) -> list[str]: ...
    def kept(self) -> int: ...
    def fits(self, post: Any) -> bool: ...
    def busy_next(self) -> None: ...
    def refuse_next(self) -> None: ...
    def cut_next(self) -> None: ...


class MemoryHarness:
    recipient = "U0CONTRACT1"

    def __init__(self) -> None:
        self.platform = MemoryPlatform(limit=1_500)
        self.front_end: FrontEnd = MemoryFrontEnd(self.platform)

    def delivered(self) -> list[str]:
        return self.platform.to(self.recipient)

    def kept(self) -> int:
        return len(self.platform.to(self.recipient))

    def fits(self, post: MemoryPost) -> bool:
        return len(post.text) <= self.platform.limit

    def busy_next(self) -> None:
        self.platform.next_faults.append("busy")

    def refuse_next(self) -> None:
        self.platform.next_faults.append("refused")

    def cut_next(self) -> None:
        self.platform.next_faults.append("cut")


class SlackHarness:
    recipient = "U0CONTRACT1"

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.front_end: FrontEnd = SlackFrontEnd(WebClient(token=BOT_TOKEN, base_url=fake.url))

    def delivered(self) -> list[str]:
        return [message_text(m) for m in self.fake.messages_to(self.recipient)]

    def kept(self) -> int:
        return len(self.fake.held(self.recipient))

    def fits(self, post: SlackCall) -> bool:
        blocks = post.payload.get("blocks") or []
        return bool(blocks) and bk.fits_one_message(blocks)

    def busy_next(self) -> None:
        self.fake.fail_next(1, status=429, retry_after=3)

    def refuse_next(self) -> None:
        self.fake.fail_next(1, error="msg_too_long")

    def cut_next(self) -> None:
        self.fake.fail_after_posting(1)


@pytest.fixture(params=["memory", "slack"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness()
    else:
        yield SlackHarness(request.getfixturevalue("fake_slack"))
