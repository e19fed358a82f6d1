"""A reflection as one call sees it: loaded once, with its case, answers and plan, and for a
repeat the last reflection's."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from bot.reflection.questions import Question
from storage.models import Action, Case, Reflection
from storage.reflections import Earlier, StoredAnswer
from storage.statuses import ActionStatus


@dataclass(frozen=True)
class Context:
    """Everything one call needs about a reflection, loaded once."""

    reflection: Reflection
    case: Case
    answers: dict[str, StoredAnswer]
    actions: list[Action]
    # A repeat reflection: the case's completed ones, and the last one's answers and plan.
    earlier: Earlier | None = None
    earlier_answers: dict[str, StoredAnswer] = field(default_factory=dict)
    earlier_actions: list[Action] = field(default_factory=list)
    # Whether the practitioner has completed a reflection before, when read with the rest.
    completed_before: bool | None = None


def draft_action(context: Context) -> Action | None:
    return next((a for a in context.actions if a.status == ActionStatus.DRAFT), None)


def complete_count(context: Context) -> int:
    return sum(1 for a in context.actions if a.status == ActionStatus.COMPLETE)


def first_step(question: Question) -> str | None:
    return {"plan": "what", "review": "0"}.get(question.kind)


def review_statuses(context: Context, question: Question) -> list[str]:
    total = len(context.earlier_actions)
    answer = context.answers.get(question.id)
    stored = (answer.value or "").split(",") if answer is not None and answer.value else []
    statuses = [("" if v == "skipped" else v) for v in stored][:total]
    return statuses + [""] * (total - len(statuses))


def new_action(session: Session, context: Context) -> Action:
    """A new draft action at the end of the plan, with its id."""
    action = Action(
        reflection_id=context.reflection.id or 0,
        position=len(context.actions) + 1,
        status=ActionStatus.DRAFT,
    )
    session.add(action)
    session.flush()
    context.actions.append(action)
    return action
