"""The weekly digest names the supervisor's cases whose reflections this week raised drift or
escalation flags: by case reference only, read from the plain column of rules that fired, so
nothing encrypted is read to decide it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from bot.clock import jobs
from storage.clock import flag_kinds
from storage.db import SessionFactory, transaction
from storage.encryption import generate_key, keyring
from storage.models import OutboxMessage, Reflection
from tests.clock import helpers as h
from tests.conftest import TEST_KEY

MONDAY = "2026-12-07T09:00"
HEADING = "Cases with drift or escalation flags this week"


def flagged(
    new_session: SessionFactory,
    ref: str,
    rules: str | None,
    *,
    days_ago: float = 2,
    status: str = "completed",
    supervisor: str = h.SUPERVISOR,
) -> int:
    """A case with one acknowledged reflection whose fired rules were ``rules``."""
    case_id = h.case(new_session, ref, opened_on=date(2026, 11, 1))
    rid = h.reflection(
        new_session,
        case_id,
        status=status,
        at=h.local(MONDAY) - timedelta(days=days_ago),
        supervisor=supervisor,
        acknowledged=True,
        lead_confirmed=True,
    )
    with transaction(new_session) as session:
        reflection = session.get(Reflection, rid)
        assert reflection is not None
        reflection.rules_fired = rules
        reflection.summary = {"case_ref": ref, "working_well": "Private words about the family"}
        session.add(reflection)
    return rid


def digest_text(new_session: SessionFactory, recipient: str = h.SUPERVISOR) -> str:
    with new_session() as session:
        [message] = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient)
            .order_by(col(OutboxMessage.id))
        ).all()
    blocks = h.rendered(message)["blocks"]
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


@pytest.mark.parametrize(
    ("rules", "kinds"),
    [
        ("drift_scale_flat", {"drift"}),
        ("alcohol_baby,drift_actions_carried", {"drift"}),
        ("disagreement_not_escalated", {"escalation"}),
        ("escalation_dated_late", {"escalation"}),
        ("drift_engagement, escalated_unsure", {"drift", "escalation"}),
        ("alcohol_baby,not_seen_alone", set()),
        ("scale_drift_free,no_escalation_needed", set()),  # the word inside an id is not enough
        ("", set()),
        (None, set()),
    ],
)
def test_which_fired_rules_count_as_drift_or_escalation(rules: str | None, kinds: set) -> None:
    assert flag_kinds(rules) == kinds


def test_the_digest_lists_this_weeks_drift_and_escalation_by_case_reference(
    new_session: SessionFactory,
) -> None:
    h.organisation(new_session)
    flagged(new_session, "CSC-9001", "alcohol_baby,drift_scale_flat")
    flagged(new_session, "CSC-9002", "disagreement_not_escalated")
    flagged(new_session, "CSC-9003", "escalation_dated_late,drift_actions_carried")
    flagged(new_session, "CSC-9004", "alcohol_baby")  # no drift or escalation
    flagged(new_session, "CSC-9005", "scale_drift_free")  # "drift" inside another rule's id
    flagged(new_session, "CSC-9006", "drift_scale_flat", days_ago=9)  # before this week
    flagged(new_session, "CSC-9007", "drift_scale_flat", status="in_progress")
    flagged(new_session, "CSC-9008", "drift_scale_flat", supervisor="U0OTHERSUP")

    assert jobs.weekly_digests(h.context_at(new_session, MONDAY)) >= 1
    text = digest_text(new_session)
    assert f"*{HEADING} (3)*" in text
    assert "• CSC-9001 (drift)" in text
    assert "• CSC-9002 (escalation)" in text
    assert "• CSC-9003 (drift and escalation)" in text
    for quiet in ("CSC-9004", "CSC-9005", "CSC-9006", "CSC-9007", "CSC-9008"):
        assert quiet not in text
    assert "Private words" not in text


def test_two_flagged_reflections_on_one_case_name_it_once(new_session: SessionFactory) -> None:
    h.organisation(new_session)
    rid = flagged(new_session, "CSC-9101", "drift_scale_flat")
    with new_session() as session:
        case_id = session.get(Reflection, rid).case_id  # type: ignore[union-attr]
    again = h.reflection(
        new_session,
        case_id,
        status="completed",
        at=h.local(MONDAY) - timedelta(days=1),
        acknowledged=True,
        lead_confirmed=True,
    )
    with transaction(new_session) as session:
        row = session.get(Reflection, again)
        assert row is not None
        row.rules_fired = "disagreement_not_escalated"
        session.add(row)
    jobs.weekly_digests(h.context_at(new_session, MONDAY))
    text = digest_text(new_session)
    assert f"*{HEADING} (1)*" in text
    assert text.count("CSC-9101") == 1 and "• CSC-9101 (drift and escalation)" in text


def test_a_flag_alone_is_worth_a_digest_and_nothing_encrypted_is_read_for_it(
    new_session: SessionFactory,
) -> None:
    h.organisation(new_session)
    flagged(new_session, "CSC-9201", "drift_actions_carried")
    # Under a key that cannot read what was stored: any decryption would fail the job.
    keyring.configure([generate_key()])
    try:
        assert jobs.weekly_digests(h.context_at(new_session, MONDAY)) >= 1
        text = digest_text(new_session)  # the digest itself is stored under that key
    finally:
        keyring.configure([TEST_KEY])
    assert f"*{HEADING} (1)*" in text and "• CSC-9201 (drift)" in text


def test_no_flags_this_week_leaves_the_digest_as_it_was(new_session: SessionFactory) -> None:
    h.organisation(new_session)
    flagged(new_session, "CSC-9301", "alcohol_baby")
    assert jobs.weekly_digests(h.context_at(new_session, MONDAY)) == 1
    with new_session() as session:
        assert session.exec(select(OutboxMessage)).all() == []  # nothing to report: no message
