"""The summary of a completed reflection, shaped to carry to the door: the first screen (purpose,
worry, scale, who to see alone, what to look for), flags by when they matter, what is working,
the plan with the last plan's outcome, then the answers by theme."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from bot.reflection.questions import AnswerState, Facts, Fired, Question, QuestionSet
from storage.models import Action
from storage.reflections import StoredAnswer
from storage.statuses import CLOSED_REVIEWS, ActionStatus, AnswerStatus

# Gaps longer than this between answers are a pause, not time spent reflecting.
ACTIVE_GAP = timedelta(minutes=5)
NONE_WORDS = {"none", "no", "nothing", "n/a", "na", "nil", "not applicable", "none known"}


def answer_state(question: Question, answer: StoredAnswer) -> AnswerState:
    if answer.status == AnswerStatus.SKIPPED:
        return AnswerState(skipped=True)
    if question.kind in {"choice", "multi", "review"} and (
        question.kind == "review" or question.is_chosen(answer.value)
    ):
        value = answer.value or ""
        return AnswerState(skipped=False, choices=tuple(v for v in value.split(",") if v))
    if question.kind in {"choice", "multi"}:  # the practitioner's own words, heard
        text = answer.value or ""
        return AnswerState(
            skipped=False, text=text, choices=question.heard(text), mentions=answer.mention_ids
        )
    mentions = answer.mention_ids
    if mentions is None:
        return AnswerState(skipped=False, text=answer.value or "")
    return _Sealed(answer, mentions)


class _Sealed(AnswerState):
    """A written answer whose text is decrypted only if a rule reads it: what it mentions was
    recorded when it was written, so deciding what to ask next rarely needs it."""

    def __init__(self, answer: StoredAnswer, mentions: frozenset[str]) -> None:
        object.__setattr__(self, "skipped", False)
        object.__setattr__(self, "choices", ())
        object.__setattr__(self, "mentions", mentions)
        object.__setattr__(self, "_answer", answer)

    @property
    def text(self) -> str:
        answer: StoredAnswer = object.__getattribute__(self, "_answer")
        return answer.value or ""


def display_answer(question: Question, answer: StoredAnswer | None) -> str | None:
    """An answer as a person reads it: option labels for choices, the text otherwise."""
    if answer is None or answer.status == AnswerStatus.SKIPPED:
        return None
    if question.kind in {"choice", "multi", "review"} and (
        question.kind == "review" or question.is_chosen(answer.value)
    ):
        labels = {o.id: o.label for o in question.options}
        return "; ".join(labels.get(v, v) for v in (answer.value or "").split(",") if v)
    return answer.value


def action_dict(action: Action) -> dict[str, Any]:
    return {
        "what": action.what,
        "owner": action.owner,
        "due_on": action.due_on.isoformat() if action.due_on else None,
        "contingency": action.contingency,
        "meanwhile": action.meanwhile,
    }


def is_none_answer(text: str) -> bool:
    """A plain "none", "no" or "nothing": a complete answer, and nothing to act on."""
    return text.strip().lower().rstrip(".!") in NONE_WORDS


def is_thin(question: Question, text: str) -> bool:
    """A short answer is thin, unless it is a plain "none" or "no": that is complete."""
    if question.kind != "text":
        return False
    if text.strip().lower().rstrip(".!") in NONE_WORDS:
        return False
    return len(text.split()) < question.thin_below


@dataclass(frozen=True)
class CaseContext:
    """The case around a reflection, for the supervisor's copy."""

    opened_on: str
    days_open: int
    earlier_count: int
    earlier_scales: Sequence[int]
    earlier_actions: Sequence[Action]
    earlier_on: datetime | None


def active_minutes(
    started_at: datetime, answered: Sequence[datetime], completed_at: datetime
) -> int:
    """Minutes spent answering: the gaps between answers, each counted up to ACTIVE_GAP."""
    times = sorted([started_at, *answered, completed_at])
    spent = sum(
        (min(later - earlier, ACTIVE_GAP) for earlier, later in pairwise(times)),
        timedelta(),
    )
    return max(1, round(spent.total_seconds() / 60))


LEAD_RULE = "lead_not_consulted"
LEAD_QUIET_FROM_SCALE = 8


