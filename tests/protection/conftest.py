"""Fixtures for the data-protection tests: an organisation, and whole reflections."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot import casework
from bot.admin.organisation import parse_organisation
from bot.protection.screened import Guard
from bot.requests import Requests
from storage import organisation as org_queries
from storage.db import SessionFactory, transaction
from tests.conftest import FixedClock

EXAMPLE_ANSWERS = Path(__file__).resolve().parents[2] / "examples" / "demo-answers.txt"

PRACTITIONER = "U0TESTPRAC"
SUPERVISOR = "U0TESTSUPV"
LEAD = "U0TESTLEAD"
OTHER_PRACTITIONER = "U0TESTOTHR"
STRANGER = "U0TESTSTRN"

ORGANISATION = """\
agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [U0TESTLEAD]
    leads_see_summaries: {leads_see}
people:
  - slack_id: U0TESTSUPV
    agency: csc
    role: supervisor
  - slack_id: U0TESTPRAC
    agency: csc
    role: practitioner
    supervisor: U0TESTSUPV
  - slack_id: U0TESTOTHR
    agency: csc
    role: practitioner
    supervisor: U0TESTSUPV
  - slack_id: U0TESTLEAD
    agency: csc
    role: lead
"""


def example_answers() -> list[str]:
    return EXAMPLE_ANSWERS.read_text(encoding="utf-8").splitlines()


def load_org(new_session: SessionFactory, *, leads_see: bool = False, extra: str = "") -> None:
    text = ORGANISATION.format(leads_see="true" if leads_see else "false")
    if extra:
        text = text.replace("    leads_see_summaries:", extra + "    leads_see_summaries:", 1)
    agencies, leads, people = parse_organisation(text)
    with transaction(new_session) as session:
        org_queries.replace_organisation(
            session=session, agencies=agencies, leads=leads, people=people
        )


RunReflection = Callable[..., int]


@pytest.fixture
def service(new_session: SessionFactory, clock: FixedClock) -> Requests:
    return Requests(new_session, now=clock, records=False)


@pytest.fixture
def run_reflection(service: Requests) -> RunReflection:
    """Complete a whole reflection; its first written answer (the purpose and worry, after
    today's "no") can be replaced. Returns its id."""

    def run(
        *,
        case_ref: str = "CSC-1001",
        practitioner_id: str = PRACTITIONER,
        first_answer: str | None = None,
    ) -> int:
        answers = example_answers()
        if first_answer is not None:
            answers[1] = first_answer
        reply = service.start(practitioner_id=practitioner_id, case_ref=case_ref)
        for text in answers:
            reply = service.respond(practitioner_id=practitioner_id, text=text)
        assert reply.status == "completed", reply.messages[-1]
        assert reply.reflection_id is not None
        return reply.reflection_id

    return run


def add_note(
    new_session: SessionFactory,
    *,
    author_id: str,
    reflection_id: int,
    text: str,
    now: datetime,
    guard: Guard | None = None,
) -> casework.CaseworkResult:
    """A supervisor's note through casework, in a transaction of its own."""
    with transaction(new_session) as session:
        return casework.add_note(
            session=session,
            reflection_id=reflection_id,
            actor=author_id,
            text=text,
            now=now,
            guard=guard,
        )


def view_summary(
    new_session: SessionFactory, *, viewer_id: str, reflection_id: int, now: datetime
) -> dict[str, Any] | None:
    with transaction(new_session) as session:
        return casework.view_summary(
            session=session, viewer_id=viewer_id, reflection_id=reflection_id, now=now
        )


def case_history(
    new_session: SessionFactory, *, viewer_id: str, case_ref: str, now: datetime
) -> casework.History:
    with transaction(new_session) as session:
        return casework.case_history(
            session=session, case_ref=case_ref, viewer=viewer_id, now=now, limit=5, via="test"
        )
