"""A plan action typed in one line, as practitioners type it: "ring CSC today - me", "GP to
review meds by fri", "strat meeting next wk (SW)". Read for its owner and its date; what is
left is the action."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.reflection import dates

ME = "me"
# "- me", "– Jo (SW)", ": HV" at the end of a line: a short name after a dash or colon.
_OWNER_AFTER_DASH = re.compile(r"\s+[-–—:]\s*([^-–—:]{1,30})$")
_OWNER_IN_BRACKETS = re.compile(r"\s*\(([^()]{1,30})\)\s*$")
# "Mum to keep a closer eye", "GP to review", "Jo to ring": who, then "to" and what they will
# do. Who is a role or agency as people write it; anyone else is named after a dash.
_ROLES = (
    r"mum|mom|mother|dad|father|parents?|carers?|nan|gran|grandma|grandad|aunt|uncle|family|"
    r"gp|hv|sw|swr|social worker|health visitor|midwife|mw|school|nursery|teacher|senco|dsl|"
    r"deputy dsl|"
    r"school nurse|police|pc|csc|mash|eh|early help|camhs|paeds|probation|housing|manager|"
    r"team manager|tm|lead|ta|head|headteacher|dv worker|idva|family support worker|fsw"
)
_OWNER_TO = re.compile(rf"^((?:the |my |our |her |his )?(?:{_ROLES})) to (?=\w)", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"^(?:i|i'll|ill|i will|i'm going to|me to|me)\b", re.IGNORECASE)
_NOT_OWNERS = {
    "need",
    "want",
    "going",
    "have",
    "try",
    "refer",
    "plan",
    "due",
    "talk",
    "speak",
    "go",
    "write",
    "send",
    "move",
    "step",
    "back",
    "link",
    "listen",
    "return",
    "up",
}


@dataclass(frozen=True)
class ActionLine:
    what: str
    owner: str | None
    due: dates.DateReading | None
    due_words: str | None


def read_action(text: str, today: date) -> ActionLine:
    """The action, who will do it (``ME`` for the practitioner) and when, from one line."""
    line = text.strip().rstrip(".")
    owner: str | None = None
    for pattern in (_OWNER_IN_BRACKETS, _OWNER_AFTER_DASH):
        found = pattern.search(line)
        if (
            found
            and len(found.group(1).split()) <= 4
            and dates.find_due_date(found.group(1), today) is None
        ):
            owner = found.group(1).strip()
            line = line[: found.start()].strip()
            break
    found_date = dates.find_due_date(line, today)
    due, due_words = found_date if found_date else (None, None)
    if owner is None:
        to = _OWNER_TO.match(line)
        if _FIRST_PERSON.match(line):
            owner = ME
        elif to:
            owner = to.group(1)
    if owner is not None and owner.lower() in {"me", "myself", "i", "mine"}:
        owner = ME
    return ActionLine(what=line, owner=owner, due=due, due_words=due_words)
