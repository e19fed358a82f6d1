"""The question set as data: follow-ups, mentions, flags, roles, drift, and its validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.reflection.questions import (
    AnswerState,
    Facts,
    QuestionSetError,
    default_question_set,
    is_vague_contingency,
    load_question_set,
)

QS = default_question_set()
ROLES = ("social_worker", "health_visitor", "school", "police", "gp", "early_help")


def chose(*options: str) -> AnswerState:
    return AnswerState(skipped=False, choices=options)


def wrote(text: str) -> AnswerState:
    return AnswerState(skipped=False, text=text)


SKIPPED = AnswerState(skipped=True)


def path_ids(answers, **facts) -> list[str]:
    return [q.id for q in QS.path(Facts(answers, **facts))]


def flag_ids(answers, **facts) -> set[str]:
    return {f.rule for f in QS.fired(Facts(answers, **facts))}


# ---------------------------------------------------------------- the set itself


def test_every_theme_is_reached_by_a_main_question_in_the_full_set() -> None:
    asked = QS.main_for(Facts({}))
    assert {q.theme for q in asked} == {t.id for t in QS.themes}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_has_a_shorter_or_equal_set_with_today_then_the_worry_and_plan(role: str) -> None:
    asked = [q.id for q in QS.main_for(Facts({}, role=role))]
    assert asked[:2] == ["today", "worry"] and "plan" in asked
    assert "purpose" not in QS.questions
    assert len(asked) <= len(QS.main_for(Facts({})))


def test_a_safeguarding_lead_is_never_asked_about_consulting_one() -> None:
    assert "lead_contact" not in path_ids({}, role="school")
    assert "lead_contact" not in path_ids({}, is_lead=True)
    assert "lead_contact" in path_ids({}, role="health_visitor")


def test_why_this_matters_is_one_sentence_per_theme() -> None:
    for theme in QS.themes:
        assert theme.why.count(". ") == 0 and theme.why.endswith(".")


def test_a_repeat_reflection_reviews_the_plan_and_leaves_out_first_only_questions() -> None:
    first = path_ids({})
    repeat = path_ids({}, repeat=True, earlier_actions=2)
    assert "last_plan" in repeat and "changed" in repeat
    assert "child_day" in first and "child_day" not in repeat
    assert "last_plan" not in path_ids({}, repeat=True, earlier_actions=0)
    assert len(repeat) < len(first)


# ---------------------------------------------------------------- choices and follow-ups


def test_only_parent_heard_is_a_question_for_the_visit_not_another_to_answer_now() -> None:
    answers = {"sources": chose("parent")}
    ids = path_ids(answers)
    assert ids[ids.index("sources") + 1] == "risks"
    assert "only_parent_heard" in flag_ids(answers)
    assert "only_parent_heard" not in flag_ids({"sources": chose("parent", "school")})


@pytest.mark.parametrize("seen", ["seen_too_young", "seen_non_verbal"])
def test_a_child_who_does_not_speak_asks_how_they_communicate(seen: str) -> None:
    ids = path_ids({"child_seen": chose(seen)})
    assert ids[ids.index("child_seen") + 1] == "communication"
    assert flag_ids({"child_seen": chose(seen)}) == set()


def test_learning_disability_is_a_support_need_not_a_risk() -> None:
    answers = {"identity": chose("parent_need")}
    ids = path_ids(answers)
    assert ids[ids.index("identity") + 1] == "accessible_plan"
    assert "at_the_time" not in ids
    # Planned for, it raises nothing; left unplanned, it is a need to plan the visit around,
    # never a risk or something for today.
    assert (
        QS.fired(Facts({**answers, "accessible_plan": wrote("Easy-read letters, more time")})) == []
    )
    fired = QS.fired(Facts({**answers, "accessible_plan": AnswerState(skipped=True)}))
    assert [(f.rule, f.matters) for f in fired] == [("support_not_planned", "visit")]
    assert "not a risk" in fired[0].text
    assert all("learning" not in o.label.lower() for o in QS.questions["risks"].options)


def test_a_network_nobody_has_told_is_flagged() -> None:
    assert "network_not_told" in flag_ids({"network": chose("nobody")})
    assert "network_not_told" not in flag_ids({"network": chose("school", "health")})


def test_a_core_question_skipped_is_an_unknown_with_its_own_prompt() -> None:
    core = [q for q in QS.questions.values() if q.core]
    assert {q.id for q in core} >= {"child_seen", "sources", "household", "plan"}
    assert all(q.unknown for q in core)


def test_drinking_described_but_none_ticked_asks_about_the_child_and_names_it() -> None:
    answers = {
        "child_day": wrote("Mum had a couple of glasses the night before, baby was fretful"),
        "confirm_alcohol": chose("yes"),
        "risks": chose("none_known"),
    }
    ids = path_ids(answers)
    assert ids[ids.index("child_day") + 1] == "confirm_alcohol"
    assert ids[ids.index("risks") + 1] == "at_the_time"
    fired = {f.rule: f for f in QS.fired(Facts(answers))}
    assert {"alcohol_mentioned", "alcohol_not_ticked"} <= set(fired)
    assert 'you wrote "Mum had a couple of glasses' in fired["alcohol_mentioned"].text


def test_a_mention_confirmed_as_no_raises_nothing() -> None:
    answers = {"worry": wrote("Dad drinks a lot of fizzy pop"), "confirm_alcohol": chose("no")}
    assert "confirm_alcohol" in path_ids(answers)
    assert flag_ids(answers) == set()


@pytest.mark.parametrize(
    "text",
    [
        "Neither parent drinks.",
        "There's no alcohol in the house",
        "Dad doesn't drink at all",
        "He's her dad, I've met him twice and he's warm with her",
    ],
)
def test_negation_and_pronouns_do_not_ask(text: str) -> None:
    found = QS.found_mentions({"child_day": wrote(text), "household": wrote(text)})
    assert set(found) <= {"disclosure"} - {"disclosure"}, found


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("Mum says she doesn't drink, but there were bottles by the bin", "alcohol"),
        ("I'm not sure whether her partner drinks", "alcohol"),
        ("The baby sleeps in mum's bed most nights", "baby_sleep"),
        ("Bruise on his cheek, mum said he fell off the sofa", "injury"),
        ("She has been self-harming since the summer", "self_harm"),
        ("Her husband interpreted for her throughout", "interpreting"),
        ("He was not brought to the last three appointments", "not_brought"),
        ("Mum's new boyfriend is around a lot but nobody has met him", "unmet_man"),
        ("She told her teacher that dad hits her", "disclosure"),
        ("He says he is scared to go home", "danger"),
    ],
)
def test_mentions_are_heard(text: str, mention: str) -> None:
    found = QS.found_mentions({"child_day": wrote(text)})
    assert mention in found, found
    assert found[mention].quote and found[mention].quote.rstrip(".") in text + "..."


def test_not_sure_is_heard_only_where_it_is_about_a_condition_a_decision_or_who() -> None:
    assert "unknown" in QS.found_mentions(
        {"medical_detail": wrote("Not sure what the dietitian's plan is")}
    )
    assert "unknown" not in QS.found_mentions({"purpose": wrote("Not sure yet, a routine visit")})


@pytest.mark.parametrize(("answer", "immediate"), [("baby", True), ("older", False), ("no", False)])
def test_an_injury_to_a_non_mobile_child_is_for_today(answer: str, immediate: bool) -> None:
    answers = {"child_day": wrote("There was a bruise on her ear"), "confirm_injury": chose(answer)}
    fired = QS.immediate(Facts(answers), "confirm_injury")
    assert bool(fired) is immediate
    if immediate:
        assert fired[0].matters == "today" and "bruise on her ear" in fired[0].text


def test_skipping_everything_is_itself_flagged_and_nothing_else_fires() -> None:
    # Skipping never satisfies a rule about an answer: the summary reports the unknowns, and
    # skipping most of a reflection is worth a conversation.
    assert flag_ids({q.id: SKIPPED for q in QS.main}) == {"mostly_skipped"}
    assert flag_ids({q.id: SKIPPED for q in QS.main[:5]}) == set()


# ---------------------------------------------------------------- the plan and drift


@pytest.mark.parametrize(
    ("contingency", "vague"),
    [
        ("Continue to monitor", True),
        ("monitor and review", True),
        ("keep an eye on things", True),
        ("N/A", True),
        ("Ring the school", True),  # the action said again
        ("Ask the team manager to join the next visit", False),
        ("Strategy discussion with CSC the same day", False),
    ],
)
def test_what_counts_as_no_contingency(contingency: str, vague: bool) -> None:
    assert is_vague_contingency(contingency, "Ring the school", QS.settings) is vague


def test_drift_needs_the_earlier_reflection_and_a_long_open_case() -> None:
    now = {"engagement": chose("agreeing_no_change")}
    earlier = {"engagement": chose("agreeing_no_change")}
    assert "drift_no_change" in flag_ids(now, case_open_days=240, earlier=earlier, repeat=True)
    assert "drift_no_change" not in flag_ids(now, case_open_days=20, earlier=earlier, repeat=True)
    assert "drift_no_change" not in flag_ids(now, case_open_days=240)


@pytest.mark.parametrize(
    ("scales", "now", "fires"),
    [
        ((5,), "4", True),
        ((4, 4), "4", True),
        ((4,), "4", False),
        ((3,), "5", False),
        ((), "2", False),
    ],
)
def test_the_scale_flat_or_falling_is_drift(scales, now, fires) -> None:
    assert ("drift_scale" in flag_ids({"scale": wrote(now)}, scales=scales)) is fires


def test_actions_carried_over_undone_is_drift() -> None:
    answers = {"last_plan": chose("done", "not_done")}
    assert "drift_actions_carried" in flag_ids(answers)
    assert "drift_actions_carried" not in flag_ids({"last_plan": chose("done", "done")})


# ---------------------------------------------------------------- validation


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    source = Path("prompts/questions.yaml").read_text(encoding="utf-8")
    assert old in source
    path = tmp_path / "questions.yaml"
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line and not line.startswith("#"))


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("    kind: scale", "    kind: slider", "kind", "Input should be"),
        (
            "    theme: purpose\n    kind: text",
            "    theme: purpose\n    kind: text\n    colour: red",
            "colour",
            "Extra inputs",
        ),
        ("ask: [at_the_time]", "ask: [at_the_tim]", "ask", "not a follow-up question"),
        (
            "is: [not_seen, seen_with_parent]",
            "is: [not_seen, seen_alone_ish]",
            "when",
            "not an option",
        ),
        ("    matters: visit\n    title: Seeing", "    title: Seeing", "flag", "needs 'matters'"),
        ('"bruis",', '"bruis(",', "patterns", "not a valid pattern"),
    ],
)
def test_a_broken_question_set_names_the_line_and_field(tmp_path, old, new, field, message) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(QuestionSetError) as caught:
        load_question_set(path)
    text = str(caught.value)
    assert message in text and field in text, text
    line = int(text.split("line ")[1].split(",")[0])
    changed = _line_of(path, new.strip().splitlines()[-1])
    assert abs(changed - line) <= 8, text  # the field itself, or its entry


def test_the_shipped_question_set_loads() -> None:
    assert load_question_set().version == QS.version
