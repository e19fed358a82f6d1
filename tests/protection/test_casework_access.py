"""Casework asked directly, as any front end asks it: each request is refused to whoever the
access rule refuses, the refusal changes nothing and is audited, and whatever a supervisor
writes (a note or a decision) goes through the identifier guard."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from bot import access, casework
from bot.protection.identifiers import IdentifierGuard
from bot.protection.screened import Screened
from storage.db import SessionFactory, transaction
from storage.models import (
    AuditEntry,
    Case,
    Reflection,
    SupervisorDecision,
    SupervisorNote,
)
from tests.protection.conftest import (
    LEAD,
    OTHER_PRACTITIONER,
    PRACTITIONER,
    STRANGER,
    SUPERVISOR,
    RunReflection,
    case_history,
    load_org,
)

Request = Callable[..., casework.CaseworkResult]
LONDON = ZoneInfo("Europe/London")


def _audit(new_session: SessionFactory) -> list[tuple[str, str, str]]:
    with new_session() as session:
        return [
            (e.actor, e.action, e.subject)
            for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))
        ]


def _reflection(new_session: SessionFactory, reflection_id: int) -> Reflection:
    with new_session() as session:
        reflection = session.get(Reflection, reflection_id)
        assert reflection is not None
        return reflection


def _written(new_session: SessionFactory) -> int:
    with new_session() as session:
        notes = session.exec(select(func.count()).select_from(SupervisorNote)).one()
        decisions = session.exec(select(func.count()).select_from(SupervisorDecision)).one()
    return notes + decisions


def _note(**request: Any) -> casework.CaseworkResult:
    return casework.add_note(text="Agreed: joint visit.", **request)


def _decision(**request: Any) -> casework.CaseworkResult:
    return casework.record_decision(text="Strategy discussion today.", **request)


def _answers(**request: Any) -> casework.CaseworkResult:
    return casework.show_answers(shown_under="1.1", **request)


# (request, who is refused, who may, what a refusal is audited as, the column it would set)
REQUESTS: dict[str, tuple[Request, tuple[str, ...], str, str, str | None]] = {
    "acknowledge": (
        casework.acknowledge,
        (PRACTITIONER, LEAD, OTHER_PRACTITIONER, STRANGER),
        SUPERVISOR,
        "acknowledge_refused",
        "acknowledged_at",
    ),
    "call_promised": (
        casework.promise_call,
        (PRACTITIONER, LEAD, OTHER_PRACTITIONER, STRANGER),
        SUPERVISOR,
        "call_promised_refused",
        "call_promised_at",
    ),
    "note": (
        _note,
        (PRACTITIONER, LEAD, OTHER_PRACTITIONER, STRANGER),
        SUPERVISOR,
        "note_refused",
        None,
    ),
    "decision": (
        _decision,
        (PRACTITIONER, LEAD, OTHER_PRACTITIONER, STRANGER),
        SUPERVISOR,
        "decision_refused",
        None,
    ),
    "lead_contact": (
        casework.confirm_lead_contact,
        (SUPERVISOR, LEAD, OTHER_PRACTITIONER, STRANGER),
        PRACTITIONER,
        "lead_contact_refused",
        "lead_contact_confirmed_at",
    ),
    "answers": (_answers, (LEAD, OTHER_PRACTITIONER, STRANGER), LEAD, "view_refused", None),
}


def _allowed_by_rule(name: str, session: Any, actor: str, reflection: Reflection) -> bool:
    if name == "lead_contact":
        return access.can_confirm_lead_contact(actor=actor, reflection=reflection)
    if name == "answers":
        return access.can_see_answers(session=session, viewer_id=actor, reflection=reflection)
    return access.can_supervise(session=session, actor=actor, reflection=reflection)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_each_request_about_a_reflection_is_refused_to_whoever_the_rule_refuses(
    new_session: SessionFactory, run_reflection: RunReflection, clock, name: str
) -> None:
    request, refused, allowed, audited, column = REQUESTS[name]
    # Leads do not see summaries unless the agency says so; for the answers the one allowed
    # here is the lead of an agency that does, so the same person is refused first.
    load_org(new_session, leads_see=False)
    reflection_id = run_reflection()
    for actor in refused:
        with transaction(new_session) as session:
            reflection = session.get(Reflection, reflection_id)
            assert reflection is not None
            assert not _allowed_by_rule(name, session, actor, reflection)
            outcome = request(
                session=session, reflection_id=reflection_id, actor=actor, now=clock()
            )
        assert outcome.refusal is not None and outcome.notices == []
        assert (actor, audited, f"reflection:{reflection_id}") in _audit(new_session)
        if column is not None:
            assert getattr(_reflection(new_session, reflection_id), column) is None
    assert _written(new_session) == 0

    if name == "answers":
        load_org(new_session, leads_see=True)
    with transaction(new_session) as session:
        outcome = request(session=session, reflection_id=reflection_id, actor=allowed, now=clock())
    assert outcome.done and outcome.notices
    if column is not None:
        assert getattr(_reflection(new_session, reflection_id), column) is not None


def test_a_missing_reflection_is_refused_like_one_the_person_may_not_touch(
    new_session: SessionFactory, clock
) -> None:
    for name, (request, *_rest) in REQUESTS.items():
        with transaction(new_session) as session:
            outcome = request(session=session, reflection_id=4242, actor=SUPERVISOR, now=clock())
        assert outcome.refusal is not None, name
    assert _written(new_session) == 0


@pytest.mark.parametrize("actor", [LEAD, OTHER_PRACTITIONER, STRANGER])
def test_closing_a_case_is_refused_to_whoever_the_rule_refuses(
    new_session: SessionFactory, run_reflection: RunReflection, clock, actor: str
) -> None:
    load_org(new_session, leads_see=True)
    run_reflection()
    with transaction(new_session) as session:
        case = session.exec(select(Case)).one()
        assert not access.can_close_case(session=session, actor=actor, case=case)
        said = casework.close_case(
            session=session, case_ref="csc-1001", actor=actor, now=clock(), zone=LONDON
        )
    assert (said.template, said.data["found"], said.data["already"]) == (
        "notices/close_refused",
        True,
        False,
    )
    with new_session() as session:
        assert session.exec(select(Case)).one().closed_on is None

    with transaction(new_session) as session:
        done = casework.close_case(
            session=session, case_ref="CSC-1001", actor=SUPERVISOR, now=clock(), zone=LONDON
        )
    assert done.template == "notices/case_closed_done"


@pytest.mark.parametrize("viewer", [LEAD, OTHER_PRACTITIONER, STRANGER])
def test_a_cases_history_is_refused_to_whoever_the_rule_refuses(
    new_session: SessionFactory, run_reflection: RunReflection, clock, viewer: str
) -> None:
    load_org(new_session)
    run_reflection()
    refused = case_history(new_session, viewer_id=viewer, case_ref="CSC-1001", now=clock())
    assert not refused.allowed and refused.summaries == [] and refused.total == 0
    assert _audit(new_session) == [(viewer, "view_refused", "case:CSC-1001")]
    shown = case_history(new_session, viewer_id=SUPERVISOR, case_ref="CSC-1001", now=clock())
    assert shown.allowed and shown.total == 1


ADMINISTRATION: dict[str, tuple[Callable[..., object], dict[str, str], str]] = {
    "export": (casework.export_case, {"case_ref": "CSC-1001"}, "case:CSC-1001"),
    "history": (casework.administrator_history, {"case_ref": "CSC-1001"}, "case:CSC-1001"),
    "erase case": (casework.erase_case, {"case_ref": "CSC-1001"}, "case:CSC-1001"),
    "erase person": (casework.erase_person, {"person_id": PRACTITIONER}, f"person:{PRACTITIONER}"),
}


@pytest.mark.parametrize("name", sorted(ADMINISTRATION))
def test_exports_erasures_and_whole_histories_are_for_the_administrator_only(
    new_session: SessionFactory, run_reflection: RunReflection, clock, name: str
) -> None:
    load_org(new_session)
    reflection_id = run_reflection()
    work, target, subject = ADMINISTRATION[name]
    for actor in (SUPERVISOR, PRACTITIONER, "cli"):  # "cli" is no administrator's name
        assert not access.is_administrator(actor)
        with pytest.raises(casework.NotPermitted):
            work(new_session, actor=actor, now=clock(), **target)
    assert [(a, act.endswith("_refused"), s) for a, act, s in _audit(new_session)] == [
        (SUPERVISOR, True, subject),
        (PRACTITIONER, True, subject),
        ("cli", True, subject),
    ]
    assert _reflection(new_session, reflection_id).status == "completed"  # nothing erased

    work(new_session, actor=access.administrator("test"), now=clock(), **target)
    assert _audit(new_session)[-1][0] == "cli:test"


class RecordingGuard:
    """The real guard, noting what it was asked to screen."""

    def __init__(self) -> None:
        self.screened: list[str] = []
        self.inner = IdentifierGuard()

    def screen(self, text: str, *, options: Mapping[str, Any]) -> Screened:
        self.screened.append(text)
        return self.inner.screen(text, options=options)


@pytest.mark.parametrize(
    ("write", "kind", "model"),
    [
        (casework.add_note, "note", SupervisorNote),
        (casework.record_decision, "decision", SupervisorDecision),
    ],
)
def test_a_supervisors_note_and_decision_go_through_the_identifier_guard(
    new_session: SessionFactory,
    run_reflection: RunReflection,
    clock,
    write: Request,
    kind: str,
    model: type[SupervisorNote] | type[SupervisorDecision],
) -> None:
    load_org(new_session)
    reflection_id = run_reflection()
    typed = "Check NHS 943 476 5919; ring 07911 123456. Joint visit?"
    guard = RecordingGuard()
    with transaction(new_session) as session:
        outcome = write(
            session=session,
            reflection_id=reflection_id,
            actor=SUPERVISOR,
            text=typed,
            now=clock(),
            guard=guard,
        )
    # Screened at least once (the widest screen first, then the agency's options if it found any).
    assert guard.screened and set(guard.screened) == {typed}
    assert outcome.screened is not None
    assert set(outcome.screened.withheld) == {"an NHS number", "a phone number"}
    with new_session() as session:
        [kept] = [row.text for row in session.exec(select(model))]
    told = [n for n in outcome.notices if n.recipient == PRACTITIONER]
    assert [n.message.template for n in told] == [f"notices/{kind}_practitioner"]
    for identifier in ("943 476 5919", "07911"):
        assert identifier not in kept and identifier not in str(told[0].message.data)
    assert "Joint visit?" in kept

    # Without a guard of its own, casework screens with the default one all the same.
    with transaction(new_session) as session:
        plain = write(
            session=session, reflection_id=reflection_id, actor=SUPERVISOR, text=typed, now=clock()
        )
    assert plain.screened is not None and "07911" not in plain.screened.text
