"""Reading what was typed: the words that move a conversation (skip, done, still right),
option numbers, labels and aliases for a choice, and a point on a scale."""

from __future__ import annotations

import re
from typing import Any

from bot.reflection.questions import Question

COMMAND_WORDS = {"skip", "back", "pause", "cancel"}
FINISH_WORDS = {"send", "done", "yes", "y", "ok", "finish", "confirm"}
PLAN_DONE_WORDS = {"done", "no", "n", "none", "no more", "that's all", "thats all", "finish"}
PLAN_MORE_WORDS = {"yes", "y", "another", "more", "add", "add another"}
STILL_RIGHT_WORDS = {"yes", "y", "same", "still right", "no change", "unchanged", "as before", "ok"}
SCALE = re.compile(
    r"^(?:about |around |roughly |maybe |probably |a |~)?(\d{1,2})(?:\s*(?:/|out of)\s*10)?[.!]?$"
)


def command_word(text: str) -> str | None:
    word = text.strip().lower().rstrip("!.")
    return word if word in COMMAND_WORDS else None


def parse_choices(question: Question, text: str) -> list[str] | None:
    """Read typed option numbers, ids, labels or aliases; None when any part is not understood."""
    whole = match_option(question, text.strip().lower().rstrip("."))
    if whole is not None:
        return [whole]
    if question.kind == "choice":
        return None
    parts = re.split(r"\s*(?:,|;|\band\b|&)\s*", text)
    chosen: list[str] = []
    for part in (p.strip().lower().rstrip(".") for p in parts):
        if not part:
            continue
        option = match_option(question, part)
        if option is None:
            return None
        if option not in chosen:
            chosen.append(option)
    if not chosen:
        return None
    if question.kind == "multi" and len(chosen) > 1:
        # "None that I know of" cannot stand beside a real choice.
        chosen = [c for c in chosen if not c.startswith("none")] or chosen
    return chosen


def match_option(question: Question, part: str) -> str | None:
    if part.isdecimal():  # not isdigit: "²" is a digit that int() refuses
        index = int(part) - 1
        return question.options[index].id if 0 <= index < len(question.options) else None
    for option in question.options:
        if part in {option.id.lower(), option.label.lower(), *option.aliases}:
            return option.id
    starts = [o.id for o in question.options if o.label.lower().startswith(part) and len(part) >= 2]
    return starts[0] if len(starts) == 1 else None


def parse_scale(text: str) -> str | None:
    match = SCALE.match(text.strip().lower())
    if match is None or int(match.group(1)) > 10:
        return None
    return str(int(match.group(1)))


def numbered(question: Question) -> list[dict[str, Any]]:
    return [{"number": n, "label": o.label} for n, o in enumerate(question.options, start=1)]
