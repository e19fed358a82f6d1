"""The words of Reflect's templates as Teams shows them: Adaptive Card text, a small Markdown.

The templates are written with Slack's markers (``*bold*``, ``_italic_``) and Slack's command
(``/reflect``); here they become Markdown's ``**bold**`` and the word a person types to the bot
in Teams (``reflect``). Every value is made inert: Markdown's special characters are escaped
(bot/render.py's ``markdown_text``) and a web address is broken with a zero-width space, so
nothing a person typed becomes a link, an image or emphasis. A card's text cannot mention
anyone (mentions need an entity Reflect never adds), so ``<at>`` stays text; a person's ID is
shown as text too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from jinja2 import BaseLoader, Environment, FileSystemLoader

from bot.protection.invisible import without_bidi
from bot.render import PROMPTS_DIR, Renderer, markdown_text

_BOLD = re.compile(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])")
_SLASH_COMMAND = re.compile(r"(?<![\w/])/reflect\b")
_WEB = re.compile(r"(?i)(://|\bwww\.)")
ZERO_WIDTH_SPACE = "\u200b"


def teams_text(value: object) -> str:
    """Typed text made inert in a card: no emphasis, link, image, heading or list."""
    escaped = markdown_text(without_bidi(str(value)))
    return _WEB.sub(lambda m: m.group(1)[:-1] + ZERO_WIDTH_SPACE + m.group(1)[-1], escaped)


def teams_markup(source: str) -> str:
    """A template's own text in Teams' terms."""
    return _SLASH_COMMAND.sub("reflect", _BOLD.sub(r"**\1**", source))


class _TeamsLoader(BaseLoader):
    def __init__(self, inner: FileSystemLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        return teams_markup(source), filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


class TeamsRenderer(Renderer):
    """bot/render.py's Renderer, in Teams' dialect."""

    def __init__(self) -> None:
        super().__init__("markdown")
        self.env.loader = _TeamsLoader(FileSystemLoader(str(PROMPTS_DIR)))
        self.env.globals["mode"] = "teams"
        # A person's ID as text (escaped by _finalize like any value).
        self.env.filters["mention"] = lambda person_id: person_id or ""
        self.env.filters["mentions"] = lambda ids: ", ".join(ids)

    def _finalize(self, value: Any) -> Any:
        return "" if value is None else teams_text(value)


@cache
def teams_renderer() -> TeamsRenderer:
    return TeamsRenderer()
