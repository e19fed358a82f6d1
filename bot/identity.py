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

# The shape of a person's ID, unanchored so that a front end's syntax can be built around it.
PERSON_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


def is_person_id(text: str) -> bool:
    """Is ``text``, exactly, a person's ID?"""
    return PERSON_ID.fullmatch(text) is not None
