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

from bot.messaging.delivery import Delivery
from bot.messaging.inbox import Inbox
from bot.messaging.message import Part
from bot.messaging.replies import ReplySink, say
from bot.reflection.messages import Guard, Reply
from bot.reflection.service import ReflectionService
from bot.render import Renderer, renderer
from bot.slack.dialect import SLACK
from storage.db import SessionFactory, transaction


@dataclass
class SlackContext:
    new_session: SessionFactory
    now: Callable[[], datetime]
    timezone: str = "Europe/London"
    guard: Guard | None = None
    # Called after a request has recorded messages, so delivery starts at once.
    wake: Callable[[], None] = lambda: None
    # Sends what requests record straight after they commit (`reflect serve`), if given.
    delivery: Delivery | None = None
    renderer: Renderer = field(default_factory=lambda: renderer(SLACK))
    # The partnership report's small-number threshold, for /reflect report.
    report_small_number: int = 5
    # Where answers and /reflect wait between Slack's 200 and being handled.
    inbox: Inbox = field(init=False)

    def __post_init__(self) -> None:
        self.inbox = Inbox(self.new_session, now=self.now)

    def sent_not_marked(self, message_id: int) -> str | None:
        """Slack's ts for a message this process sent and has not yet marked sent."""
        return self.delivery.sent_not_marked(message_id) if self.delivery else None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, sink: ReplySink | None = None) -> ReflectionService:
        return ReflectionService(
            self.new_session, guard=self.guard, sink=sink, timezone=self.timezone, now=self.now
        )

    def sink(
        self,
        key: str,
        *,
        handled_key: str | None = None,
        consumes: int | None = None,
        preface: tuple[Part, ...] = (),
    ) -> ReplySink:
        return ReplySink(
            key=key,
            now=self.now,
            delivery=self.delivery,
            handled_key=handled_key,
            consumes=consumes,
            preface=preface,
        )

    def text(self, template: str, **data: Any) -> str:
        return self.renderer.render(f"{template}.j2", **data)

    def send_reply(self, sink: ReplySink, practitioner_id: str, reply: Reply) -> None:
        """Record a reply the service did not hand to the sink itself (a read, or a refusal)."""
        with transaction(self.new_session) as session:
            sink.record(session, practitioner_id, reply)
        self.wake()

    def tell(self, template: str, *, key: str, recipient: str, **data: Any) -> None:
        """Record one DM from prompts/<template>.j2."""
        with transaction(self.new_session) as session:
            say(
                template,
                session=session,
                key=key,
                recipient=recipient,
                now=self.now(),
                delivery=self.delivery,
                **data,
            )
        self.wake()
