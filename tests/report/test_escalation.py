"""Disagreements not escalated, and how many were followed by a recorded escalation action: the
plan's actions are marked as escalations from their wording (not after a negation), and the report
counts the flags whose case then has one, on whichever database this run uses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.report import formats
from bot.report.counts import ALL, DISAGREEMENT_RULE, ESCALATED_AFTER
from bot.report.period import Period
from bot.report.service import make_report
from bot.report.suppression import Shown
from storage import report as queries
from storage.db import SessionFactory, transaction
from storage.models import Action, Case, Reflection
from tests.practice import driver
from tests.report import seed

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 20, 10, 0, tzinfo=UTC)
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))
ESCALATE = "Escalate to the team manager under the resolution procedure"
NO_NEED = "No need to escalate yet, ring the duty desk for their reasons"


def disagreement(plan_what: str) -> dict[str, object]:
    return {
        "worry": "Joint visit after the strategy outcome was NFA.",
        # Another agency is involved, so their response is asked about.
        "network": ["social_care"],
        "agency_response": "disagree",
        "escalated": "not_yet",
        "plan": [
            {
                "what": plan_what,
                "owner": "me",
                "due": "tomorrow",
                "contingency": "Ring my supervisor the same day",
            }
        ],
    }


def test_a_plan_that_escalates_is_marked_and_one_that_says_no_need_is_not(
    new_session: SessionFactory, tmp_path: Path
) -> None:
    # A police officer disagrees with children's social care closing a referral: first "no
    # need to escalate yet", then, two weeks on and still disagreeing, an escalation.
    vignette = driver.Vignette(
        name="police-disagreement-escalated-later",
        kind="case",
        role="police",
        case_ref="POL-4410",
        answers=disagreement(ESCALATE),
        expect=driver.Expect(flags=None),
        earlier=driver.Earlier(days_later=14, answers=disagreement(NO_NEED)),
    )
    outcome = driver.drive(vignette, new_session, workdir=tmp_path)
    assert outcome.earlier is not None
    for run in (outcome.earlier, outcome.final):
        assert run.status == 0 and DISAGREEMENT_RULE in run.fired
    with new_session() as session:
        actions = session.exec(
            select(Action.what, Action.kind, Action.status)
            .join(Reflection, col(Reflection.id) == col(Action.reflection_id))
            .order_by(col(Reflection.started_at), col(Action.position))
        ).all()
        window = NOVEMBER.window(LONDON, now=NOW)
        followed = queries.flag_followed_by_action(
            session=session, window=window, rule_id=DISAGREEMENT_RULE, kind="escalation"
        )
    assert [(what, kind, status) for what, kind, status in actions] == [
        (NO_NEED, None, "complete"),
        (ESCALATE, "escalation", "complete"),
    ]
    # Both flags: the first by the later plan's escalation, the second by its own.
    assert followed == [("agency", 2)]


def _reflection(
    session, *, case: Case, at: datetime, status: str = "completed", rules: str | None = None
) -> Reflection:
    row = Reflection(
        case_id=case.id or 0,
        practitioner_id=case.practitioner_id,
        status=status,
        question_set_version="test",
        started_at=at,
        updated_at=at,
        completed_at=at if status == "completed" else None,
        rules_fired=rules,
        minutes=20,
    )
    session.add(row)
    session.flush()
    return row


def _action(session, reflection: Reflection, kind: str | None, status: str = "complete") -> None:
    session.add(
        Action(
            reflection_id=reflection.id or 0,
            position=1,
            what="(invented wording, never read by the report)",
            status=status,
            kind=kind,
        )
    )


def seeded_escalations(new_session: SessionFactory) -> None:
    """csc: 7 disagreement flags in November, 5 followed by an escalation action on the case;
    police: 3 flags, all followed by one."""
    flagged = f"child_not_seen_alone,{DISAGREEMENT_RULE}"
    at = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    with transaction(new_session) as session:

        def case(agency: str, i: int) -> Case:
            row = Case(
                ref=f"ESC-{agency.upper()}-{i:03d}",
                practitioner_id=seed.PRACTITIONERS[agency],
                opened_on=date(2026, 9, 1),
                created_at=datetime(2026, 9, 1, tzinfo=UTC),
            )
            session.add(row)
            session.flush()
            return row

        for i in range(3):  # an escalation in the flagged reflection's own plan
            flagged_now = _reflection(session, case=case("csc", i), at=at, rules=flagged)
            _action(session, flagged_now, "escalation")
        # An escalation in a later reflection, after the period.
        on = case("csc", 3)
        _reflection(session, case=on, at=at, rules=flagged)
        _action(session, _reflection(session, case=on, at=at + timedelta(days=30)), "escalation")
        # ... and within it.
        on = case("csc", 4)
        _reflection(session, case=on, at=at, rules=flagged)
        _action(session, _reflection(session, case=on, at=at + timedelta(days=5)), "escalation")
        # Not followed: an action of no kind, and an escalation never finished.
        on = case("csc", 5)
        flagged_now = _reflection(session, case=on, at=at, rules=flagged)
        _action(session, flagged_now, None)
        _action(session, flagged_now, "escalation", status="draft")
        # Not followed: an escalation before the flag, and one in a cancelled reflection.
        on = case("csc", 6)
        _action(session, _reflection(session, case=on, at=at - timedelta(days=40)), "escalation")
        _reflection(session, case=on, at=at, rules=flagged)
        cancelled = _reflection(session, case=on, at=at + timedelta(days=3), status="cancelled")
        _action(session, cancelled, "escalation")
        for i in range(3):
            flagged_now = _reflection(session, case=case("police", i), at=at, rules=flagged)
            _action(session, flagged_now, "escalation")


def test_the_report_counts_flags_followed_by_an_escalation(new_session: SessionFactory) -> None:
    seed.organisation(new_session)
    seeded_escalations(new_session)
    report = make_report(new_session, period=NOVEMBER, zone=LONDON, now=NOW, threshold=3)
    assert report.value(("rules_fired", "csc", ALL, ALL, DISAGREEMENT_RULE)) == 7
    assert report.value(("disagreement", "csc", ALL, ALL, ESCALATED_AFTER)) == 5
    assert report.value(("disagreement", "police", ALL, ALL, ESCALATED_AFTER)) == 3
    assert report.value(("disagreement", ALL, ALL, ALL, ESCALATED_AFTER)) == 8
    assert "| 5 (71%) |" in formats.markdown(report)
    with new_session() as session:
        one_agency = queries.flag_followed_by_action(
            session=session,
            window=NOVEMBER.window(LONDON, now=NOW, agency_id="police"),
            rule_id=DISAGREEMENT_RULE,
            kind="escalation",
        )
    assert one_agency == [("police", 3)]


def test_a_small_count_of_escalations_is_suppressed_like_every_other(
    new_session: SessionFactory,
) -> None:
    seed.organisation(new_session)
    seeded_escalations(new_session)
    report = make_report(new_session, period=NOVEMBER, zone=LONDON, now=NOW, threshold=5)
    police = ("disagreement", "police", ALL, ALL, ESCALATED_AFTER)
    assert report.state(police) is Shown.SMALL
    # 8 for the partnership less csc's 5 would give police's 3 away: one of them is withheld.
    partnership, csc = (("disagreement", unit, ALL, ALL, ESCALATED_AFTER) for unit in (ALL, "csc"))
    assert report.state(partnership) is Shown.WITHHELD or report.state(csc) is Shown.WITHHELD
    view = formats.markdown(report)
    assert "fewer than 5" in view
