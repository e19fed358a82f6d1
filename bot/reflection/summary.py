"""The summary of a completed reflection: answers by theme, gaps, flags, the plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.reflection.questions import AnswerState, Question, QuestionSet
from storage.models import Action
from storage.reflections import StoredAnswer


def answer_state(question: Question, answer: StoredAnswer) -> AnswerState:
    if answer.status == "skipped":
        return AnswerState(skipped=True)
    value = answer.value or ""
    if question.kind in {"choice", "multi"}:
        return AnswerState(skipped=False, choices=tuple(v for v in value.split(",") if v))
    return AnswerState(skipped=False, text=value)


def display_answer(question: Question, answer: StoredAnswer | None) -> str | None:
    """An answer as a person reads it: option labels for choices, the text otherwise."""
    if answer is None or answer.status == "skipped":
        return None
    if question.kind in {"choice", "multi"}:
        labels = {o.id: o.label for o in question.options}
        return "; ".join(labels.get(v, v) for v in (answer.value or "").split(",") if v)
    return answer.value


def action_dict(action: Action) -> dict[str, Any]:
    return {
        "what": action.what,
        "owner": action.owner,
        "due_on": action.due_on.isoformat() if action.due_on else None,
        "contingency": action.contingency,
    }


def is_thin(question: Question, text: str) -> bool:
    return question.kind == "text" and len(text.split()) < question.thin_below


def build_summary(
    *,
    questions: QuestionSet,
    path: Sequence[Question],
    answers: Mapping[str, StoredAnswer],
    actions: Sequence[Action],
    case_ref: str,
    practitioner_id: str,
    completed_at: datetime,
    supervisor_id: str | None,
    lead_ids: Sequence[str],
    agency_name: str | None,
) -> dict[str, Any]:
    """A JSON-able snapshot; templates render it for each reader and front end."""
    states = {q.id: answer_state(q, answers[q.id]) for q in path if q.id in answers}
    plan = [action_dict(a) for a in actions if a.status == "complete"]

    themes: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    for theme in questions.themes:
        in_theme = [q for q in path if q.theme == theme.id]
        entries = []
        thin = False
        for question in in_theme:
            answer = answers.get(question.id)
            if question.kind == "plan":
                continue
            shown = display_answer(question, answer)
            entries.append({"question": question.label, "answer": shown})
            if shown is not None and is_thin(question, shown):
                thin = True
        skipped = all(
            (answers.get(q.id) is None or answers[q.id].status == "skipped") for q in in_theme
        )
        if theme.id == questions_plan_theme(questions) and not plan:
            skipped = True
        themes.append({"id": theme.id, "title": theme.title, "entries": entries})
        if skipped or thin:
            gaps.append(
                {
                    "theme": theme.title,
                    "reason": "skipped" if skipped else "thin",
                    "prompt": theme.gap,
                }
            )

    flags = [{"rule": r.id, "text": r.flag} for r in questions.flags(states, plan)]
    return {
        "case_ref": case_ref,
        "practitioner_id": practitioner_id,
        "completed_at": completed_at.isoformat(),
        "question_set_version": questions.version,
        "themes": themes,
        "gaps": gaps,
        "flags": flags,
        "actions": plan,
        "supervisor_id": supervisor_id,
        "lead_ids": list(lead_ids),
        "agency_name": agency_name,
    }


def questions_plan_theme(questions: QuestionSet) -> str | None:
    return next((q.theme for q in questions.questions.values() if q.kind == "plan"), None)
