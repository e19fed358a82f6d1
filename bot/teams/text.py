"""The words of Reflect's templates as Teams shows them: bot/render.py's renderer in Teams'
dialect (bot/teams/dialect.py) for cards, and plain text for a button's label."""

from __future__ import annotations

from bot.render import PlainText, Renderer, renderer
from bot.teams.dialect import TEAMS

# Text Teams shows as it is (a button's title): no markup.
TEAMS_PLAIN = PlainText(start_command=TEAMS.start_command, chat=True)


def teams_renderer() -> Renderer:
    return renderer(TEAMS)


def plain_renderer() -> Renderer:
    return renderer(TEAMS_PLAIN)
