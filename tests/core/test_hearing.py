"""Hearing ordinary words: base words, shorthand, the new concepts, and the controls that must
stay silent. A mention only asks; the flag depends on the confirming answer."""

from __future__ import annotations

import pytest

from bot.reflection.questions import AnswerState, Facts, default_question_set, is_vague_contingency
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


# Concepts heard in other words than any case they were found in: each with controls that must
# stay silent.


@pytest.mark.parametrize(
    ("text", "mention", "question"),
    [
        ("been absent 3 wks now, school sent a letter", "education", "child_day"),
        ("hasn't been back in school since the summer hols", "education", "child_day"),
        ("stopped going to college in october", "education", "outside_home"),
        ("only has about 10 words at 2 and a half", "communication", "child_day"),
        ("hardly any words yet, SALT waiting list", "communication", "child_day"),
        ("speech is behind, points for what he wants", "communication", "child_day"),
        ("long red welts across the back of his thighs", "injury", "worry"),
        ("finger marks round her upper arm", "injury", "worry"),
        ("says dad smacked her with a wooden spoon", "injury", "worry"),
        ("dad throws things when hes had a drink", "domestic_abuse", "risks"),
        ("he put his fist through the kitchen door", "domestic_abuse", "risks"),
        ("shes frightened of him when he drinks", "domestic_abuse", "risks"),
        ("I reckon it met threshold for CP but MASH said early help", "disagreement", "history"),
        ("police NFA'd it and I'm not happy with that", "disagreement", "network"),
        ("should have gone to a strategy discussion imo", "disagreement", "history"),
        ("everything we know comes from mum", "parent_account", "sources"),
        ("dad insists it was a one-off", "parent_account", "risks"),
        ("I've no reason to doubt her", "parent_account", "explanations"),
        ("she stays up with her little brother when hes poorly", "care", "outside_home"),
        ("gets his sister dressed and to school every morning", "care", "child_day"),
        ("walks the younger ones to school before she goes in", "care", "child_day"),
        ("older brother has a worker somewhere, no idea who", "unknown", "sources"),
    ],
)
def test_concepts_are_heard_in_other_words(text: str, mention: str, question: str) -> None:
    assert mention in heard(text, question), heard(text, question)


@pytest.mark.parametrize(
    ("text", "silent", "question"),
    [
        ("off sick for a day with a cold, back now", "education", "child_day"),
        ("back in school full time, attendance good", "education", "child_day"),
        ("chatty, full sentences, lots of words", "communication", "child_day"),
        ("not talking to her dad since the row about her phone", "communication", "child_day"),
        ("marks on the wall from the kids' crayons", "injury", "child_day"),
        ("throws a ball about with his dad at the park", "domestic_abuse", "child_day"),
        ("agree with the decision to close, GP and school the same", "disagreement", "network"),
        ("should have been at school by 9 but the bus was late", "disagreement", "child_day"),
        ("mum says she feels well and the GP agrees", "parent_account", "sources"),
        ("I believe in giving her a chance to show it", "parent_account", "explanations"),
        ("stays up late with friends on the xbox at weekends", "care", "child_day"),
    ],
)
def test_other_words_stay_silent(text: str, silent: str, question: str) -> None:
    assert silent not in heard(text, question), heard(text, question)


def test_agreement_without_change_is_flagged_whether_chosen_or_written() -> None:
    assert "disguised_compliance" in flags({"engagement": chose("agreeing_no_change")})
    written = {
        "explanations": wrote("nods along, nothing changes"),
        "confirm_compliance": chose("yes"),
    }
    assert "disguised_compliance" in flags(written)
    assert "disguised_compliance" not in flags({"engagement": chose("engaging")})


def test_a_disagreement_written_anywhere_asks_about_escalation_once() -> None:
    answers = {
        "history": wrote("MASH closed it, I thought it should have gone to a strat"),
        "confirm_disagreement": chose("yes"),
        "network": chose("social_care"),
    }
    asked = [q.id for q in QS.path(Facts(answers, role="social_worker"))]
    assert "escalated" in asked and "agency_response" not in asked
    assert "disagreement_not_escalated" in flags({**answers, "escalated": chose("not_yet")})
    assert "disagreement_not_escalated" not in flags({**answers, "escalated": chose("yes")})
    declined = {**answers, "confirm_disagreement": chose("no")}
    assert "disagreement_not_escalated" not in flags(declined)


def test_the_parents_word_alone_confirmed_is_only_the_parents_account() -> None:
    answers = {
        "risks": wrote("mum says its all sorted now"),
        "confirm_parent_account": chose("yes"),
    }
    assert "only_parent_heard" in flags(answers)
    assert "only_parent_heard" not in flags({**answers, "confirm_parent_account": chose("no")})


def test_nothing_said_about_identity_does_not_answer_the_medical_question() -> None:
    def asked(identity: str) -> list[str]:
        return [q.id for q in QS.path(Facts({"identity": wrote(identity)}, role="gp"))]

    assert "medical" in asked("nothing of note")
    assert "medical" not in asked("he has epilepsy, on meds")


@pytest.mark.parametrize(("role", "question"), [("police", "child_day"), ("early_help", "medical")])
def test_every_role_is_asked_about_the_childs_day_and_health_where_it_fits(
    role: str, question: str
) -> None:
    assert question in [q.id for q in QS.path(Facts({}, role=role))]


