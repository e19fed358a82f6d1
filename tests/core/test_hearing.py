"""Hearing ordinary words: base words, shorthand, the new concepts, and the controls that must
stay silent. A mention only asks; the flag depends on the confirming answer."""

from __future__ import annotations

import pytest

from bot.reflection.questions import AnswerState, Facts, default_question_set
from bot.reflection.words import read

QS = default_question_set()
SHORTHAND = (("bf", "boyfriend"), ("doesnt", "doesn't"), ("yo", "year old"))


def chose(*options: str) -> AnswerState:
    return AnswerState(skipped=False, choices=options)


def wrote(text: str) -> AnswerState:
    return AnswerState(skipped=False, text=text)


def heard(text: str, question: str = "child_day") -> set[str]:
    return set(QS.found_mentions({question: wrote(text)}))


def flags(answers: dict[str, AnswerState], **facts: object) -> dict[str, str]:
    return {f.rule: f.text for f in QS.fired(Facts(answers, **facts))}  # type: ignore[arg-type]


def test_a_reading_gives_base_words_with_shorthand_spelled_out_and_where_each_was_written() -> None:
    reading = read("Mum's bf pushed her, 5yo", SHORTHAND)
    assert reading.text == "mum boyfriend push her 5 year old"
    start = reading.text.index("push")
    assert reading.written(start, start + 4) == (9, 15)


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("told the TA Kyle pushed her last night", "disclosure"),
        ("she said mums bf shoved her into the wardrobe", "disclosure"),
        ("says she doesnt want to go home tonight", "disclosure"),
        ("he's scared of Darren", "disclosure"),
        ("said dad did it", "disclosure"),
        ("Flat stank of weed", "drugs"),
        ("dad's back using again", "drugs"),
        ("bf is dealing from the flat", "drugs"),
        ("went missing sat, found by police in Margate at 2am", "missing"),
        ("older bf with a car picks her up from school", "missing"),
        ("two no access visits, not seen for five weeks", "unseen"),
        ("staying with a family friend since september", "private_fostering"),
        ("he does mums meds and helps her to the loo", "care"),
        ("adult social care assessed dad last year", "care"),
        ("kept off school to translate for mum", "education"),
        ("off-rolled in year 9, EHE, no contact since", "education"),
        ("just out of prison, on licence", "offending"),
        ("mum says the right things but she's still hungry", "compliance"),
        ("missed his physio twice", "not_brought"),
        ("didnt bring her to the eye clinic", "not_brought"),
        ("cancelled the paed again", "not_brought"),
        ("non verbal, uses Makaton", "communication"),
        ("DV, police called twice", "domestic_abuse"),
        ("always hungry, head lice, same clothes all week", "neglect"),
        ("they had a few on saturday", "alcohol"),
    ],
)
def test_ordinary_words_are_heard(text: str, mention: str) -> None:
    assert mention in heard(text), heard(text)


@pytest.mark.parametrize(
    ("text", "silent"),
    [
        ("Baby has 6 bottles a day, sterilises them properly", "alcohol"),
        ("Neither parent drinks", "alcohol"),
        ("doesn't drink", "alcohol"),
        ("No bruising or marks seen", "injury"),
        ("He's her dad, I've met him twice", "unmet_man"),
        ("Interpreter booked through Language Line", "interpreting"),
        ("She told her teacher about her new puppy", "disclosure"),
        ("doesn't use drugs", "drugs"),
        ("joint visit with the HV on Tuesday", "drugs"),
        ("missed a day of school with a cold", "missing"),
        ("sleeps on her back in her own cot", "baby_sleep"),
    ],
)
def test_controls_raise_nothing(text: str, silent: str) -> None:
    assert silent not in heard(text), heard(text)


def test_someone_elses_denial_still_asks() -> None:
    assert "alcohol" in heard("mum says she doesn't drink")


def test_a_baby_asleep_on_an_adult_is_heard_only_in_a_case_with_a_baby() -> None:
    text = "naps on Jay's chest most afternoons"
    answers = {"child_day": wrote(text), "confirm_baby_sleep": chose("yes")}
    no_baby = [q.id for q in QS.path(Facts(answers, role="school"))]
    assert "confirm_baby_sleep" not in no_baby
    assert "confirm_baby_sleep" in [q.id for q in QS.path(Facts(answers, role="health_visitor"))]
    with_age = {**answers, "purpose": wrote("visit to 5 mo")}
    assert "baby_sleep" in flags(with_age, role="school")


