"""Who a person is to Reflect: the shape of a person's ID, and the platform it reaches them on,
in one place for every layer.

A person is known by the ID the organisation file gives them, and reached on that ID's
platform: ``slack_id:`` is Slack's user ID (``U`` or ``W``, then capitals and digits),
``teams_id:`` is their Microsoft Entra object ID (a GUID, kept in lower case). The two shapes
never overlap, so an ID says its own platform (``platform_of``). The organisation file, the
cases import, the clock, erasure and delivery check an ID only through this module.

How a person is *written* in a message belongs to each front end, and reaches the reflection
service as a plain ID (``ReflectionService.respond(person=...)``): a Slack mention ``<@U…>`` is
read in bot/slack/mentions.py, a person typed at the terminal in bot/terminal/conversation.py.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol

Platform = Literal["slack", "teams"]
PLATFORMS: tuple[Platform, ...] = ("slack", "teams")

# The shapes of a person's ID, unanchored so that a front end's syntax can be built around them.
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
ENTRA_OBJECT_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def id_platform(text: str) -> Platform | None:
    """The platform whose ID ``text`` is, exactly; None if it is no person's ID."""
    if SLACK_USER_ID.fullmatch(text):
        return "slack"
    if ENTRA_OBJECT_ID.fullmatch(text):
        return "teams"
    return None


def platform_of(person_id: str) -> Platform:
    """The platform a person is reached on, from their ID: what delivery routes by. An ID of
    no known shape is taken as Slack's, as every ID was before Teams."""
    return id_platform(person_id) or "slack"


def is_person_id(text: str) -> bool:
    """Is ``text``, exactly, a person's ID on any platform?"""
    return id_platform(text) is not None


def teams_person_id(entra_object_id: str) -> str:
    """A Microsoft Entra object ID as Reflect keeps it (lower case): what the Teams front end
    calls with, whichever case Teams or the organisation file wrote it in."""
    return entra_object_id.strip().lower()


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
