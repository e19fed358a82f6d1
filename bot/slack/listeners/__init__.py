"""Wires every listener to the app; each module holds small handlers for one kind of request."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.context import SlackContext
from bot.slack.listeners import commands, conversation, events, summaries


def register_listeners(app: App, context: SlackContext) -> None:
    commands.register(app, context)
    events.register(app, context)
    conversation.register(app, context)
    summaries.register(app, context)
