"""Follow-up rules and flags, as the question set defines them."""

from __future__ import annotations

import pytest

from bot.reflection.questions import (
    AnswerState,
    QuestionSetError,
    default_question_set,
    parse_question_set,
)

QS = default_question_set()


def chose(*options: str) -> AnswerState:
    return AnswerState(skipped=False, choices=options)


def path_ids(answers, actions=()) -> list[str]:
    return [q.id for q in QS.path(answers, list(actions))]


def flag_ids(answers, actions=()) -> set[str]:
    return {r.id for r in QS.flags(answers, list(actions))}


def test_every_theme_is_reached_by_a_main_question() -> None:
    assert {q.theme for q in QS.main} == {t.id for t in QS.themes}
    assert len(QS.themes) == 12


def test_every_question_names_theme_point_and_why() -> None:
    for question in QS.questions.values():
        assert question.theme and 1 <= question.point <= 15 and question.why.strip()


def test_no_follow_ups_without_answers() -> None:
    main = [q.id for q in QS.main]
    assert path_ids({}) == main


def test_only_parent_heard_asks_for_other_sources_and_flags() -> None:
    answers = {"sources": chose("parent")}
    ids = path_ids(answers)
    assert ids[ids.index("sources") + 1] == "other_sources"
    assert "only_parent_heard" in flag_ids(answers)
    assert "only_parent_heard" not in flag_ids({"sources": chose("parent", "school")})


@pytest.mark.parametrize("seen", ["not_seen", "seen_with_parent"])
def test_child_not_seen_alone(seen: str) -> None:
    answers = {"child_seen": chose(seen)}
    ids = path_ids(answers)
    assert ids[ids.index("child_seen") + 1] == "child_voice"
    assert "child_not_seen_alone" in flag_ids(answers)


def test_child_seen_alone_raises_nothing() -> None:
    answers = {"child_seen": chose("seen_alone"), "sources": chose("child", "parent")}
    assert "child_voice" not in path_ids(answers)
    assert flag_ids(answers) == set()


def test_alcohol_with_pregnancy_is_flagged_after_the_pregnancy_question() -> None:
    answers = {"risks": chose("alcohol"), "pregnancy": chose("yes")}
    ids = path_ids(answers)
    assert ids[ids.index("risks") :][:4] == ["risks", "at_the_time", "pregnancy", "alcohol_baby"]
    assert "alcohol_and_baby" in flag_ids(answers)


def test_drugs_alone_ask_about_pregnancy_but_do_not_flag_alcohol() -> None:
    answers = {"risks": chose("drugs"), "pregnancy": chose("yes")}
    assert "pregnancy" in path_ids(answers)
    assert "alcohol_and_baby" not in flag_ids(answers)
    assert "alcohol_baby" not in path_ids(answers)


def test_domestic_abuse_asks_what_happens_but_not_pregnancy() -> None:
    ids = path_ids({"risks": chose("domestic_abuse")})
    assert "at_the_time" in ids and "pregnancy" not in ids


def test_disagreement_not_escalated() -> None:
    disagree = {"agency_response": chose("disagree")}
    assert "escalated" in path_ids(disagree)
    assert "disagreement_not_escalated" in flag_ids(disagree)
    assert "disagreement_not_escalated" in flag_ids({**disagree, "escalated": chose("not_yet")})
    assert "disagreement_not_escalated" not in flag_ids({**disagree, "escalated": chose("yes")})
    assert "disagreement_not_escalated" not in flag_ids({"agency_response": chose("agree")})


def test_action_without_contingency_is_flagged() -> None:
    with_contingency = [{"what": "Visit", "contingency": "Escalate to manager"}]
    without = [*with_contingency, {"what": "Call GP", "contingency": None}]
    assert "no_contingency" not in flag_ids({}, with_contingency)
    assert "no_contingency" in flag_ids({}, without)
    assert "no_contingency" not in flag_ids({}, [])


def test_skipped_answers_trigger_no_follow_ups() -> None:
    answers = {"sources": AnswerState(skipped=True), "risks": AnswerState(skipped=True)}
    assert path_ids(answers) == [q.id for q in QS.main]


MINIMAL = {
    "themes": [{"id": "t", "title": "T", "gap": "g"}],
    "questions": [
        {
            "id": "q",
            "theme": "t",
            "point": 1,
            "kind": "choice",
            "label": "Q",
            "text": "?",
            "why": "w",
            "options": [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}],
        },
        {
            "id": "f",
            "theme": "t",
            "point": 1,
            "kind": "text",
            "label": "F",
            "text": "?",
            "why": "w",
            "follow_up": True,
        },
    ],
}


def test_a_partnership_can_add_a_rule_as_data() -> None:
    document = {
        **MINIMAL,
        "rules": [
            {"id": "r", "when": {"answer": "q", "is": ["b"]}, "ask": ["f"], "flag": "Think again"}
        ],
    }
    qs = parse_question_set(document)
    assert [q.id for q in qs.path({"q": chose("b")}, [])] == ["q", "f"]
    assert [r.flag for r in qs.flags({"q": chose("b")}, [])] == ["Think again"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"id": "r", "when": {"answer": "nope", "is": ["a"]}, "flag": "x"}, "unknown question"),
        ({"id": "r", "when": {"answer": "q", "is": ["zzz"]}, "flag": "x"}, "not an option"),
        ({"id": "r", "when": {"answer": "q", "is": ["a"]}, "ask": ["q"]}, "not a follow-up"),
        ({"id": "r", "when": {"answer": "q", "is": ["a"]}}, "needs 'ask', 'flag'"),
        ({"id": "r", "when": {"answer": "q", "equals": ["a"]}, "flag": "x"}, "unknown condition"),
    ],
)
def test_bad_rules_are_refused_with_their_name(rule, message) -> None:
    with pytest.raises(QuestionSetError, match=message):
        parse_question_set({**MINIMAL, "rules": [rule]})


def test_a_theme_without_a_question_is_refused() -> None:
    document = {**MINIMAL, "themes": [*MINIMAL["themes"], {"id": "u", "title": "U", "gap": "g"}]}
    with pytest.raises(QuestionSetError, match="themes with no question"):
        parse_question_set(document)
