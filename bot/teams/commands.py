"""Which typed messages in the personal chat are commands, and which are answers.

In Slack a command has a channel of its own (``/reflect``); in Teams everything is typed in the
same chat, so a command is only a message that is nothing else: ``help``, ``list``,
``history CASE``, ``close CASE``, ``reflect`` alone or with one of those, ``reflect report``
(last month's partnership report, for leads and administrators), or ``reflect CASE``.
Anything longer is an answer, so that an answer such as "close family friend" is never taken as
closing a case (a case reference holds a digit). ``skip``, ``back`` and ``pause`` are answers:
the reflection service reads them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

HELP = "help"
LIST = "list"
HISTORY = "history"
CLOSE = "close"
REPORT = "report"
START = "start"
_CASE = r"\S*\d\S*"
_ON_CASE = re.compile(rf"(?i)(history|close)(?:\s+({_CASE}))?")
# After ``reflect`` there is no doubt it is a command: the case is whatever follows.
_REFLECT_ON_CASE = re.compile(r"(?i)(history|close)(?:\s+(\S+))?")
_REFLECT = re.compile(r"(?i)reflect(?:\s+(.*))?")
# Teams wraps some typed messages in HTML (a paragraph, a line break), and writes a mention of
# the bot as <at>Name</at>.
_AT_MENTION = re.compile(r"(?is)<at>.{0,200}?</at>")
_MARKUP = re.compile(r"<[^<>]{0,200}>")


@dataclass(frozen=True)
class Command:
    word: str
    case_ref: str = ""


def typed_text(text: str) -> str:
    """What the person typed, without Teams' markup around it."""
    without = _MARKUP.sub(" ", _AT_MENTION.sub(" ", text))
    return html.unescape(without).replace("\xa0", " ").strip()


def command(text: str) -> Command | None:
    """The command ``text`` is, or None for an answer."""
    words = " ".join(text.split())
    reflect = _REFLECT.fullmatch(words)
    rest = reflect.group(1) or "" if reflect else words
    if reflect and not rest:
        return Command(HELP)
    if rest.lower() in {HELP, LIST} or (reflect and rest.lower() == REPORT):
        return Command(rest.lower())
    on_case = (_REFLECT_ON_CASE if reflect else _ON_CASE).fullmatch(rest)
    if on_case and (reflect or on_case.group(2)):
        return Command(on_case.group(1).lower(), on_case.group(2) or "")
    if reflect and " " not in rest:
        return Command(START, rest)
    return None
