"""An in-memory front end: the smallest thing that keeps the FrontEnd contract
(bot/messaging/frontend.py), for tests of what sits above a front end, and the contract suite's
reference. Its platform holds each person's posts in a list; posts longer than ``limit``
characters are refused, as a real platform refuses them, so rendering must split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.messaging.frontend import Outcome, Stamp
from bot.messaging.message import CONVERSATION, HOME, Message
from bot.render import PLAIN, Renderer, renderer


@dataclass(frozen=True)
class MemoryPost:
    recipient: str
    text: str
    surface: str = CONVERSATION


@dataclass
class MemoryPlatform:
    limit: int = 2_000
    posts: list[tuple[MemoryPost, Stamp]] = field(default_factory=list)
    # What the next sends meet: "busy", "refused" or "cut" (the connection dropped after the
    # post arrived, so its outcome is unknown).
    next_faults: list[str] = field(default_factory=list)

    def to(self, recipient: str) -> list[str]:
        return [post.text for post, _ in self.posts if post.recipient == recipient]


class MemoryFrontEnd:
    def __init__(self, platform: MemoryPlatform, text: Renderer | None = None) -> None:
        self.platform = platform
        self.text = text or renderer(PLAIN)

    def render(self, surface: str, recipient: str, message: Message) -> Sequence[MemoryPost]:
        if surface not in {CONVERSATION, HOME}:
            raise ValueError(f"no such surface: {surface}")
        text = "\n\n".join(
            self.text.render(f"{part.template}.j2", **part.data) for part in message.parts
        )
        if message.single:
            return [MemoryPost(recipient, text[: self.platform.limit], surface)]
        return [
            MemoryPost(recipient, piece, surface) for piece in _pieces(text, self.platform.limit)
        ]

    def send(self, post: MemoryPost, *, stamp: Stamp) -> Outcome:
        fault = self.platform.next_faults.pop(0) if self.platform.next_faults else None
        if fault == "busy":
            return Outcome(ok=False, busy=True, retry_after=timedelta(seconds=3), error="busy")
        if fault == "refused" or len(post.text) > self.platform.limit:
            return Outcome(ok=False, permanent=True, error="too long")
        self.platform.posts.append((post, stamp))
        if fault == "cut":
            return Outcome(ok=False, uncertain=True, error="connection cut")
        return Outcome(ok=True, ref=str(len(self.platform.posts)))

    def find(self, post: MemoryPost, *, stamp: Stamp, since: datetime) -> Outcome | None:
        for number, (_sent, sent_stamp) in enumerate(self.platform.posts, start=1):
            if sent_stamp == stamp:
                return Outcome(ok=True, ref=str(number))
        return None

    def longest_send(self) -> timedelta:
        return timedelta(seconds=1)

    def send_deadline(self) -> timedelta:
        return timedelta(0)


def _pieces(text: str, limit: int) -> list[str]:
    """Whole lines per piece where they fit, a line longer than a piece cut."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return pieces
