"""How Slack writes a person in a message: ``<@U0123ABCD>``, or ``<@U0123ABCD|their name>``."""

from __future__ import annotations

import re

from bot.identity import SLACK_USER_ID

MENTION = re.compile(rf"<@({SLACK_USER_ID.pattern})(?:\|[^>]*)?>")
# A plan line's owner named by a mention at its end: "ring CSC today - <@U…>", "(<@U…>)".
OWNER_AT_END = re.compile(rf"(?:\s[-–—:]\s*|\(\s*){MENTION.pattern}\s*\)?$")


def mentioned_person(text: str) -> str | None:
    """The person a message names when it is a mention and nothing else; None otherwise."""
    found = MENTION.fullmatch(text.strip())
    return found.group(1) if found else None


def named_person(text: str) -> str | None:
    """The person a message names: a mention and nothing else, or, as a plan action's line is
    typed, the mention that ends it as its owner ("visit school on Friday - <@U…>")."""
    alone = mentioned_person(text)
    if alone is not None:
        return alone
    found = OWNER_AT_END.search(text.strip())
    return found.group(1) if found else None
