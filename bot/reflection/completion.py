"""Completing a reflection: the summary and what is kept beside it, the safeguarding lead's
outcome, and the last plan's actions reviewed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from bot.reflection.context import Context, new_action
from bot.reflection.messages import Completion, Reply
from bot.reflection.questions import Facts, QuestionSet
from bot.reflection.summary import CaseContext, active_minutes, build_summary
from storage.statuses import (
    CLOSED_REVIEWS,
    ActionStatus,
    AnswerStatus,
    LeadStatus,
    ReflectionStatus,
    ReviewStatus,
)


def complete(
    session: Session,
    context: Context,
    reply: Reply,
    *,
    questions: QuestionSet,
    facts_of: Callable[[Context], Facts],
    org: dict[str, Any],
    audience: dict[str, Any],
    now: datetime,
) -> None:
    """Complete the reflection: its summary, the plain columns a partnership counts, the last
    plan's review, and what the reply says and who receives the summary."""
    reflection = context.reflection
    lead = lead_outcome(session, context, questions)
    facts = facts_of(context)
    path = questions.path(facts)
    earlier = context.earlier
    summary = build_summary(
        questions=questions,
        facts=facts,
        path=path,
        answers=context.answers,
        actions=context.actions,
        case_ref=context.case.ref,
        case=CaseContext(
            opened_on=context.case.opened_on.isoformat(),
            days_open=facts.case_open_days,
            earlier_count=facts.earlier_count,
            earlier_scales=facts.scales,
            earlier_actions=context.earlier_actions,
            earlier_on=earlier.last_completed_at if earlier else None,
        ),
        practitioner_id=reflection.practitioner_id,
        completed_at=now,
        supervisor_id=org["supervisor_id"],
        lead_ids=org["lead_ids"],
        agency_name=org["agency_name"],
        lead=lead,
    )
    record_review(session, context, facts, now)
    reflection.status = ReflectionStatus.COMPLETED
    reflection.completed_at = now
    reflection.current_question = None
    reflection.current_step = None
    reflection.summary = summary
    reflection.supervisor_id = org["supervisor_id"]
    # Plain columns a partnership can count without decrypting anything.
    reflection.rules_fired = ",".join(f["rule"] for f in summary["flags"]) or None
    reflection.themes_skipped = ",".join(summary["skipped_themes"]) or None
    reflection.scale = summary["first_screen"]["scale"]
    reflection.minutes = active_minutes(
        reflection.started_at, [a.answered_at for a in context.answers.values()], now
    )
    reflection.lead_status = lead["status"]
    reflection.supervisor_ask = summary["supervisor_ask"]
    if lead["status"] in {
        LeadStatus.RECENTLY,
        LeadStatus.PLANNED,
        LeadStatus.IS_LEAD,
        LeadStatus.NOT_NEEDED,
    }:
        # Nothing for the clock to follow up: they talked, it is in the plan, or they lead.
        reflection.lead_contact_confirmed_at = now
    session.add(reflection)
    reply.completion = Completion(
        reflection_id=reflection.id or 0,
        case_ref=context.case.ref,
        practitioner_id=reflection.practitioner_id,
        supervisor_id=org["supervisor_id"],
        lead_ids=tuple(org["lead_ids"]),
        leads_see_summaries=org["leads_see_summaries"],
        summary=summary,
    )
    reply.say("completed", **audience)
    reply.say("summary", summary=summary, audience="practitioner")
    if lead["status"] in {"not_yet", "skipped"} and not summary["lead_quiet"]:
        reply.say(
            "lead_reminder",
            case_ref=context.case.ref,
            lead_ids=org["lead_ids"],
            in_organisation=org["in_organisation"],
            agency_name=org["agency_name"],
        )


def lead_outcome(session: Session, context: Context, questions: QuestionSet) -> dict[str, Any]:
    """What the practitioner said about their safeguarding lead; "arranged" with a date
    becomes an action in the plan, so the clock reminds them on the day."""
    if context.reflection.lead_status == LeadStatus.IS_LEAD:
        return {"status": LeadStatus.IS_LEAD, "on": None}
    answer = context.answers.get("lead_contact")
    status = answer.value if answer is not None and answer.status == AnswerStatus.ANSWERED else None
    when = context.answers.get("lead_when")
    on = when.value if when is not None and when.status == AnswerStatus.ANSWERED else None
    if status == "planned" and on:
        action = new_action(session, context)
        action.what = questions.settings.lead_action
        action.kind = questions.action_kind(action.what)
        action.owner_person_id = context.reflection.practitioner_id
        action.due_on = date.fromisoformat(on)
        action.contingency = questions.settings.lead_action_contingency
        action.status = ActionStatus.COMPLETE
        session.add(action)
    return {"status": status or "skipped", "on": on}


def record_review(session: Session, context: Context, facts: Facts, now: datetime) -> None:
    """The last plan's actions take the status this reflection gave them; done or no
    longer needed ones are closed, so the clock stops reminding anyone of them."""
    statuses = facts.answers.get("last_plan")
    if statuses is None or statuses.skipped:
        return
    for action, status in zip(context.earlier_actions, statuses.choices, strict=False):
        if status not in set(ReviewStatus):
            continue
        action.review_status = ReviewStatus(status)
        if status in CLOSED_REVIEWS and action.done_at is None:
            action.done_at = now
        session.add(action)
