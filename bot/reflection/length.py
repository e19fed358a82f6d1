"""How long a reflection takes, estimated the same way everywhere: the welcome's promise and
`python -m benchmarks.reflection_length` both use this model.

Reading at 200 words a minute and typing at 30 (a practitioner typing on a laptop or phone
between visits), plus time to think before answering: longer for a question answered in words
than for a choice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from bot.reflection.questions import Question

READING_WPM = 200
TYPING_WPM = 30
THINK_SECONDS = {"text": 12, "plan": 45}
THINK_SECONDS_DEFAULT = 4  # a choice, a scale, a date, a command
# For the welcome, before anything is typed: what a question and a brief answer usually take.
TYPICAL_WORDS_READ = {"plan": 90}
TYPICAL_WORDS_READ_DEFAULT = 30
TYPICAL_WORDS_TYPED = {"text": 14, "plan": 45}


def minutes(*, words_read: int, words_typed: int, thinking_seconds: float) -> float:
    return words_read / READING_WPM + words_typed / TYPING_WPM + thinking_seconds / 60


def think_seconds(kind: str) -> int:
    return THINK_SECONDS.get(kind, THINK_SECONDS_DEFAULT)


def estimated_minutes(questions: Iterable[Question], *, repeat: bool = False) -> int:
    """The welcome's honest estimate for the questions a practitioner will be asked. On a repeat
    reflection a carried question is a quick "still right?"."""
    asked = [_quick(q) if repeat and q.carry else q for q in questions]
    total = minutes(
        words_read=sum(TYPICAL_WORDS_READ.get(q.kind, TYPICAL_WORDS_READ_DEFAULT) for q in asked),
        words_typed=sum(TYPICAL_WORDS_TYPED.get(q.kind, 0) for q in asked),
        thinking_seconds=sum(think_seconds(q.kind) for q in asked),
    )
    return max(1, math.ceil(total))


def _quick(question: Question) -> Question:
    return replace(question, kind="choice")