def build_summary(
    *,
    questions: QuestionSet,
    facts: Facts,
    path: Sequence[Question],
    answers: Mapping[str, StoredAnswer],
    actions: Sequence[Action],
    case_ref: str,
    case: CaseContext,
    practitioner_id: str,
    completed_at: datetime,
    supervisor_id: str | None,
    lead_ids: Sequence[str],
    agency_name: str | None,
    lead: Mapping[str, Any],
) -> dict[str, Any]:
    """A JSON-able snapshot; templates render it for each reader and front end."""
    plan = [action_dict(a) for a in actions if a.status == ActionStatus.COMPLETE]
    plan_theme = next((q.theme for q in path if q.kind == "plan"), None)

    def text_of(question_id: str) -> str | None:
        question = questions.questions.get(question_id)
        if question is None or all(q.id != question_id for q in path):
            return None
        return display_answer(question, answers.get(question_id))

    themes: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    skipped_themes: list[str] = []
    for theme in questions.themes:
        in_theme = [q for q in path if q.theme == theme.id]
        if not in_theme:
            continue
        entries = []
        thin = False
        for question in in_theme:
            if question.kind == "plan":
                continue
            shown = display_answer(question, answers.get(question.id))
            if shown is not None:  # skipped answers show as gaps and unknowns, not here
                entries.append({"question": question.label, "answer": shown})
            if shown is not None and is_thin(question, shown):
                thin = True
        skipped = all(
            answers.get(q.id) is None or answers[q.id].status == AnswerStatus.SKIPPED
            for q in in_theme
        )
        if theme.id == plan_theme and not plan:
            skipped = True
        themes.append({"id": theme.id, "title": theme.title, "entries": entries})
        if skipped:
            skipped_themes.append(theme.id)
        if (skipped or thin) and not any(q.core for q in in_theme if _unanswered(q, answers, plan)):
            gaps.append(
                {
                    "theme": theme.title,
                    "reason": "skipped" if skipped else "thin",
                    "prompt": theme.gap,
                }
            )

    fired = questions.fired(facts)
    scale = _scale(answers)
    # One lead prompt at most, and none for a child judged safe enough with nothing flagged.
    lead_quiet = (
        scale is not None
        and scale >= LEAD_QUIET_FROM_SCALE
        and all(f.rule == LEAD_RULE for f in fired)
    )
    if lead_quiet:
        fired = [f for f in fired if f.rule != LEAD_RULE]
    flags = [f.as_dict() for f in fired]
    unknowns = [
        {
            "theme": questions.theme(q.theme).title,
            "question": q.label,
            "prompt": q.unknown or questions.theme(q.theme).gap,
        }
        for q in path
        if q.core
        and (
            (q.kind == "plan" and not plan)
            or (
                q.kind != "plan"
                and (answers.get(q.id) is None or answers[q.id].status == AnswerStatus.SKIPPED)
            )
        )
    ]
    earlier_statuses = list(facts.answers.get("last_plan", AnswerState(True)).choices)
    earlier_actions = [
        {
            "what": a.what,
            "due_on": a.due_on.isoformat() if a.due_on else None,
            "status": (earlier_statuses[i] if i < len(earlier_statuses) else None) or None,
        }
        for i, a in enumerate(case.earlier_actions)
    ]
    done = sum(1 for a in earlier_actions if a["status"] in CLOSED_REVIEWS)
    role = questions.role(facts.role)
    return {
        "case_ref": case_ref,
        "practitioner_id": practitioner_id,
        "completed_at": completed_at.isoformat(),
        "question_set_version": questions.version,
        "role": role.id,
        "role_title": role.title,
        "repeat": facts.repeat,
        "first_screen": {
            "purpose": text_of("purpose"),
            "worry": text_of("worry"),
            "scale": scale,
            "scale_before": case.earlier_scales[-1] if case.earlier_scales else None,
            "see_alone": _see_alone(fired),
            "look_for": _look_for(fired),
            "today": _today_line(fired, text_of("today_next")),
        },
        "lead_quiet": lead_quiet,
        "themes": themes,
        "gaps": gaps,
        "skipped_themes": skipped_themes,
        "flags": flags,
        "flags_by_when": {
            when: [f for f in flags if f["matters"] == when]
            for when in ("today", "visit", "supervision")
        },
        "unknowns": unknowns,
        "working_well": text_of("working_well"),
        "actions": plan,
        "earlier_actions": earlier_actions,
        "context": {
            "days_open": case.days_open,
            "opened_on": case.opened_on,
            "reflections_so_far": case.earlier_count + 1,
            "scale_trend": [*case.earlier_scales, *([scale] if scale is not None else [])],
            "earlier_actions_done": (
                f"{done} of {len(earlier_actions)}" if earlier_actions else None
            ),
            "earlier_on": case.earlier_on.isoformat() if case.earlier_on else None,
        },
        "supervisor_ask": _choice(answers, "supervisor_ask"),
        "decision_needed": text_of("decision_needed"),
        "lead": dict(lead),
        "supervisor_id": supervisor_id,
        "lead_ids": list(lead_ids),
        "agency_name": agency_name,
    }


def _unanswered(
    question: Question, answers: Mapping[str, StoredAnswer], plan: Sequence[Any]
) -> bool:
    if question.kind == "plan":
        return not plan
    answer = answers.get(question.id)
    return answer is None or answer.status == AnswerStatus.SKIPPED


def _scale(answers: Mapping[str, StoredAnswer]) -> int | None:
    answer = answers.get("scale")
    if (
        answer is None
        or answer.status != AnswerStatus.ANSWERED
        or not (answer.value or "").isdigit()
    ):
        return None
    return int(answer.value or 0)


def _choice(answers: Mapping[str, StoredAnswer], question_id: str) -> str | None:
    answer = answers.get(question_id)
    return answer.value if answer is not None and answer.status == AnswerStatus.ANSWERED else None


def _look_for(fired: Sequence[Fired]) -> list[str]:
    """What to look for on the visit: each flag's own words for it, once."""
    seen: list[str] = []
    for flag in fired:
        wanted = flag.look_for if flag.matters in {"today", "visit"} else None
        if wanted and wanted not in seen:
            seen.append(wanted)
    return seen


def _today_line(fired: Sequence[Fired], next_hour: str | None) -> str | None:
    """The one line above everything when something is for today: what the practitioner said
    they would do (with any time they gave), else what the first flag for today is about."""
    today = [f for f in fired if f.matters == "today"]
    if not today:
        return None
    if next_hour:
        return next_hour
    return ", ".join(dict.fromkeys(f.title or f.text for f in today))


def _see_alone(fired: Sequence[Fired]) -> list[str]:
    seen: list[str] = []
    for flag in fired:
        if flag.see_alone and flag.see_alone not in seen:
            seen.append(flag.see_alone)
    return seen
