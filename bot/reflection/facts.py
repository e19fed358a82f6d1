"""What the rules see: each answer's state, and the facts of the reflection and its case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ROLE = "social_worker"


@dataclass(frozen=True)
class AnswerState:
    """What the rules see of an answer: skipped, free text, or chosen option ids."""

    skipped: bool
    text: str = ""
    choices: tuple[str, ...] = ()
    # The ids of the mentions found in the text when it was written; None: not known, so the
    # text is scanned.
    mentions: frozenset[str] | None = None
    # A choice nobody was asked: the words written to the question it is ``answered_by``
    # already chose it, so rules read it as answered and the question is not asked.
    said: bool = False


@dataclass(frozen=True)
class Facts:
    """Everything a rule may look at: this reflection's answers and plan, and the case."""

    answers: Mapping[str, AnswerState]
    actions: Sequence[Mapping[str, Any]] = ()
    role: str = DEFAULT_ROLE
    is_lead: bool = False
    repeat: bool = False
    earlier_actions: int = 0  # actions of the last plan, reviewed in this one
    case_open_days: int = 0
    earlier_count: int = 0
    earlier: Mapping[str, AnswerState] = field(default_factory=dict)
    scales: Sequence[int] = ()  # the scale in earlier reflections, oldest first
    today: str = ""  # the practitioner's today, as an ISO date
    # The rules whose flags hold before the plan is held against them (plan checks read them).
    flagged: frozenset[str] = frozenset()
    today_rules: frozenset[str] = frozenset()  # of those, the ones for today
    concerns: frozenset[str] = frozenset()  # of those, the ones for today or the visit
    warnings: tuple[tuple[str, ...], ...] = ()  # what those flags warn against


@dataclass(frozen=True)
class Found:
    """A mention found in an answer: where, and the words to quote."""

    mention: str
    question: str
    quote: str
