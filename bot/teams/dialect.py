"""How Microsoft Teams writes a message: the Markdown a TextBlock renders (``**bold**``,
``_italic_``, ``[label](url)``), with Markdown's special characters escaped in everything a
person typed, and a web address broken with a zero-width space, so that no text becomes
emphasis, a link, an image or HTML.

A person is written ``<at>ID</at>`` (ID the Microsoft Entra object ID). Only this dialect's
``mention`` writes that: ``<`` and ``>`` in typed text are escaped, so ``mentioned_ids`` finds
exactly the people Reflect itself named, and the Teams front end adds a mention entity for
each. A person who is not on Teams (a Slack ID) is named as plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.identity import ENTRA_OBJECT_ID, id_platform

_MENTION = re.compile(rf"<at>({ENTRA_OBJECT_ID.pattern})</at>")
# What can start emphasis, a link, an image, a heading, code, a table or HTML (an entity).
_SPECIAL = re.compile(r"([\\`*_<>#|\[\]~&])")
# What Teams would turn into a link by itself, with no Markdown: a web address.
_WEB = re.compile(r"(?i)(:)(//)|\b(www)(\.)")
ZERO_WIDTH_SPACE = "\u200b"


def escape_markdown(text: str) -> str:
    """Every Markdown special character backslash-escaped; line breaks are kept."""
    return _SPECIAL.sub(r"\\\1", text)


def unlinked(text: str) -> str:
    """A web address broken with a zero-width space, so that Teams does not make it a link."""
    return _WEB.sub(lambda m: ZERO_WIDTH_SPACE.join(g for g in m.groups() if g), text)


def mentioned_ids(text: str) -> list[str]:
    """The people a rendered message mentions, in order, each once."""
    return list(dict.fromkeys(_MENTION.findall(text)))


@dataclass(frozen=True)
class TeamsDialect:
    start_command: str = "reflect"
    chat: bool = True
    mentions_understood: bool = False

    def escape(self, text: str) -> str:
        return unlinked(escape_markdown(text))

    def emphasis(self, text: str) -> str:
        return f"**{text}**"

    def italic(self, text: str) -> str:
        return f"_{text}_"

    def mention(self, person_id: str) -> str:
        if id_platform(person_id) == "teams":
            return f"<at>{person_id}</at>"
        return escape_markdown(person_id)

    def link(self, url: str, label: str) -> str:
        target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        return f"[{label or escape_markdown(url)}]({target})"

    def quote(self, text: str) -> str:
        return f"> {text}"

    def command(self, text: str) -> str:
        return f"**{text}**"


TEAMS = TeamsDialect()
