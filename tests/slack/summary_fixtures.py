"""Completed reflections made directly in the database, with their summaries delivered to Slack
as a completion delivers them, so the supervisor's buttons can be tested whatever the
conversation asks on the way."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

from bot.messaging.replies import record_completion, record_reply
from bot.reflection.messages import Completion, Reply, Said
from storage.db import transaction
from storage.models import Case, Reflection
from tests.slack.conftest import LEAD, PRACTITIONER, SUPERVISOR, SlackDriver

COMPLETED_AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)

# A summary as bot/reflection/summary.py builds it since the first screen (issue 14).
NEW_SUMMARY: dict[str, Any] = {
    "case_ref": "CSC-7001",
    "practitioner_id": PRACTITIONER,
    "completed_at": COMPLETED_AT.isoformat(),
    "question_set_version": "3",
    "role": "health_visitor",
    "role_title": "health visitor",
    "repeat": True,
    "themes": [
        {
            "id": "purpose",
            "title": "The visit",
            "entries": [
                {"question": "What is this visit for?", "answer": "Weigh the baby & <!here>"},
                {"question": "What else might explain it?", "answer": None},
            ],
        },
        {
            "id": "household",
            "title": "Household",
            "entries": [{"question": "Who lives there", "answer": "Mum, baby, a new partner"}],
        },
    ],
    "gaps": [],
    "first_screen": {
        "purpose": "Weigh the baby and see where she sleeps",
        "worry": "Mum drinks in the evenings",
        "scale": 4,
        "scale_before": 3,
        "see_alone": ["Mum"],
        "look_for": ["Where the baby sleeps", "Bottles"],
    },
    "flags": [
        {
            "rule": "alcohol_baby",
            "text": 'Alcohol and a baby: you wrote "a couple of glasses the night before"',
            "matters": "visit",
            "title": "Alcohol and a baby",
            "quote": "a couple of glasses the night before",
        },
        {
            "rule": "drift_scale",
            "text": "The scale has not risen across three reflections",
            "matters": "supervision",
            "title": None,
            "quote": None,
        },
    ],
    "unknowns": [
        {
            "theme": "sources",
            "question": "Who you have heard from",
            "prompt": "Ask which agencies have been in touch.",
        }
    ],
    "working_well": "Mum has kept every clinic appointment",
    "actions": [
        {
            "what": "Ask the GP about mum's drinking",
            "owner": "me",
            "due_on": "2026-12-04",
            "contingency": "Raise it with the duty manager",
            "meanwhile": "The nursery nurse visits on Monday",
        }
    ],
    "earlier_actions": [
        {"what": "Book the baby's check", "due_on": "2026-11-01", "status": "done"},
        {"what": "Meet the new partner", "due_on": None, "status": "not_done"},
        {"what": "Talk to the nursery", "due_on": None, "status": "done"},
    ],
    "context": {
        "days_open": 240,
        "reflections_so_far": 3,
        "scale_trend": [3, 4, 4],
        "earlier_actions_done": "2 of 3",
    },
    "supervisor_ask": "call_before_visit",
    "decision_needed": None,
    "lead": {"status": "recently", "on": None},
    "supervisor_id": SUPERVISOR,
    "lead_ids": [LEAD],
    "agency_name": "Children's Social Care",
}

NEW_SUMMARY["flags_by_when"] = {
    "today": [],
    "visit": [NEW_SUMMARY["flags"][0]],
    "supervision": [NEW_SUMMARY["flags"][1]],
}

# A summary stored before issue 14: none of the new keys.
OLD_SUMMARY: dict[str, Any] = {
    "case_ref": "CSC-7002",
    "practitioner_id": PRACTITIONER,
    "completed_at": COMPLETED_AT.isoformat(),
    "question_set_version": "2",
    "themes": [
        {
            "id": "lived_experience",
            "title": "Lived experience of the child",
            "entries": [{"question": "The child's day", "answer": "Nursery, then home to nan's"}],
        }
    ],
    "gaps": [{"theme": "History", "reason": "skipped", "prompt": "Read the chronology"}],
    "flags": [{"rule": "not_seen_alone", "text": "The child was not seen on their own."}],
    "actions": [
        {"what": "Visit again", "owner": "me", "due_on": "2026-12-01", "contingency": "Call school"}
    ],
    "supervisor_id": SUPERVISOR,
    "lead_ids": [],
    "agency_name": None,
}


def summary_like(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    summary = copy.deepcopy(base)
    summary.update(changes)
    return summary


def completed_reflection(
    slack: SlackDriver,
    summary: dict[str, Any],
    *,
    practitioner: str = PRACTITIONER,
    supervisor: str | None = SUPERVISOR,
    leads_see: bool = False,
    rules_fired: str | None = None,
    completed_at: datetime = COMPLETED_AT,
) -> int:
    """A completed reflection holding ``summary``; its practitioner's summary (with Show the
    answers) and the supervisor's copy (and the leads', if shared) recorded and delivered."""
    now = slack.clock()
    with transaction(slack.new_session) as session:
        case = Case(
            ref=summary["case_ref"],
            practitioner_id=practitioner,
            opened_on=date(2026, 4, 1),
            created_at=now,
        )
        session.add(case)
        session.flush()
        reflection = Reflection(
            case_id=case.id or 0,
            practitioner_id=practitioner,
            status="completed",
            question_set_version=summary["question_set_version"],
            started_at=completed_at,
            updated_at=completed_at,
            completed_at=completed_at,
            summary=summary,
            supervisor_id=supervisor,
            rules_fired=rules_fired,
        )
        session.add(reflection)
        session.flush()
        rid = reflection.id or 0
        reply = Reply(
            messages=[Said("summary", {"summary": summary, "audience": "practitioner"})],
            reflection_id=rid,
            status="completed",
        )
        record_reply(
            session, recipient=practitioner, reply=reply, key=f"test-done:{rid}", now=slack.clock()
        )
        completion = Completion(
            reflection_id=rid,
            case_ref=summary["case_ref"],
            practitioner_id=practitioner,
            supervisor_id=supervisor,
            lead_ids=(LEAD,),
            leads_see_summaries=leads_see,
            summary=summary,
        )
        record_completion(session, completion, now=now)
    slack.deliver()
    return rid
