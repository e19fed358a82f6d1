"""Every front end a deployment runs, as one: each message goes through its recipient's own.

A partnership may run Slack and Microsoft Teams side by side on one record; a person is reached
on the platform their ID belongs to (bot/identity.py). The delivery loop and the clock hold one
``FrontEnds`` and never ask which platform a message is for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.messaging.frontend import CannotReach, FrontEnd, Outcome, Stamp
from bot.messaging.message import Message


@dataclass(frozen=True)
class Routed:
    """A post and the platform that made it, so it is sent and looked for there."""

    platform: str
    post: Any


class FrontEnds:
    """A ``FrontEnd`` made of one per platform; ``platform_of`` names a person's platform."""

    def __init__(
        self, by_platform: Mapping[str, FrontEnd], platform_of: Callable[[str], str]
    ) -> None:
        if not by_platform:
            raise ValueError("no front end is configured")
        self.by_platform = dict(by_platform)
        self.platform_of = platform_of

    def render(self, surface: str, recipient: str, message: Message) -> Sequence[Routed]:
        platform = self.platform_of(recipient)
        front_end = self.by_platform.get(platform)
        if front_end is None:
            # Set aside for an operator, who configures the platform or corrects the person.
            raise CannotReach(f"the recipient is on {platform}, which this deployment does not run")
        return [Routed(platform, post) for post in front_end.render(surface, recipient, message)]

    def send(self, post: Routed, *, stamp: Stamp) -> Outcome:
        return self.by_platform[post.platform].send(post.post, stamp=stamp)

    def find(self, post: Routed, *, stamp: Stamp, since: datetime) -> Outcome | None:
        return self.by_platform[post.platform].find(post.post, stamp=stamp, since=since)

    def longest_send(self) -> timedelta:
        return max(front_end.longest_send() for front_end in self.by_platform.values())

    def send_deadline(self) -> timedelta:
        return max(front_end.send_deadline() for front_end in self.by_platform.values())

    def only(self, platform: str) -> FrontEnd | None:
        return self.by_platform.get(platform)
