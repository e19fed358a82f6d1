"""The front ends a deployment runs, from its settings: Slack when its bot token is set,
Microsoft Teams when its app ID is set, or both on one record.

Each platform's package offers one ``Platform``: the front end that sends to its people, and the
endpoint that receives from them, built on the one request path. Which platform a person is on
is said by their ID (bot/identity.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.identity import platform_of
from bot.messaging.frontend import FrontEnd
from bot.messaging.frontends import FrontEnds
from bot.render import Dialect
from bot.settings import Settings
from bot.slack.dialect import SLACK
from bot.teams.dialect import TEAMS

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.bootstrap import Database
    from bot.requests import Requests

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Platform(Protocol):
    name: str

    def front_end(self) -> FrontEnd:
        """What sends to this platform's people."""
        ...

    def endpoint(self, database: Database, requests: Requests) -> tuple[str, WSGIApp]:
        """The path this platform posts to, and what answers it."""
        ...

    def warm_up(self) -> None:
        """What the first requests would otherwise all do at once."""
        ...


DIALECTS: dict[str, Dialect] = {"slack": SLACK, "teams": TEAMS}


def configured_platforms(settings: Settings) -> list[str]:
    platforms = []
    if settings.slack_bot_token:
        platforms.append("slack")
    if settings.teams_configured:
        platforms.append("teams")
    return platforms


def platform_for(name: str, settings: Settings) -> Platform:
    if name == "slack":
        from bot.slack.deployment import SlackPlatform

        return SlackPlatform(settings)
    from bot.teams.deployment import TeamsPlatform

    platform: Platform = TeamsPlatform(settings)
    return platform


def dialect_for(name: str) -> Dialect:
    """How the platform ``name`` writes a message (bot/render.py)."""
    return DIALECTS[name]


@dataclass
class FrontEndsBuilt:
    platforms: list[str]
    by_name: dict[str, Platform]
    sending: FrontEnds
    endpoints: dict[str, WSGIApp] = field(default_factory=dict)

    def receive(self, database: Database, requests: Requests) -> None:
        for platform in self.by_name.values():
            path, app = platform.endpoint(database, requests)
            self.endpoints[path] = app

    def warm_up(self) -> None:
        for platform in self.by_name.values():
            platform.warm_up()

    @property
    def slack_app(self) -> App | None:
        slack = self.by_name.get("slack")
        return None if slack is None else getattr(slack, "app", None)


def build_front_ends(settings: Settings) -> FrontEndsBuilt:
    names = configured_platforms(settings)
    by_name = {name: platform_for(name, settings) for name in names}
    sending = FrontEnds(
        {name: platform.front_end() for name, platform in by_name.items()}, platform_of
    )
    return FrontEndsBuilt(names, by_name, sending)


def sending_front_ends(settings: Settings) -> FrontEnds | None:
    """What sends to every configured platform's people (the clock's delivery); None when no
    front end is configured (messages are recorded, and wait until one is)."""
    if not configured_platforms(settings):
        return None
    return build_front_ends(settings).sending
