"""What every Slack listener is handed: the request path and Slack's way of writing.

Listeners get this object, never a session: after ``ack()`` Bolt may run them on another
thread, and each request opens and commits its own transaction (bot/requests/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.render import Renderer, renderer
from bot.requests import Requests
from bot.slack.dialect import SLACK

VIA = "slack"


@dataclass
class SlackContext:
    requests: Requests
    renderer: Renderer = field(default_factory=lambda: renderer(SLACK))

    def text(self, template: str, **data: Any) -> str:
        return self.renderer.render(f"{template}.j2", **data)
