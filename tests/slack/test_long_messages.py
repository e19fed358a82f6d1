"""Long messages go out whole, split within Slack's limits, and never hold anyone up.

A practitioner who writes about 170 words an answer produces a summary of over 12,000
characters: Slack refuses that as one message (msg_blocks_too_long), and before it was split the
refusal was retried for about 31 hours while everything else to that person waited behind it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.clock import jobs
from bot.config.clock import ClockConfig
from bot.messaging.message import CONVERSATION, Message
from bot.slack import blocks as bk
from bot.slack.frontend import SlackFrontEnd
from bot.working_hours import WorkingHours
from storage.models import OutboxMessage, Reflection
from tests.slack.conftest import (
    PRACTITIONER,
    SUPERVISOR,
    SlackDriver,
    ephemeral_text,
    message_text,
)
from tools.fake_slack import FakeSlack, refused

# ---------------------------------------------------------------------------- the splitter

WORDS = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), exclude_characters="<>&"
    ),
    min_size=1,
    max_size=12,
)
# Slack's markup as the templates make it: escapes for what people typed, mentions, links.
MARKUP = st.sampled_from(
    ["&amp;", "&lt;", "&gt;", "<@U0TESTPRAC>", "<!here>", "<https://example.org/a|a link>"]
)
SPACES = st.sampled_from([" ", " ", " ", "\n", "\n\n"])
TOKENS = st.lists(st.one_of(WORDS, MARKUP, SPACES, st.just("👩‍👧")), max_size=1500)
WHOLE = re.compile(r"&(amp|lt|gt);|<[^<>]*>")


def slack_text(tokens: list[str]) -> str:
    return "".join(tokens)


def markup_intact(piece: str) -> bool:
    """Every & starts a whole escape, and every < closes before the next opens."""
    rest = WHOLE.sub("", piece)
    return "&" not in rest and "<" not in rest and ">" not in rest


def no_spaces(text: str) -> str:
    return re.sub(r"\s", "", text)


@settings(max_examples=300, deadline=None)
@given(tokens=TOKENS, limit=st.integers(min_value=100, max_value=bk.SECTION_TEXT_LIMIT))
def test_split_text_keeps_every_piece_within_the_limit_and_every_character(
    tokens: list[str], limit: int
) -> None:
    text = slack_text(tokens)
    pieces = bk.split_text(text, limit)
    assert all(0 < bk.slack_length(p) <= limit for p in pieces)
    assert no_spaces("".join(pieces)) == no_spaces(text)
    assert all(p == p.strip() for p in pieces)
    assert all(markup_intact(p) for p in pieces)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(TOKENS.map(slack_text), min_size=1, max_size=12),
    buttons=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_any_blocks_become_messages_within_every_limit_in_order(
    texts: list[str], buttons: list[bool]
) -> None:
    blocks: list[dict[str, Any]] = []
    for number, (text, with_button) in enumerate(zip(texts, buttons, strict=False)):
        blocks += [{"type": "divider"}, *bk.sections(text)]
        if with_button:
            button = bk.button("Acknowledge", action_id=f"a{number}", value=str(number))
            blocks.append(bk.actions(f"b{number}", [button]))
    payloads = bk.chat_messages(PRACTITIONER, blocks)
    assert [b for p in payloads for b in p["blocks"]] == blocks  # nothing lost or reordered
    for payload in payloads:
        assert refused("chat.postMessage", payload) is None
        assert len(payload["blocks"]) <= bk.MESSAGE_BLOCK_LIMIT
        assert sum(bk.block_size(b) for b in payload["blocks"]) <= bk.MESSAGE_TEXT_BUDGET
        assert 0 < len(payload["text"]) <= bk.FALLBACK_TEXT_LIMIT
        assert payload["blocks"][0]["type"] != "actions" or payload is payloads[0]
        assert payload["blocks"][-1]["type"] != "divider" or payload is payloads[-1]


def test_a_section_too_long_for_slack_is_split_before_it_is_sent() -> None:
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "word " * 1000}}
    [payload] = bk.chat_messages(PRACTITIONER, [long_section])
    assert [len(b["text"]["text"]) for b in payload["blocks"]] == [2999, 1999]
    assert refused("chat.postMessage", payload) is None


def test_the_fake_refuses_as_slack_does() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2500}}
    assert refused("chat.postMessage", {"blocks": [section] * 5}) == "msg_blocks_too_long"
    assert refused("chat.postMessage", {"blocks": [section] * 4}) is None
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    assert refused("chat.postMessage", {"blocks": [too_long]}) == "invalid_blocks"
    assert refused("chat.postMessage", {"blocks": bk.sections("x") * 51}) == "invalid_blocks"
    assert refused("chat.postMessage", {"text": "x" * 40_001}) == "msg_too_long"
    assert refused("views.publish", {"view": {"blocks": bk.sections("x") * 101}}) is not None
    assert refused("views.publish", {"view": {"blocks": bk.sections("x") * 100}}) is None


# ---------------------------------------------------------------------------- a vignette

# Invented answers of about 170 words, as a practitioner writing at length might give them.
PARAGRAPHS = [
    "She gets herself up most mornings and walks to school with her older brother, who is "
    "eleven and seems to carry a lot. Mum is often still asleep when they leave, and the "
    "school says breakfast is usually a packet of crisps from the corner shop on the way. "
    "After school she goes to the after-school club twice a week, which she enjoys, and on "
    "the other days she waits at home until mum's partner gets back from work. Tea is "
    "irregular: sometimes a proper meal, sometimes toast, sometimes nothing until late. "
    "Bedtime depends on what is happening in the house, and on the two evenings I visited "
    "she was still up after ten, watching videos on a phone in the front room while the "
    "adults argued in the kitchen. She told the teaching assistant that she likes "
    "weekends at her nan's best because it is quiet there and she has her own bed, which "
    "she does not have at home, where she shares with her brother and the baby's cot.",
    "I have seen her twice at home and once at school. At home she was polite, quiet and "
    "watchful, looking at mum before she answered even simple questions about her day. At "
    "school, with the teaching assistant she trusts, she was far more talkative: she drew "
    "her house and put herself in the garden, away from the others, and said that is "
    "where she goes when it gets loud. She would not say what 'loud' means. Her teacher "
    "describes her as bright but tired, often hungry at lunch, and increasingly on her own "
    "at break since two friends moved classes. Attendance has dropped over the autumn term, "
    "mostly Mondays, and the school has noticed that the absences follow weekends when mum "
    "has said there were 'problems at home'. I want to see her again at school, on her "
    "own, and use the three houses tool so that she can tell me about worries, good things "
    "and dreams without having to answer direct questions in front of anyone.",
    "The family speak English and Portuguese at home; mum's English is good but her partner "
    "relies on her to explain letters and appointments, and I am not sure how much of what "
    "is agreed at meetings he really understands. They are practising Catholics and church "
    "has been a source of support in the past, though mum says she stopped going after "
    "people started to talk about the arguments. I need to think about whether I have "
    "been reading mum's reluctance to involve the church as shame rather than as a "
    "reasonable wish for privacy, and whether an interpreter for her partner would change "
    "the conversations we are having. There is no known disability in the household. The "
    "older brother has been assessed for dyslexia and the school is putting support in "
    "place, which mum welcomes. I have not yet asked the children how they feel about the "
    "family's culture and faith, or whether anything about it makes school harder or "
    "easier for them; I should, and I should ask in a way that does not feel like a test.",
    "Two referrals from the school last year, both about neglect: unwashed uniform, hunger, "
    "late collection. Both were closed after a single assessment because mum engaged well "
    "and promised changes, and the case notes say things improved for a few weeks each "
    "time. Police attended a domestic incident in the autumn after a neighbour called, but "
    "no further action was taken and the school was not told until I mentioned it. The "
    "health visitor has had contact because of the baby and has raised concerns about the "
    "state of the kitchen and about mum seeming low. Looking across the chronology the "
    "pattern is one of short improvement after each contact and then drift back, and I am "
    "worried that each agency has seen a piece of this and treated it as a one-off. I "
    "want to put the pieces together properly with the school and the health visitor and "
    "test whether the picture is of chronic neglect rather than a series of bad patches, "
    "and whether mum's low mood has been properly understood or supported by anyone yet.",
]


def long_answer(number: int) -> str:
    text = PARAGRAPHS[number % len(PARAGRAPHS)]
    assert 160 <= len(text.split()) <= 180
    return text


def answer_everything_at_length(slack: SlackDriver, user: str) -> None:
    """Answer each question as the buttons invite: choices and ticks briefly, words at length."""
    written = 0
    for _ in range(200):
        with slack.new_session() as session:
            status = session.exec(
                select(Reflection.status).where(Reflection.practitioner_id == user)
            ).first()
        if status == "completed":
            return
        last = json.dumps(slack.last_message(user))
        if "reflect_answer_send" in last:
            response = slack.press(user, "reflect_answer_send")
        elif "reflect_tick" in last:
            response = slack.tick_and_send(user, ["1", "3"])
        elif "reflect_due_date" in last:
            response = slack.pick_date(user, "2026-12-04")
        elif "Next action*, or *done" in last:
            response = slack.message(user, "done")  # one action (at length) is the plan
        elif "does anything need action today?" in last:
            response = slack.press(user, "reflect_answer_3")  # no: the long answers follow
        elif "reflect_answer_yes" in last:
            response = slack.press(user, "reflect_answer_no")
        elif "reflect_answer_2" in last:
            response = slack.press(user, "reflect_answer_2")
        else:  # each paragraph in turn, whichever questions the answers before have raised
            response = slack.message(user, long_answer(written))
            written += 1
        assert response.status == 200
    raise AssertionError("never completed: " + "\n####\n".join(slack.texts_to(user)[-6:]))


def refusals(fake: FakeSlack) -> list[str]:
    return [c.method for c in fake.calls if not c.ok]


def arrived_in_order(slack: SlackDriver, user: str) -> bool:
    """Whether what reached ``user`` is everything recorded for them, in the order recorded."""
    with slack.new_session() as session:
        rows = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == user, OutboxMessage.surface == CONVERSATION)
            .order_by(OutboxMessage.id)  # type: ignore[arg-type]
        ).all()
    front_end = SlackFrontEnd(slack.client)
    recorded = [
        message_text(post.payload)
        for row in rows
        for post in front_end.render(row.surface, user, Message.from_json(row.payload))
    ]
    return recorded == [message_text(m) for m in slack.fake.messages_to(user)]


def test_a_reflection_answered_at_length_arrives_whole_and_holds_nobody_up(
    slack: SlackDriver,
) -> None:
    assert slack.command(PRACTITIONER, "CSC-3001").status == 200
    answer_everything_at_length(slack, PRACTITIONER)
    slack.deliver()
    assert refusals(slack.fake) == []

    # The practitioner's summary, then its answers behind "Show the answers": in order, and
    # together over Slack's limit for one message.
    texts = slack.texts_to(PRACTITIONER)
    start = next(i for i, t in enumerate(texts) if "Summary: CSC-3001" in t)
    answers = slack.show_answers(
        PRACTITIONER, message=slack.last_message(PRACTITIONER, with_action="summary_show_answers")
    )
    assert answers.startswith("*The answers: CSC-3001*")
    assert len("\n".join(texts[start:]) + answers) > 12_000
    assert PARAGRAPHS[0][:60] in answers and PARAGRAPHS[3][-60:] in answers
    assert arrived_in_order(slack, PRACTITIONER)

    # The supervisor's copy: whole, with its buttons on its last part only; the answers too.
    copies = slack.fake.messages_to(SUPERVISOR)
    assert "has finished a reflection on CSC-3001" in message_text(copies[0])
    assert "summary_acknowledge" in json.dumps(copies[-1])
    assert all("summary_acknowledge" not in json.dumps(c) for c in copies[:-1])
    supervisor_answers = slack.show_answers(SUPERVISOR, message=copies[-1])
    assert PARAGRAPHS[0][:60] in supervisor_answers and PARAGRAPHS[3][-60:] in supervisor_answers
    assert arrived_in_order(slack, SUPERVISOR)

    # /reflect history: too long for one ephemeral reply, so it goes to the DM, and says so.
    before = len(slack.fake.messages_to(PRACTITIONER))
    reply = ephemeral_text(slack.command(PRACTITIONER, "history CSC-3001"))
    assert "too long to show here" in reply and "direct message" in reply
    history = slack.texts_to(PRACTITIONER)[before:]
    assert len(history) >= 2 and "1 reflection on CSC-3001" in history[0]
    assert "Summary: CSC-3001" in "\n".join(history)

    # The weekly digest to the supervisor, and the practitioner's next reflection, at once.
    assert slack.command(PRACTITIONER, "CSC-3002").status == 200
    assert "First: does anything need action today?" in slack.texts_to(PRACTITIONER)[-1]
    context = jobs.ClockContext(
        new_session=slack.new_session,
        config=ClockConfig(),
        hours=WorkingHours(ZoneInfo("Europe/London")),
        now=slack.clock(),
    )
    assert jobs.weekly_digests(context) == 1
    slack.deliver()
    assert "Your Reflect week" in slack.texts_to(SUPERVISOR)[-1]
    assert slack.press(SUPERVISOR, "summary_acknowledge").status == 200
    slack.deliver()
    assert refusals(slack.fake) == []
    assert arrived_in_order(slack, PRACTITIONER) and arrived_in_order(slack, SUPERVISOR)
    with slack.new_session() as session:
        unsent = session.exec(select(OutboxMessage).where(OutboxMessage.status != "sent")).all()
    assert unsent == []
