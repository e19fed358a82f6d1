"""Whatever a practitioner types, what reaches Slack cannot ping a channel or mention anyone:
the only <...> sequences in a rendered message are the mentions the template itself built."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.reflection.messages import Said
from bot.render import Renderer
from bot.requests import Requests
from bot.slack.dialect import SLACK, escape_slack
from tests.protection.conftest import LEAD, PRACTITIONER, SUPERVISOR, load_org

slack = Renderer(SLACK)
CONTROL = re.compile(r"<[^<>]*>")
LOOSE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")
ATTACKS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!here|here>",
    f"<@{SUPERVISOR}>",
    "<@U0TESTSTRN>",
    "<@W0123ABC|someone>",
    "<#C0123ABCD|general>",
    "<!subteam^S0123>",
    "<https://example.invalid|click here>",
    "&lt;!channel&gt;",
    "<<!channel>>",
    "< !channel >",
    "&",
    ">",
    "<",
]
hostile = st.one_of(
    st.text(max_size=60),
    st.sampled_from(ATTACKS),
    st.lists(st.one_of(st.sampled_from(ATTACKS), st.text(max_size=10)), max_size=5).map("".join),
)


def controls(rendered: str) -> list[str]:
    return sorted(CONTROL.findall(rendered))


def assert_inert(hostile_render: str, benign_render: str, typed: list[str]) -> None:
    """The hostile rendering has exactly the control sequences the benign one has (the
    template's own mentions), no bare & < >, and every typed text appears, escaped, intact."""
    assert controls(hostile_render) == controls(benign_render)
    leftover = CONTROL.sub("", hostile_render)
    assert "<" not in leftover and ">" not in leftover
    assert not LOOSE_AMPERSAND.search(hostile_render)
    for text in typed:
        assert escape_slack(text) in hostile_render
    for ping in ("<!channel>", "<!here", "<!everyone>", "<#C", "<@U0TESTSTRN"):
        assert ping not in hostile_render


def question_data(
    previous: str, what: str, step: str | None, kind: str, last_time: str | None = None
) -> dict[str, Any]:
    """A question's data as ReflectionService._prompt builds it; typed text goes where it can
    come back: the answer given before, last time's answer, and an action's words."""
    action = {"what": what, "owner": what, "due_on": None, "contingency": None, "meanwhile": None}
    data: dict[str, Any] = {
        "case_ref": "CSC-1001",
        "question_id": "q",
        "kind": kind,
        "theme_title": "The child's lived experience",
        "theme_number": 1,
        "theme_total": 14,
        "new_theme": True,
        "text": "What is a day like for the child?",
        "why": "Reviews keep finding the child was not seen.",
        "follow_up": False,
        "options": [],
        "previous": previous,
        "last_time": last_time,
        "step": step,
        "action_number": 1,
        "actions_so_far": 1,
        "draft": action,
        "today": date(2026, 11, 26),
    }
    if kind == "review":
        data["review"] = {"number": 1, "total": 2, "action": action, "on": None}
        data["options"] = [{"number": 1, "id": "done", "label": "Done"}]
    return data


def summary_data(answer: str, action: str, owner: str) -> dict[str, Any]:
    """A summary as build_summary makes it, with typed text in every place it can reach: the
    first screen, a flag's quote, what is working, the plan and the last plan, the decision
    asked of the supervisor, and the answers."""
    flag = {
        "rule": "r",
        "text": f'Who else could tell you? You wrote "{answer}".',
        "matters": "visit",
        "title": "Someone else",
        "quote": answer,
    }
    return {
        "case_ref": "CSC-1001",
        "practitioner_id": PRACTITIONER,
        "completed_at": "2026-11-26T10:00:00+00:00",
        "question_set_version": "1",
        "role": "social_worker",
        "role_title": "Social worker",
        "repeat": True,
        "first_screen": {
            "purpose": answer,
            "worry": action,
            "scale": 4,
            "scale_before": 3,
            "see_alone": ["the child, away from their parents"],
            "look_for": ["Someone else"],
        },
        "themes": [
            {
                "id": "lived",
                "title": "Lived experience",
                "entries": [{"question": "The child's day", "answer": answer}],
            }
        ],
        "gaps": [{"theme": "History", "reason": "skipped", "prompt": "Who knows the history?"}],
        "flags": [flag],
        "flags_by_when": {"today": [], "visit": [flag], "supervision": []},
        "unknowns": [],
        "working_well": owner,
        "actions": [
            {
                "what": action,
                "owner": owner,
                "due_on": "2026-12-04",
                "contingency": answer,
                "meanwhile": owner,
            }
        ],
        "earlier_actions": [{"what": action, "due_on": "2026-11-20", "status": "done"}],
        "context": {
            "days_open": 40,
            "opened_on": "2026-10-17",
            "reflections_so_far": 2,
            "scale_trend": [3, 4],
            "earlier_actions_done": "1 of 1",
            "earlier_on": "2026-11-20T10:00:00+00:00",
        },
        "supervisor_ask": "decision",
        "decision_needed": answer,
        "lead": {"status": "not_yet", "on": None},
        "supervisor_id": SUPERVISOR,
        "lead_ids": [LEAD],
        "agency_name": "Children's Social Care",
    }


@settings(max_examples=200, deadline=None)
@given(
    hostile,
    hostile,
    st.sampled_from(
        [(None, "text"), ("contingency", "plan"), ("meanwhile", "plan"), ("0", "review")]
    ),
    st.one_of(st.none(), hostile),
)
def test_question_messages_are_inert(
    previous: str, what: str, step_kind: tuple, last_time: str | None
) -> None:
    step, kind = step_kind
    rendered = slack.message(Said("question", question_data(previous, what, step, kind, last_time)))
    benign = slack.message(
        Said("question", question_data("x", "y", step, kind, "z" if last_time else None))
    )
    typed = [previous] if kind != "review" else []  # a review shows the action, not an answer
    typed += [what] if kind == "review" else []  # the plan's steps need not repeat the action
    typed += [last_time] if last_time and kind == "text" else []
    assert_inert(rendered, benign, [t for t in typed if t])


@settings(max_examples=200, deadline=None)
@given(hostile, hostile, hostile, st.sampled_from(["supervisor", "lead", "practitioner", "record"]))
def test_summary_messages_are_inert(answer: str, action: str, owner: str, audience: str) -> None:
    rendered = slack.message(
        Said("summary", {"summary": summary_data(answer, action, owner), "audience": audience})
    )
    benign = slack.message(
        Said("summary", {"summary": summary_data("a", "b", "c"), "audience": audience})
    )
    if audience in {"supervisor", "lead"}:
        assert f"<@{PRACTITIONER}>" in rendered
    assert_inert(rendered, benign, [t for t in (answer, action, owner) if t])


@settings(max_examples=100, deadline=None)
@given(hostile)
def test_other_messages_that_echo_typed_text_are_inert(typed: str) -> None:
    for template, data, shown in (
        ("case_ref_invalid", {"case_ref": typed}, True),
        ("switched", {"from_case": typed}, True),
        ("paused", {"case_ref": typed}, True),
        ("cancelled", {"case_ref": typed}, True),
        ("lead_reminder", {"case_ref": typed, "lead_ids": [], "in_organisation": True,
                           "agency_name": typed}, True),
        ("lead_reminder", {"case_ref": "CSC-1", "lead_ids": [LEAD, typed],
                           "in_organisation": True, "agency_name": None}, True),
        ("confirm", {"case_ref": typed, "supervisor_id": SUPERVISOR, "lead_ids": [LEAD],
                     "in_organisation": True}, True),
    ):  # fmt: skip
        rendered = slack.message(Said(template, data))
        benign = slack.message(Said(template, {k: _benign(v, typed) for k, v in data.items()}))
        if template == "lead_reminder" and data["lead_ids"]:
            assert f"<@{LEAD}>" in rendered
        if typed in data.get("lead_ids", []) and re.fullmatch(r"[UW][A-Z0-9]+", typed):
            continue  # a well-formed Slack ID in the lead list is a real mention, by design
        assert_inert(rendered, benign, [typed] if typed and shown else [])


def _benign(value: Any, typed: str) -> Any:
    if isinstance(value, list):
        return [_benign(v, typed) for v in value]
    return "x" if value == typed else value


def test_a_mention_id_that_is_not_a_person_id_is_escaped_not_trusted() -> None:
    data = summary_data("a", "b", "c")
    data["practitioner_id"] = "U1><!channel"
    rendered = slack.message(Said("summary", {"summary": data, "audience": "supervisor"}))
    assert "<!channel" not in rendered
    assert "U1&gt;&lt;!channel" in rendered


def test_hostile_answers_through_the_service_render_inert(
    service: Requests, new_session: Any
) -> None:
    """End to end: answers typed into a real reflection, every reply rendered for Slack."""
    load_org(new_session, leads_see=True)
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    typed = "<!channel> tell <@U0TESTSTRN> & <#C0123ABCD> <!here|here> <https://x.invalid|y>"
    replies = [service.respond(practitioner_id=PRACTITIONER, text=typed)]
    replies.append(service.respond(practitioner_id=PRACTITIONER, text="back"))
    allowed = {f"<@{i}>" for i in (PRACTITIONER, SUPERVISOR, LEAD)}
    for reply in replies:
        for message in reply.messages:
            rendered = slack.message(message)
            assert set(CONTROL.findall(rendered)) <= allowed, message.template
            assert not LOOSE_AMPERSAND.search(rendered)
    shown_again = "\n".join(slack.message(m) for m in replies[-1].messages)
    assert escape_slack(typed) in shown_again
