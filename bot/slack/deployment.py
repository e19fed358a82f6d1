"""Slack in a deployment (bot/serving/): the front end that sends, the Bolt app that receives
at /slack/events behind the signature and size guard, and its warm-up."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_bolt.middleware.authorization import SingleTeamAuthorization
from slack_sdk.web import WebClient

from bot.bootstrap import Database
from bot.requests import Requests
from bot.settings import Settings
from bot.slack.app import build_app, make_client
from bot.slack.frontend import SlackFrontEnd
from bot.slack.guard import GuardedRequestHandler, RequestGuard

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class SlackPlatform:
    name = "slack"

    def __init__(self, settings: Settings, client: WebClient | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        self.app: App | None = None

    def front_end(self) -> SlackFrontEnd:
        return SlackFrontEnd(self.client)

    def endpoint(self, database: Database, requests: Requests) -> tuple[str, Any]:
        self.app = build_app(self.settings, database, client=self.client, requests=requests)
        guard = RequestGuard(self.app, self.settings.slack_signing_secret)
        return EVENTS_PATH, GuardedRequestHandler(self.app, guard, path=EVENTS_PATH)

    def warm_up(self) -> None:
        if self.app is not None:
            ask_who_the_bot_is(self.app)


def ask_who_the_bot_is(app: App) -> None:
    """Ask Slack who the bot is before the first request (Bolt asks at the first request
    otherwise, once per request until an answer arrives)."""
    try:
        identity = app.client.auth_test()
    except Exception as exc:  # Slack unreachable now: Bolt asks at the first request instead
        log.warning("could not reach Slack at start: %s", type(exc).__name__)
        return
    # Bolt keeps the answer in its authorization middleware; it has no public setter.
    for middleware in getattr(app, "_middleware_list", []):
        if isinstance(middleware, SingleTeamAuthorization) and not middleware.auth_test_result:
            middleware.auth_test_result = identity
