"""What every listener is handed: a session factory and the means to build the service.

Listeners get this object, never a session: after ``ack()`` Bolt may run them on another
thread, and each call opens and commits its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.reflection.messages import Guard, Reply
from bot.reflection.service import ReflectionService
from bot.render import Renderer, renderer
from bot.slack.inbox import Inbox
from bot.slack.sink import SlackSink, say
from storage.db import SessionFactory, transaction


@dataclass
class SlackContext:
    new_session: SessionFactory
    now: Callable[[], datetime]
    timezone: str = "Europe/London"
    guard: Guard | None = None
    # Called after a request has recorded messages, so delivery starts at once.
    wake: Callable[[], None] = lambda: None
    renderer: Renderer = field(default_factory=lambda: renderer("slack"))
    # Slack's ts for a message this process sent and has not yet marked sent (the dispatcher's).
    sent_not_marked: Callable[[int], str | None] = lambda _message_id: None
    # Where answers and /reflect wait between Slack's 200 and being handled.
    inbox: Inbox = field(init=False)

    def __post_init__(self) -> None:
        self.inbox = Inbox(self.new_session, now=self.now)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, sink: SlackSink | None = None) -> ReflectionService:
        return ReflectionService(
            self.new_session, guard=self.guard, sink=sink, timezone=self.timezone, now=self.now
        )

    def sink(
        self,
        key: str,
        *,
        claim: str | None = None,
        consumes: int | None = None,
        preface: list[Any] | None = None,
    ) -> SlackSink:
        return SlackSink(
            key=key,
            renderer=self.renderer,
            now=self.now,
            claim=claim,
            consumes=consumes,
            preface=preface,
        )

    def text(self, template: str, **data: Any) -> str:
        return self.renderer.render(f"slack/{template}.j2", **data)

    def send_reply(self, sink: SlackSink, practitioner_id: str, reply: Reply) -> None:
        """Record a reply the service did not hand to the sink itself (a read, or a refusal)."""
        with transaction(self.new_session) as session:
            sink.record(session, practitioner_id, reply)
        self.wake()

    def tell(self, template: str, *, key: str, recipient: str, **data: Any) -> None:
        """Record one DM from prompts/slack/<template>.j2."""
        with transaction(self.new_session) as session:
            say(
                self.renderer,
                template,
                session=session,
                key=key,
                recipient=recipient,
                now=self.now(),
                **data,
            )
        self.wake()
