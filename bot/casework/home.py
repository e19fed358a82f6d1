"""What a person's home screen shows: their own work, and their team's if they supervise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.casework.cases import CaseLine, open_cases
from bot.casework.results import local_day
from storage import casework as queries
from storage import reflections as reflection_queries

HOME_CASES = 20


@dataclass(frozen=True)
class InProgress:
    case_ref: str
    status: str
    started_on: date


@dataclass(frozen=True)
class ActionDue:
    case_ref: str
    what: str
    due_on: date | None
    overdue: bool


@dataclass(frozen=True)
class AwaitingAcknowledgement:
    practitioner_id: str
    case_ref: str
    completed_at: datetime | None


@dataclass(frozen=True)
class Home:
    in_progress: list[InProgress]
    cases: list[CaseLine]
    actions_due: list[ActionDue]
    awaiting: list[AwaitingAcknowledgement]

    def data(self) -> dict[str, Any]:
        """The home template's data."""
        return {
            "in_progress": self.in_progress,
            "cases": self.cases,
            "actions_due": self.actions_due,
            "awaiting": self.awaiting,
        }


def home(*, session: Session, user_id: str, now: datetime, zone: ZoneInfo) -> Home:
    today = local_day(now, zone)
    return Home(
        in_progress=[
            InProgress(case.ref, r.status, local_day(r.started_at, zone))
            for r, case in reflection_queries.open_reflections_of(
                session=session, practitioner_id=user_id
            )
        ],
        cases=open_cases(session=session, practitioner_id=user_id, now=now, zone=zone)[:HOME_CASES],
        actions_due=[
            ActionDue(
                case.ref,
                action.what or "",
                action.due_on,
                action.due_on is not None and action.due_on < today,
            )
            for action, case in queries.actions_due_of(session=session, practitioner_id=user_id)
        ],
        awaiting=[
            AwaitingAcknowledgement(r.practitioner_id, case.ref, r.completed_at)
            for r, case in queries.awaiting_acknowledgement(session=session, supervisor_id=user_id)
        ],
    )