def test_a_drugs_flag_names_the_drug_heard_and_never_assumes_alcohol() -> None:
    answers = {
        "child_day": wrote("naps on the settee with dad"),
        "confirm_baby_sleep": chose("yes"),
        "at_the_time": wrote("flat smelt of cannabis when I got there"),
        "confirm_drugs": chose("yes"),
    }
    fired = flags(answers, role="health_visitor")
    assert "cannabis" in fired["drugs_and_baby_sleep"]
    assert "alcohol_and_baby_sleep" not in fired
    assert all("drinking" not in text for text in fired.values())
    assert all("tell the health visitor" not in text.lower() for text in fired.values())


def test_the_strongest_evidence_is_quoted_not_the_first() -> None:
    answers = {
        "child_day": wrote("Baby fed, dad had a glass of squash"),
        "at_the_time": wrote("Mum was drunk when I arrived at 10"),
        "confirm_alcohol": chose("yes"),
    }
    assert "Mum was drunk" in flags(answers)["alcohol_mentioned"]


def test_a_disclosure_advises_recording_not_questioning() -> None:
    answers = {"worry": wrote("told the TA Kyle pushed her"), "confirm_disclosure": chose("yes")}
    fired = QS.immediate(Facts(answers), "confirm_disclosure")
    assert [f.rule for f in fired] == ["disclosure"]
    assert "Don't question" in fired[0].text and "in their own words" not in fired[0].text


def test_an_injury_explained_and_treated_raises_nothing() -> None:
    answers = {
        "history": wrote("fractured wrist last year, healed"),
        "confirm_injury": chose("explained"),
    }
    assert flags(answers) == {}


@pytest.mark.parametrize(
    ("mention_text", "confirm", "answer", "rule"),
    [
        ("no access twice", "confirm_unseen", "yes", "unseen_today"),
        ("went missing overnight", "confirm_missing", "yes", "missing_episode"),
    ],
)
def test_unseen_and_missing_are_for_today_at_once(
    mention_text: str, confirm: str, answer: str, rule: str
) -> None:
    answers = {"worry": wrote(mention_text), confirm: chose(answer)}
    fired = QS.immediate(Facts(answers), confirm)
    assert [f.rule for f in fired] == [rule] and fired[0].matters == "today"
    assert QS.immediate(Facts({"worry": wrote(mention_text), confirm: chose("no")}), confirm) == []


def test_an_exploiter_is_never_to_be_met() -> None:
    answers = {"worry": wrote("older bf with a car"), "confirm_missing": chose("exploitation")}
    text = flags(answers)["exploitation"]
    assert "meet" not in text and "don't approach" in text


def test_a_parents_illness_is_a_care_need_not_a_learning_disability() -> None:
    answers = {
        "medical_detail": wrote("mum has MS, wheelchair now"),
        "confirm_care": chose("parent_needs"),
    }
    fired = flags(answers)
    assert set(fired) == {"parent_care_need"}
    assert "not a learning disability" in fired["parent_care_need"]
    assert "easy-read" not in fired["parent_care_need"]


def test_a_baby_not_seen_is_seen_undressed_not_heard_on_their_own() -> None:
    fired = flags({"child_seen": chose("not_seen")}, role="health_visitor")
    assert "baby_not_seen" in fired and "child_not_seen_alone" not in fired
    assert "undressed" in fired["baby_not_seen"]
    assert "child_not_seen_alone" in flags({"child_seen": chose("not_seen")}, role="school")


def test_the_same_words_for_the_same_concern_are_flagged_once() -> None:
    answers = {
        "child_day": wrote("Mum smelt of drink, baby in her bed"),
        "confirm_alcohol": chose("yes"),
        "confirm_baby_sleep": chose("yes"),
    }
    fired = flags(answers)
    assert "alcohol_and_baby_sleep" in fired and "alcohol_mentioned" not in fired
