"""What reaches /api/messages that Reflect must not act on: a forged, expired or misdirected
token and another tenant are refused with 401 and change nothing; an activity of a kind Reflect
does not read, card data that is missing or altered, someone the organisation does not list and
a conversation Reflect did not start are acknowledged, logged once, and change nothing but a
plain reply where one helps."""

from __future__ import annotations

import logging
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import func, select

from storage.models import (
    Answer,
    HandledKey,
    InboxItem,
    OutboxMessage,
    Reflection,
    TeamsConversation,
)
from tests.teams.conftest import PRACTITIONER, STRANGER, TeamsDriver
from tools.fake_teams import KEY_ID

TABLES = (Reflection, Answer, InboxItem, OutboxMessage, HandledKey, TeamsConversation)


def _counts(driver: TeamsDriver) -> dict[str, int]:
    with driver.new_session() as session:
        return {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in TABLES
        }


def _refused_and_nothing_changed(driver: TeamsDriver, response: httpx.Response) -> None:
    assert response.status_code == 401
    assert all(count == 0 for count in _counts(driver).values()), _counts(driver)
    assert driver.cards_to(PRACTITIONER) == []


def test_a_token_signed_with_another_key_is_refused(
    driver: TeamsDriver, caplog: pytest.LogCaptureFixture
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(driver.fake.token_for_bot(), options={"verify_signature": False})
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": KEY_ID})
    with caplog.at_level(logging.WARNING):
        response = driver.post(driver.fake.install(PRACTITIONER), token=forged)
    _refused_and_nothing_changed(driver, response)
    assert "teams: refused a request: invalid token" in caplog.text


def test_an_expired_token_is_refused(driver: TeamsDriver) -> None:
    past = int(time.time()) - 3600
    token = driver.fake.token_for_bot(exp=past, iat=past - 60, nbf=past - 60)
    _refused_and_nothing_changed(
        driver, driver.post(driver.fake.message(PRACTITIONER, "reflect CSC-1"), token=token)
    )


def test_no_token_is_refused(driver: TeamsDriver) -> None:
    response = httpx.post(driver.url, json=driver.fake.install(PRACTITIONER), timeout=10)
    _refused_and_nothing_changed(driver, response)


def test_a_token_for_another_service_url_is_refused(driver: TeamsDriver) -> None:
    token = driver.fake.token_for_bot(service_url="https://smba.example.org/emea/")
    _refused_and_nothing_changed(
        driver, driver.post(driver.fake.install(PRACTITIONER), token=token)
    )


def test_an_activity_from_another_tenant_is_refused(
    driver: TeamsDriver, caplog: pytest.LogCaptureFixture
) -> None:
    other = "99999999-9999-4999-8999-999999999999"
    activity = driver.fake.activity("message", PRACTITIONER, tenant=other, text="reflect CSC-1")
    with caplog.at_level(logging.WARNING):
        response = driver.post(activity)
    _refused_and_nothing_changed(driver, response)
    assert "another tenant" in caplog.text


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type": "message"}'])
def test_what_is_not_an_activity_is_refused(driver: TeamsDriver, body: bytes) -> None:
    headers = {
        "Authorization": f"Bearer {driver.fake.token_for_bot()}",
        "Content-Type": "application/json",
    }
    response = httpx.post(driver.url, content=body, headers=headers, timeout=10)
    _refused_and_nothing_changed(driver, response)


def test_an_activity_reflect_does_not_read_is_acknowledged_and_ignored(
    driver: TeamsDriver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="bot.teams"):
        response = driver.post(driver.fake.activity("somethingNew", PRACTITIONER))
        typing = driver.post(driver.fake.activity("typing", PRACTITIONER))
    assert (response.status_code, typing.status_code) == (200, 200)
    assert all(count == 0 for count in _counts(driver).values())
    ignored = [r for r in caplog.records if r.getMessage().startswith("teams: ignored an activity")]
    # One line each; a typing indicator, which Teams sends all the time, only when debugging.
    assert [r.levelname for r in ignored] == ["INFO", "DEBUG"]


def _started(driver: TeamsDriver) -> None:
    assert driver.install(PRACTITIONER).status_code == 200
    assert driver.say(PRACTITIONER, "reflect CSC-7101").status_code == 200
    driver.deliver()


@pytest.mark.parametrize(
    "value",
    [
        {"reflect": "answer", "text": "1"},  # no stamp
        {"reflect": "answer", "stamp": 5, "text": "1"},  # not a stamp
        {"reflect": "ticked", "stamp": "1.1", "ticked": "1,x"},
        {"reflect": "date", "stamp": "1.1", "date": "next week"},
        {"reflect": "nonsense"},
        {"no": "reflect"},
        {"reflect": "add_note", "reflection": "1"},  # no text
    ],
)
def test_card_data_missing_or_altered_is_ignored_with_one_log_line(
    driver: TeamsDriver, caplog: pytest.LogCaptureFixture, value: dict[str, object]
) -> None:
    _started(driver)
    before = _counts(driver)
    with caplog.at_level(logging.WARNING, logger="bot.teams"):
        assert driver.submit(PRACTITIONER, value).status_code == 200
    assert _counts(driver) == before
    assert caplog.text.count("teams: ignored a card submission with missing or altered data") == 1
    assert "next week" not in caplog.text


def test_an_altered_reflection_id_is_refused_by_the_access_check(driver: TeamsDriver) -> None:
    _started(driver)
    forged = {"reflect": "acknowledge", "reflection": "99999"}
    assert driver.submit(PRACTITIONER, forged).status_code == 200
    with driver.new_session() as session:
        [reflection] = session.exec(select(Reflection)).all()
    assert reflection.acknowledged_at is None
    assert driver.texts_to(PRACTITIONER)[-1]  # told plainly why nothing happened


def test_someone_the_organisation_does_not_list_is_told_plainly(
    driver: TeamsDriver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.teams"):
        assert driver.say(STRANGER, "reflect CSC-7102").status_code == 200
    with driver.new_session() as session:
        assert session.exec(select(Reflection)).all() == []
    [told] = driver.texts_to(STRANGER)
    assert "isn't set up for you" in told
    assert caplog.text.count("does not list") == 1


def test_a_group_chat_or_channel_is_not_where_reflect_talks(
    driver: TeamsDriver, caplog: pytest.LogCaptureFixture
) -> None:
    assert driver.install(PRACTITIONER).status_code == 200
    driver.deliver()
    before = len(driver.cards_to(PRACTITIONER))
    channel = driver.fake.activity(
        "message", PRACTITIONER, conversation_type="channel", text="reflect CSC-7103"
    )
    with caplog.at_level(logging.INFO, logger="bot.teams"):
        assert driver.post(channel).status_code == 200
    with driver.new_session() as session:
        assert session.exec(select(Reflection)).all() == []
    [told] = driver.texts_to(PRACTITIONER)[before:]
    assert "one-to-one chat" in told  # in their personal chat, not the channel
    assert driver.fake.posted_to("19:x") == []
    assert caplog.text.count("outside a personal chat") == 1


def test_the_same_activity_sent_twice_is_handled_once(driver: TeamsDriver) -> None:
    assert driver.install(PRACTITIONER).status_code == 200
    activity = driver.fake.message(PRACTITIONER, "reflect CSC-7104")
    assert driver.post(activity).status_code == 200
    assert driver.post(activity).status_code == 200
    driver.deliver()
    with driver.new_session() as session:
        assert len(session.exec(select(Reflection)).all()) == 1
    questions = [t for t in driver.texts_to(PRACTITIONER) if "action today" in t]
    assert len(questions) == 1


def test_an_entra_object_id_in_capitals_is_the_same_person(driver: TeamsDriver) -> None:
    assert driver.install(PRACTITIONER).status_code == 200
    activity = driver.fake.message(PRACTITIONER, "list")
    activity["from"]["aadObjectId"] = PRACTITIONER.upper()
    assert driver.post(activity).status_code == 200
    assert "no open cases" in driver.texts_to(PRACTITIONER)[-1]


def test_an_activity_of_another_kind_from_another_tenant_is_refused_too(
    driver: TeamsDriver,
) -> None:
    other = "99999999-9999-4999-8999-999999999999"
    response = driver.post(driver.fake.activity("somethingNew", PRACTITIONER, tenant=other))
    _refused_and_nothing_changed(driver, response)
