"""The Teams front end of the outbox over real HTTP to the fake Teams: what a card holds, what is
posted where, what Teams' answers mean (429, a cut connection, a refusal), splitting within
Teams' size limit, and a message for someone who has not added the app."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.messaging.delivery import MAX_ATTEMPTS, Delivery
from bot.messaging.frontend import Stamp
from bot.messaging.message import CONVERSATION, HOME, Control, Message, Part
from bot.settings import Settings
from bot.teams.frontend import (
    INSTALL_RETRY,
    POST_LIMIT,
    TeamsFrontEnd,
    TeamsPost,
    front_end_for,
)
from storage import outbox
from storage import teams as references
from storage.db import SessionFactory, transaction
from storage.models import OutboxMessage
from tests.slack.conftest import TickingClock
from tools.fake_teams import ACTIVITY_LIMIT, FakeTeams, personal_chat, user_id

PERSON = "11111111-1111-4111-8111-111111111111"
STRANGER = "22222222-2222-4222-8222-222222222222"
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _installed(new_session: SessionFactory, teams: FakeTeams, person: str = PERSON) -> None:
    reference = references.ConversationReference(
        person_id=person,
        tenant_id=teams.tenant,
        service_url=teams.service_url,
        conversation_id=personal_chat(person),
        user_id=user_id(person),
        bot_id=f"28:{teams.app_id}",
    )
    with transaction(new_session) as session:
        references.remember(session=session, reference=reference, now=NOW)


@pytest.fixture
def front_end(teams: FakeTeams, new_session: SessionFactory) -> TeamsFrontEnd:
    settings = Settings.model_validate(teams.environment())
    made = front_end_for(settings, new_session)
    assert made is not None
    return made


def _texts(activity: dict[str, object]) -> list[str]:
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if value.get("type") == "TextBlock":
                found.append(str(value["text"]))
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(activity)
    return found


def _submits(activity: dict[str, object]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if value.get("type") == "Action.Submit":
                found.append(dict(value["data"]))  # type: ignore[arg-type]
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(activity)
    return found


QUESTION = Message(
    (
        Part(
            "messages/question",
            {
                "kind": "choice",
                "text": "Who lives at home?",
                "new_theme": False,
                "last_time": None,
                "previous": None,
                "options": [{"number": 1, "label": "Mum"}, {"number": 2, "label": "Dad"}],
            },
            (Control("answer", "41.1765100000000000"),),
        ),
    )
)


def test_a_question_becomes_a_card_whose_buttons_send_what_typing_would(
    front_end: TeamsFrontEnd,
) -> None:
    [post] = front_end.render(CONVERSATION, PERSON, QUESTION)
    assert "Who lives at home?" in _texts(post.activity)
    submits = _submits(post.activity)
    assert {"reflect": "answer", "stamp": "41.1765100000000000", "text": "1"} in submits
    assert [s["text"] for s in submits if s.get("reflect") == "answer"] == [
        "1",
        "2",
        "skip",
        "back",
        "pause",
    ]


def test_text_a_person_typed_cannot_become_a_link_emphasis_or_mention(
    front_end: TeamsFrontEnd,
) -> None:
    typed = "see https://evil.example/x [here](https://a.example) <at>Sam</at> **now**"
    message = Message.of(
        "notices/note_practitioner", case_ref="CSC-1", note=typed, supervisor_id="s"
    )
    [post] = front_end.render(CONVERSATION, PERSON, message)
    shown = "\n".join(_texts(post.activity))
    assert "https://" not in shown and not re.search(r"(?<!\\)\]\(", shown)
    assert "<at>" not in shown and "**now**" not in shown


def test_the_supervisors_copy_offers_every_action_and_dialogs_for_a_note_and_a_decision(
    front_end: TeamsFrontEnd,
) -> None:
    controls = tuple(
        Control(action, "7")
        for action in (
            "acknowledge",
            "add_note",
            "call_promised",
            "record_decision",
            "show_answers",
        )
    )
    message = Message(
        (
            Part(
                "messages/supervisor_intro",
                {"practitioner_id": PERSON, "case_ref": "CSC-2"},
                controls,
            ),
        )
    )
    [post] = front_end.render(CONVERSATION, PERSON, message)
    kinds = sorted(str(s["reflect"]) for s in _submits(post.activity))
    assert kinds == sorted(
        ["acknowledge", "add_note", "call_promised", "record_decision", "show_answers"]
    )
    dialogs = [s for s in _submits(post.activity) if s.get("msteams") == {"type": "task/fetch"}]
    assert sorted(str(s["reflect"]) for s in dialogs) == ["add_note", "record_decision"]
    assert all(s["reflection"] == "7" for s in dialogs)
    assert '"Input.Text"' not in json.dumps(post.activity)


def test_a_post_goes_to_the_persons_personal_chat(
    front_end: TeamsFrontEnd, teams: FakeTeams, new_session: SessionFactory
) -> None:
    _installed(new_session, teams)
    [post] = front_end.render(CONVERSATION, PERSON, QUESTION)
    outcome = front_end.send(post, stamp=Stamp(1))
    assert outcome.ok and outcome.ref
    [posted] = teams.posted_to(personal_chat(PERSON))
    assert posted["recipient"] == {"id": user_id(PERSON)}
    assert posted["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


def test_teams_throttling_is_waited_out_for_as_long_as_it_asks(
    front_end: TeamsFrontEnd, teams: FakeTeams, new_session: SessionFactory
) -> None:
    _installed(new_session, teams)
    teams.fail_next(1, 429, retry_after=17)
    [post] = front_end.render(CONVERSATION, PERSON, QUESTION)
    outcome = front_end.send(post, stamp=Stamp(1))
    assert (outcome.ok, outcome.busy, outcome.retry_after) == (False, True, timedelta(seconds=17))
    assert not outcome.permanent and not outcome.uncertain


def test_a_cut_connection_may_have_posted_and_is_resent_at_most_once(
    front_end: TeamsFrontEnd,
    teams: FakeTeams,
    new_session: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _installed(new_session, teams)
    [post] = front_end.render(CONVERSATION, PERSON, QUESTION)
    teams.cut_next(1, after_keeping=True)
    outcome = front_end.send(post, stamp=Stamp(5))
    assert (outcome.ok, outcome.uncertain) == (False, True)
    assert len(teams.posted_to(personal_chat(PERSON))) == 1  # Teams kept it all the same
    assert front_end.find(post, stamp=Stamp(5), since=NOW) is None  # so it is sent again
    with caplog.at_level(logging.WARNING):
        again = front_end.find(post, stamp=Stamp(5), since=NOW)
    assert again is not None and again.ok  # a second time: taken as delivered
    assert "outbox message 5 part 0: sent twice" in caplog.text
    assert front_end.find(post, stamp=Stamp(5, part=1), since=NOW) is None  # each post its own


def test_a_refusal_for_the_message_itself_is_permanent_and_a_server_error_uncertain(
    front_end: TeamsFrontEnd, teams: FakeTeams, new_session: SessionFactory
) -> None:
    _installed(new_session, teams)
    [post] = front_end.render(CONVERSATION, PERSON, QUESTION)
    teams.fail_next(1, 400)
    refused = front_end.send(post, stamp=Stamp(1))
    assert refused.permanent and not refused.uncertain
    teams.fail_next(1, 502)
    failed = front_end.send(post, stamp=Stamp(1))
    assert failed.uncertain and not failed.permanent


def test_a_wrong_secret_is_the_apps_fault_and_nothing_is_posted(
    teams: FakeTeams, new_session: SessionFactory
) -> None:
    _installed(new_session, teams)
    settings = Settings.model_validate({**teams.environment(), "TEAMS_APP_SECRET": "wrong"})
    front_end = front_end_for(settings, new_session)
    assert front_end is not None
    [post] = front_end.render(CONVERSATION, PERSON, QUESTION)
    outcome = front_end.send(post, stamp=Stamp(1))
    assert outcome.app_fault and not outcome.ok
    assert teams.posted() == []


def test_a_long_message_is_split_into_posts_teams_takes_in_order(
    front_end: TeamsFrontEnd, teams: FakeTeams, new_session: SessionFactory
) -> None:
    _installed(new_session, teams)
    answers = [
        Part(
            "notices/note_practitioner",
            {"case_ref": f"CSC-{n}", "note": f"{n} " + "word " * 1500, "supervisor_id": "s"},
            apart=True,
        )
        for n in range(12)
    ]
    message = Message((*answers, *QUESTION.parts))
    posts = front_end.render(CONVERSATION, PERSON, message)
    assert len(posts) > 1
    assert all(len(json.dumps(p.activity).encode()) <= POST_LIMIT < ACTIVITY_LIMIT for p in posts)
    for part, post in enumerate(posts):
        assert front_end.send(post, stamp=Stamp(9, part)).ok
    shown = "\n".join(t for p in teams.posted() for t in _texts(p))
    order = [shown.find(f"CSC-{n}") for n in range(12)]
    assert order == sorted(order) and -1 not in order
    # The buttons stay with the question, in the last post.
    assert _submits(teams.posted()[-1]) and not any(_submits(p) for p in teams.posted()[:-1])


def test_a_single_message_stays_one_post_shortened_if_ever_too_long(
    front_end: TeamsFrontEnd,
) -> None:
    part = Part(
        "notices/note_practitioner",
        {"case_ref": "CSC-1", "note": "word " * 20000, "supervisor_id": "s"},
    )
    [post] = front_end.render(CONVERSATION, PERSON, Message((part,), single=True))
    assert len(json.dumps(post.activity).encode()) <= POST_LIMIT
    assert _texts(post.activity)[-1].endswith("…")


def test_teams_has_no_home_page_to_publish(front_end: TeamsFrontEnd) -> None:
    assert front_end.render(HOME, PERSON, QUESTION) == []


def test_a_message_for_someone_without_the_app_waits_then_is_set_aside_with_a_reason(
    front_end: TeamsFrontEnd,
    teams: FakeTeams,
    new_session: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = TickingClock(NOW)
    delivery = Delivery(new_session, front_end, now=clock)
    with transaction(new_session) as session:
        outbox.enqueue(
            session=session,
            dedupe_key="summary-to-stranger",
            surface=CONVERSATION,
            recipient=STRANGER,
            payload=QUESTION.to_json(),
            now=clock(),
        )
    with caplog.at_level(logging.WARNING):
        for _ in range(MAX_ATTEMPTS - 1):
            delivery.deliver_due()
            clock.advance(INSTALL_RETRY.total_seconds())
        with new_session() as session:
            [waiting] = session.exec(select(OutboxMessage)).all()
        assert waiting.status == "pending" and "not_installed" in (waiting.last_error or "")
        delivery.deliver_due()
    with new_session() as session:
        [message] = session.exec(select(OutboxMessage)).all()
    assert message.status == "failed"
    assert "not added Reflect in Teams" in caplog.text and "set aside" in caplog.text
    assert clock.current - NOW >= timedelta(hours=23)
    assert teams.posted() == []


def test_once_the_person_adds_the_app_the_waiting_message_goes(
    front_end: TeamsFrontEnd, teams: FakeTeams, new_session: SessionFactory
) -> None:
    clock = TickingClock(NOW)
    delivery = Delivery(new_session, front_end, now=clock)
    with transaction(new_session) as session:
        outbox.enqueue(
            session=session,
            dedupe_key="prompt-to-person",
            surface=CONVERSATION,
            recipient=PERSON,
            payload=QUESTION.to_json(),
            now=clock(),
        )
    delivery.deliver_due()
    assert teams.posted() == []
    _installed(new_session, teams)
    clock.advance(INSTALL_RETRY.total_seconds())
    delivery.deliver_due()
    assert len(teams.posted_to(personal_chat(PERSON))) == 1


def test_a_post_object_names_its_recipient() -> None:
    assert TeamsPost(PERSON, {}).recipient == PERSON


def test_every_template_compiles_in_teams_dialect() -> None:
    from bot.teams.text import teams_renderer

    assert teams_renderer().compile_all(("teams/", "messages/", "notices/", "clock/")) > 50


def test_a_send_teams_is_too_slow_to_answer_may_have_arrived(
    teams: FakeTeams, new_session: SessionFactory
) -> None:
    import httpx

    from bot.teams.auth import AppTokens

    _installed(new_session, teams)
    client = httpx.Client(timeout=httpx.Timeout(0.3, connect=5))
    tokens = AppTokens(
        app_id=teams.app_id, secret=teams.secret, token_url=teams.token_url, client=client
    )
    hasty = TeamsFrontEnd(new_session, client=client, tokens=tokens)
    tokens.token()  # the token endpoint is not slowed, only the connector
    teams.slow_down(1.0)
    [post] = hasty.render(CONVERSATION, PERSON, QUESTION)
    outcome = hasty.send(post, stamp=Stamp(11))
    assert (outcome.ok, outcome.uncertain, outcome.error) == (False, True, "ReadTimeout")
    assert teams.wait_for(lambda: len(teams.posted_to(personal_chat(PERSON))) == 1)
