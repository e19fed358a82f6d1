"""What every Slack listener is handed: the request path and Slack's way of writing.

Listeners get this object, never a session: after ``ack()`` Bolt may run them on another
thread, and each request opens and commits its own transaction (bot/requests/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.render import Renderer, renderer
from bot.requests import Requests
from storage.db import SessionFactory

VIA = "slack"


@dataclass
class SlackContext:
    requests: Requests
    renderer: Renderer = field(default_factory=lambda: renderer("slack"))

    @property
    def new_session(self) -> SessionFactory:
        return self.requests.new_session

    @property
    def now(self) -> Callable[[], datetime]:
        return self.requests.now

    @property
    def zone(self) -> ZoneInfo:
        return self.requests.zone

    @property
    def report_small_number(self) -> int:
        return self.requests.report_small_number

    def text(self, template: str, **data: Any) -> str:
        return self.renderer.render(f"{template}.j2", **data)
