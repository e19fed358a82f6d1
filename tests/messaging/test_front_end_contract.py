"""The FrontEnd contract (bot/messaging/frontend.py), which every front end keeps: the delivery
loop relies on nothing else. Each test runs against every front end in conftest.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.messaging.frontend import Stamp
from bot.messaging.message import CONVERSATION, Message, Part
from tests.messaging.conftest import Harness

SUPERVISOR = "U0SUPERVIS"


def note(lines: int) -> Message:
    text = "\n".join(
        f"Line {n:04d}: ask about the bedroom and who was there at night" for n in range(lines)
    )
    return Message.of(
        "notices/note_practitioner", supervisor_id=SUPERVISOR, case_ref="CSC-1001", note=text
    )


def send_all(harness: Harness, message: Message, outbox_id: int = 1) -> None:
    for part, post in enumerate(harness.front_end.render(CONVERSATION, harness.recipient, message)):
        outcome = harness.front_end.send(post, stamp=Stamp(outbox_id, part))
        assert outcome.ok, outcome.error


def test_render_gives_the_same_posts_every_time(harness: Harness) -> None:
    message = note(200)
    first = harness.front_end.render(CONVERSATION, harness.recipient, message)
    assert first == harness.front_end.render(CONVERSATION, harness.recipient, message)


def test_a_surface_the_platform_does_not_have_is_refused_as_a_value_error(harness: Harness) -> None:
    with pytest.raises(ValueError):
        harness.front_end.render("billboard", harness.recipient, note(1))


def test_a_message_is_sent_and_arrives_with_its_words(harness: Harness) -> None:
    send_all(harness, note(3))
    delivered = "\n".join(harness.delivered())
    assert "CSC-1001" in delivered and "Line 0002" in delivered


def test_a_long_message_is_split_into_posts_that_each_fit_and_arrive_in_order(
    harness: Harness,
) -> None:
    posts = harness.front_end.render(CONVERSATION, harness.recipient, note(400))
    assert len(posts) > 1 and all(harness.fits(post) for post in posts)
    send_all(harness, note(400))
    delivered = "\n".join(harness.delivered())
    positions = [delivered.index(f"Line {n:04d}") for n in (0, 150, 399)]
    assert positions == sorted(positions)


def test_a_single_message_is_one_post_however_long(harness: Harness) -> None:
    message = Message(note(400).parts, single=True)
    posts = harness.front_end.render(CONVERSATION, harness.recipient, message)
    assert len(posts) == 1 and harness.fits(posts[0])


def test_a_busy_platform_says_how_long_to_wait_and_nothing_arrives(harness: Harness) -> None:
    harness.busy_next()
    [post] = harness.front_end.render(CONVERSATION, harness.recipient, note(1))
    outcome = harness.front_end.send(post, stamp=Stamp(7))
    assert not outcome.ok and outcome.busy and outcome.retry_after is not None
    assert outcome.retry_after > timedelta(0) and harness.delivered() == []
    assert harness.front_end.send(post, stamp=Stamp(7)).ok


def test_a_refused_message_is_refused_for_good_and_never_raises(harness: Harness) -> None:
    harness.refuse_next()
    [post] = harness.front_end.render(CONVERSATION, harness.recipient, note(1))
    outcome = harness.front_end.send(post, stamp=Stamp(8))
    assert not outcome.ok and outcome.permanent and not outcome.busy
    assert harness.delivered() == []


def test_a_send_cut_off_after_it_arrived_is_uncertain_and_can_be_looked_for(
    harness: Harness,
) -> None:
    harness.cut_next()
    [post] = harness.front_end.render(CONVERSATION, harness.recipient, note(1))
    outcome = harness.front_end.send(post, stamp=Stamp(9))
    assert not outcome.ok and not outcome.permanent
    found = harness.front_end.find(
        post, stamp=Stamp(9), since=datetime.now(UTC) - timedelta(minutes=1)
    )
    # A front end that can look finds it; one that cannot says so with None, never an error.
    assert found is None or found.ok
    assert harness.kept() == 1


def test_a_claim_always_outlasts_a_send(harness: Harness) -> None:
    assert harness.front_end.longest_send() > timedelta(0)
    assert harness.front_end.send_deadline() >= timedelta(0)
    assert harness.front_end.longest_send() >= harness.front_end.send_deadline()


def test_the_parts_of_a_message_are_all_said(harness: Harness) -> None:
    message = Message(
        (
            Part("messages/stale_button"),
            Part(
                "notices/note_practitioner",
                {"supervisor_id": SUPERVISOR, "case_ref": "CSC-2002", "note": "See them alone"},
            ),
        )
    )
    send_all(harness, message)
    delivered = "\n".join(harness.delivered())
    assert "earlier question" in delivered and "CSC-2002" in delivered
