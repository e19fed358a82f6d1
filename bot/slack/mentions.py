"""How Slack writes a person in a message: ``<@U0123ABCD>``, or ``<@U0123ABCD|their name>``."""

from __future__ import annotations

import re

from bot.identity import PERSON_ID

MENTION = re.compile(rf"<@({PERSON_ID.pattern})(?:\|[^>]*)?>")


def mentioned_person(text: str) -> str | None:
    """The person a message names when it is a mention and nothing else; None otherwise."""
    found = MENTION.fullmatch(text.strip())
    return found.group(1) if found else None
