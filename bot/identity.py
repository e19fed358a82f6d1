"""Who a person is to Reflect: the shape of a person's ID, in one place for every layer.

A person is known by the ID their workspace gives them; today that is Slack's user ID (``U`` or
``W``, then capitals and digits). The organisation file, the cases import, the clock, erasure and
rendering check an ID only through ``is_person_id``.

How a person is *written* in a message belongs to each front end, and reaches the reflection
service as a plain ID (``ReflectionService.respond(person=...)``): a Slack mention ``<@U…>`` is
read in bot/slack/mentions.py, a person typed at the terminal in bot/terminal/conversation.py.
"""

from __future__ import annotations

import re
from typing import Protocol

# The shape of a person's ID, unanchored so that a front end's syntax can be built around it.
PERSON_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


def platform_of(person_id: str) -> str:
    """The platform a person is reached on: Microsoft Teams for an Entra object ID (a GUID),
    Slack otherwise."""
    return "teams" if _ENTRA_OBJECT_ID.fullmatch(person_id) else "slack"


_ENTRA_OBJECT_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def is_person_id(text: str) -> bool:
    """Is ``text``, exactly, a person's ID?"""
    return PERSON_ID.fullmatch(text) is not None


class DirectoryUnavailable(Exception):
    """The directory cannot say now (unreachable, or refusing calls); ask again on a later run.

    ``rate_limited``: it has asked to be left alone for a while, so nothing more should be
    looked up in this run.
    """

    def __init__(self, reason: str, *, rate_limited: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rate_limited = rate_limited


class Directory(Protocol):
    """Where a front end's workspace looks people up: what the clock needs when a case names its
    practitioner by e-mail address (bot/slack/directory.py for Slack)."""

    def person_for_email(self, email: str) -> str | None:
        """The person ID of whoever has ``email`` in the workspace now; None if no one (or only
        someone who has left) has it. Raises DirectoryUnavailable when it cannot say now."""
        ...
