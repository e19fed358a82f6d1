"""A choice answered in the practitioner's own words, through the service: the words are kept
as written and heard for the options they choose (the options' `hears`), and a follow-up is not
asked when the words already answer it (`answered_by`)."""

from __future__ import annotations

import pytest

from bot.reflection.questions import default_question_set
from bot.requests import Requests
from tests.answering import Answers, Walk, answer_by_id
from tests.conftest import FixedClock

PRAC = "U0TESTPRAC"
QS = default_question_set()


@pytest.fixture
def service(new_session, clock: FixedClock) -> Requests:
    return Requests(new_session, now=clock, records=False)


def walk(service: Requests, answers: Answers) -> Walk:
    walked = answer_by_id(service, PRAC, "CSC-1001", {"today": "3", **answers})
    assert walked.last.status == "completed"
    return walked


def shown(walked: Walk, label: str) -> str:
    entries = [e for t in walked.summary["themes"] for e in t["entries"]]
    return next(e["answer"] for e in entries if e["question"] == label)


def test_only_mum_really_is_the_parents_account_alone(service) -> None:
    walked = walk(service, {"sources": "only mum really"})
    assert "only_parent_heard" in walked.flagged
    assert shown(walked, "Whose account you have heard") == "only mum really"  # kept as written


def test_mum_and_the_school_is_more_than_the_parents_account(service) -> None:
    walked = walk(service, {"sources": "mum and the school nurse"})
    assert "only_parent_heard" not in walked.flagged


def test_none_with_what_was_asked_about_chooses_none_alone(service) -> None:
    text = "none, asked about DV and drink"
    assert QS.questions["risks"].heard(text) == ("none_known",)
    walked = walk(service, {"risks": text})
    after = walked.asked[walked.asked.index("risks") + 1]
    # No confirming question about the drink or the abuse, and nothing asked about the time.
    assert not after.startswith("confirm_") and after != "at_the_time"
    assert not {"confirm_alcohol", "confirm_domestic_abuse", "at_the_time"} & set(walked.asked)
    assert not {"alcohol_mentioned", "domestic_abuse"} & walked.flagged


def test_drink_named_without_none_chooses_alcohol(service) -> None:
    walked = walk(service, {"risks": "dad drinks most nights"})
    assert QS.questions["risks"].heard("dad drinks most nights") == ("alcohol",)
    # Drinking chosen: asked about a pregnancy or a baby (what happens at the time is in the
    # words already).
    assert "pregnancy" in walked.asked


def test_household_words_that_say_everyone_was_met_skip_whether_they_were_met(service) -> None:
    walked = walk(service, {"household": "Mum and her partner Dave, met both at home"})
    assert "household_met" not in walked.asked
    assert "adult_not_met" not in walked.flagged


def test_household_words_that_say_nothing_of_meeting_ask_whether_they_were_met(service) -> None:
    walked = walk(service, {"household": "Mum and her partner Dave", "household_met": "2"})
    assert "household_met" in walked.asked
    assert "adult_not_met" in walked.flagged


def test_met_him_3_times_skips_whether_they_were_met(service) -> None:
    walked = walk(service, {"household": "met him 3 times"})
    assert "household_met" not in walked.asked


@pytest.mark.parametrize(
    ("words", "flag"),
    [
        ("saw her on her own in the classroom", False),
        ("only with mum there, she sat on mum's knee", True),
    ],
)
def test_seeing_the_child_in_words(service, words: str, flag: bool) -> None:
    walked = walk(service, {"child_seen": words})
    assert ("child_not_seen_alone" in walked.flagged) is flag
    assert shown(walked, "Seeing and hearing the child") == words


def test_no_in_words_moves_on_from_today(service) -> None:
    walked = answer_by_id(service, PRAC, "CSC-1001", {"today": "no, nothing urgent"})
    assert walked.asked[:2] == ["today", "worry"]
    assert "action_today" not in walked.flagged and not walked.last.alerts
