"""How long a reflection takes, estimated one way everywhere: the welcome's promise and
`python -m benchmarks.reflection_length` both use this model.

Reading at 200 words a minute and typing at 30 (a practitioner typing at a desk), plus time to
think before each reply: 15 seconds before a written answer, 4 before a short one (a number, a
choice, a date, "yes", "skip").
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bot.reflection.questions import Question

READING_WPM = 200
TYPING_WPM = 30
SHORT_REPLY_WORDS = 3
THINK_SECONDS_WRITTEN = 15
THINK_SECONDS_SHORT = 4
# For the welcome, before anything is typed: what a question and a brief answer usually take.
# A plan is about two actions: what and the contingency written, who, when and "more" short.
TYPICAL_WORDS_READ = {"plan": 90}
TYPICAL_WORDS_READ_DEFAULT = 24
TYPICAL_WORDS_TYPED = {"text": 12, "plan": 40}
# Beyond the questions themselves: the welcome, the check before sending and the summary to read,
# and the follow-ups and confirming questions a case usually calls for (two or three).
OVERHEAD_WORDS_READ = 150
TYPICAL_FOLLOW_UPS = 3
TYPICAL_THINK_SECONDS = {
    "text": THINK_SECONDS_WRITTEN,
    "plan": 4 * THINK_SECONDS_WRITTEN + 6 * THINK_SECONDS_SHORT,
}


def minutes(*, words_read: int, words_typed: int, thinking_seconds: float) -> float:
    return words_read / READING_WPM + words_typed / TYPING_WPM + thinking_seconds / 60


def think_seconds(reply: str) -> int:
    """Thinking before a reply: a written answer takes longer than a number or a word."""
    return THINK_SECONDS_SHORT if len(reply.split()) <= SHORT_REPLY_WORDS else THINK_SECONDS_WRITTEN


def estimated_minutes(questions: Iterable[Question], *, repeat: bool = False) -> int:
    """The welcome's estimate for the questions a practitioner will be asked. On a repeat
    reflection a carried question is a quick "still right?"."""
    asked = [("choice" if repeat and q.carry else q.kind) for q in questions]
    asked += ["text"] * TYPICAL_FOLLOW_UPS
    total = minutes(
        words_read=OVERHEAD_WORDS_READ
        + sum(TYPICAL_WORDS_READ.get(k, TYPICAL_WORDS_READ_DEFAULT) for k in asked),
        words_typed=sum(TYPICAL_WORDS_TYPED.get(k, 0) for k in asked),
        thinking_seconds=sum(TYPICAL_THINK_SECONDS.get(k, THINK_SECONDS_SHORT) for k in asked),
    )
    return max(1, math.ceil(total))
