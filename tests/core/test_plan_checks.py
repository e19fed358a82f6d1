"""The plan held against the reflection's own flags, through the service: a plan that tells the
household before a referral after a disclosure, that does nothing today when something is for
today, or whose contingency falls back on what a flag warns against is queried once, right
after the plan; the answer mends the plan. A good plan is not queried."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from bot.requests import Requests
from storage.models import Action
from tests.answering import Answers, Walk, answer_by_id
from tests.conftest import FixedClock

PRAC = "U0TESTPRAC"
TODAY = date(2026, 11, 26)  # the clock's Thursday
PLAN_QUERIES = {"plan_today", "plan_household", "contingency_instead"}
PLAN_FLAGS = {
    "plan_not_today",
    "plan_tells_household",
    "contingency_repeats_warning",
    "closing_with_concerns",
    "monitoring_is_the_plan",
}

DISCLOSURE: Answers = {
    "today": "3",
    "worry": "She told her teacher that mum's boyfriend hit her with a belt",
    "confirm_disclosure": "1",  # yes
}
INTERPRETING: Answers = {
    "today": "3",
    "identity": "Family speaks Polish at home; her son interprets at appointments",
    "confirm_interpreting": "1",  # yes, a family member
}


@pytest.fixture
def service(new_session, clock: FixedClock) -> Requests:
    return Requests(new_session, now=clock, records=False)


def walk(service: Requests, answers: Answers) -> Walk:
    walked = answer_by_id(service, PRAC, "CSC-1001", answers)
    assert walked.last.status == "completed"
    return walked


def asked_text(walked: Walk, question_id: str) -> str:
    for reply in walked.replies:
        for message in reply.messages:
            if message.template == "question" and message.data["question_id"] == question_id:
                return str(message.data["text"])
    raise AssertionError(f"{question_id} was never asked")


def stored_actions(new_session) -> list[Action]:
    with new_session() as session:
        return list(session.exec(select(Action).order_by(Action.position)))


# ---------------------------------------------------------------- the household told first


def test_after_a_disclosure_asking_mum_in_first_is_queried(service, new_session) -> None:
    walked = walk(
        service,
        {
            **DISCLOSURE,
            "plan:what": ["Ask mum in at pick up", "Ring CSC today - me", "done"],
            "plan:due": "today",
            "plan_household": "Refer to CSC now, before anyone at home is told",
        },
    )
    assert walked.asked[-4:-2] == ["plan:what", "plan_household"]
    assert "Ask mum in at pick up" in asked_text(walked, "plan_household")
    # The answer comes first in the plan, the practitioner's, for today.
    first = stored_actions(new_session)[0]
    assert first.what == "Refer to CSC now, before anyone at home is told"
    assert (first.owner_person_id, first.due_on) == (PRAC, TODAY)
    assert walked.summary["actions"][0]["what"] == first.what
    assert "plan_tells_household" not in walked.flagged  # mended, so not flagged


def test_a_query_left_unanswered_stays_as_a_flag_for_today(service) -> None:
    walked = walk(
        service,
        {
            **DISCLOSURE,
            "plan:what": ["Ask mum in at pick up", "Ring CSC today - me", "done"],
            "plan:due": "today",
        },
    )
    assert "plan_household" in walked.asked
    today = [f["rule"] for f in walked.summary["flags_by_when"]["today"]]
    assert "plan_tells_household" in today


# ---------------------------------------------------------------- nothing today


def test_a_today_flag_with_a_referral_next_week_asks_what_happens_today(
    service, new_session
) -> None:
    walked = walk(
        service,
        {
            "today": "1",  # yes: something needs action today
            "today_next": "Talk to my manager",
            "today_stop": "2",  # carry on
            "plan:what": ["Refer to CSC next week - me", "done"],
            "plan:meanwhile": "School sees her every day and will ring me if she is absent",
            "plan:contingency": "Ring the duty manager",
            "plan_today": "Ring the CSC duty desk now",
        },
    )
    assert walked.asked[-4:-2] == ["plan:what", "plan_today"]
    text = asked_text(walked, "plan_today")
    assert "Refer to CSC next week" in text and "by Friday 4 December" in text
    actions = stored_actions(new_session)
    assert [a.what for a in actions] == ["Ring the CSC duty desk now", "Refer to CSC next week"]
    assert (actions[0].due_on, actions[0].owner_person_id) == (TODAY, PRAC)
    assert walked.summary["actions"][0]["due_on"] == TODAY.isoformat()
    assert "plan_not_today" not in walked.flagged


def test_a_today_flag_with_nothing_today_unmended_is_flagged_for_today(service) -> None:
    walked = walk(
        service,
        {
            "today": "1",
            "plan:what": ["Refer to CSC next week - me", "done"],
        },
    )
    assert "plan_today" in walked.asked
    assert "plan_not_today" in [f["rule"] for f in walked.summary["flags_by_when"]["today"]]


# ---------------------------------------------------------------- a contingency a flag warns of


def test_a_contingency_that_repeats_a_warning_is_queried_and_replaced(service, new_session) -> None:
    walked = walk(
        service,
        {
            **INTERPRETING,
            "plan:what": ["Home visit with a professional interpreter on Friday - me", "done"],
            "plan_contingency": "use her son to interpret",
            "contingency_instead": "Rebook with a telephone interpreter",
        },
    )
    assert walked.asked[-4:-2] == ["plan_contingency", "contingency_instead"]
    assert '"use her son to interpret"' in asked_text(walked, "contingency_instead")
    (action,) = stored_actions(new_session)
    assert action.contingency == "Rebook with a telephone interpreter"
    assert "contingency_repeats_warning" not in walked.flagged
    assert "family_interpreting" in walked.flagged  # the interpreting itself still stands


def test_a_contingency_that_repeats_a_warning_left_as_it_is_is_flagged(service) -> None:
    walked = walk(
        service,
        {
            **INTERPRETING,
            "plan:what": ["Home visit with a professional interpreter on Friday - me", "done"],
            "plan_contingency": "use her son to interpret",
        },
    )
    assert "contingency_instead" in walked.asked
    assert "contingency_repeats_warning" in walked.flagged


# ---------------------------------------------------------------- good plans


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(
            {**DISCLOSURE, "plan:what": ["Ring CSC today - me", "Ask mum in at pick up", "done"]},
            id="a disclosure rung through to CSC before the household is told",
        ),
        pytest.param(
            {**DISCLOSURE, "plan:what": ["Refer to MASH today", "Ask mum in at pick up", "done"]},
            id="a disclosure referred before the household is told",
        ),
        pytest.param(
            {
                "today": "1",
                "plan:what": ["Ring the front door today - me", "Refer to CSC next week", "done"],
                "plan:meanwhile": "School sees her every day and will ring me if she is absent",
                "plan:contingency": "Ring the duty manager",
            },
            id="something for today, rung today",
        ),
        pytest.param(
            {
                **INTERPRETING,
                "plan:what": ["Home visit with a professional interpreter on Friday - me", "done"],
                "plan_contingency": "Rebook with a telephone interpreter",
            },
            id="a contingency with a professional interpreter",
        ),
        pytest.param(
            {
                "today": "3",
                "plan:what": ["Visit school to see her alone by Friday - me", "done"],
                "plan_contingency": "Ask the DSL to see her that day instead",
            },
            id="an ordinary plan",
        ),
    ],
)
def test_a_good_plan_is_not_queried(service, answers: Answers) -> None:
    walked = walk(service, answers)
    assert PLAN_QUERIES.isdisjoint(walked.asked), walked.asked
    assert PLAN_FLAGS.isdisjoint(walked.flagged), walked.flagged
    assert walked.asked[walked.asked.index("plan:what") :].count("lead_contact") == 1