@pytest.mark.parametrize(
    ("contingency", "vague"),
    [
        ("if she's not back by March I'll look into it", True),
        ("the EHE team will follow it up", True),
        ("see what the hospital say", True),
        ("keep reminding them every visit", True),
        ("if it hasn't healed next week GP can decide", True),
        ("try again", True),
        ("if CSC don't pick it up by 3, I ring the duty manager", False),
        ("review at the next core group", False),
        ("if she misses it, I will refer to social care", False),
        ("if he's targeted again parents ring 101 and I'll review", False),
    ],
)
def test_a_contingency_that_hands_on_waits_or_repeats_is_none(
    contingency: str, vague: bool
) -> None:
    assert is_vague_contingency(contingency, "ring the school", QS.settings) is vague


def test_an_illness_chosen_among_needs_answers_the_medical_question_but_not_its_detail() -> None:
    def asked(choice: str, role: str) -> list[str]:
        answers = QS.with_said({"identity": chose(choice)})
        return [q.id for q in QS.path(Facts(answers, role=role))]

    social_worker = asked("parent_illness", "social_worker")
    assert "medical" not in social_worker and "medical_detail" in social_worker
    assert "identity_detail" not in social_worker
    assert "identity_detail" in asked("parent_illness", "school")  # no medical question there
    assert {"medical", "identity_detail"} <= set(asked("language", "social_worker"))


def test_a_number_is_not_a_count_of_missed_appointments() -> None:
    assert "not_brought" not in heard("too much caring for mum, missing out on being 11")
    assert "not_brought" in heard("missed physio 3 times since june")


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("no drink or drugs. her new partner is on licence", "offending"),
        ("none known. neighbour says he's done time for dealing", "offending"),
        ("partner was inside till march", "offending"),
    ],
)
def test_a_none_does_not_silence_what_is_said_after_it(text: str, mention: str) -> None:
    risks = QS.questions["risks"]
    assert not risks.says_none(text)
    assert mention in QS.mentions_in("risks", text)


def test_a_plain_none_says_nothing_more_to_listen_for() -> None:
    risks = QS.questions["risks"]
    assert risks.says_none("none, asked about DV and drink")
    assert risks.says_none("None known.")
    assert "offending" not in heard("checked inside the flat, all fine")


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("nobody at the surgery has ever seen the little one", "unseen"),
        ("seen Kai at school, not seen his sister at all", "unseen"),
        ("haven't seen the baby since they moved in july", "unseen"),
    ],
)
def test_a_child_nobody_has_seen_is_heard_however_it_is_said(text: str, mention: str) -> None:
    assert mention in heard(text, "child_seen"), heard(text, "child_seen")


def test_a_child_seen_recently_is_not_unseen() -> None:
    assert "unseen" not in heard("seen both on their own at school this week", "child_seen")


def test_how_a_child_communicates_is_not_confirmed_in_answer_to_that_question() -> None:
    assert "communication" not in heard("babbles, points at the cup she wants", "communication")
    assert "communication" in heard("babbles, points at the cup she wants", "child_day")


def test_a_learning_disability_is_a_support_need_not_a_medical_condition() -> None:
    def asked(identity: str) -> list[str]:
        answers = QS.with_said({"identity": wrote(identity)})
        return [q.id for q in QS.path(Facts(answers, role="early_help"))]

    assert "medical" in asked("dad has a learning disability, reads a bit")
    assert "medical" not in asked("dad is disabled after his stroke, uses a wheelchair")


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("mum back on the gear by the look of her", "drugs"),
        ("found a bag of white powder in the kitchen", "drugs"),
        ("he was off his face when I called round", "drugs"),
        ("she ran away again friday, police found her in town", "missing"),
        ("mattress on the floor soaked in wee", "neglect"),
        ("he controls all her money and checks her spending", "domestic_abuse"),
        ("black eye, says she walked into a door", "domestic_abuse"),
        ("mum was slurring her words at 11am", "alcohol"),
        ("dad was steaming when he collected her", "alcohol"),
        ("cans everywhere in the lounge", "alcohol"),
        ("living at a mate's house for 2 months, mum moved away", "private_fostering"),
        ("does all the cooking because mum is poorly", "care"),
        ("gives his dad his insulin", "care"),
        ("no one has laid eyes on the baby since the birth", "unseen"),
        ("door not answered 3 times now", "unseen"),
    ],
)
def test_more_of_what_practitioners_say_is_heard(text: str, mention: str) -> None:
    assert mention in heard(text), heard(text)


@pytest.mark.parametrize(
    ("text", "silent"),
    [
        ("PE gear left in his bag again", "drugs"),
        ("starts high school in september, excited", "drugs"),
        ("ran around the park with his cousins", "missing"),
        ("mum does the cooking, the kids set the table", "care"),
        ("he controls his temper much better now", "domestic_abuse"),
        ("staying at a friend's for a sleepover on saturday", "private_fostering"),
        ("answered the door straight away, all three in", "unseen"),
    ],
)
def test_more_everyday_words_stay_silent(text: str, silent: str) -> None:
    assert silent not in heard(text), heard(text)
