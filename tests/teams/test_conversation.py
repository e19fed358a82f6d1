"""A reflection in Teams, end to end over HTTP: adding the app, `reflect CASE`, answering by
typing and by pressing card buttons, a stale button, commands, and the summary to the
supervisor with its actions and the note's dialog."""

from __future__ import annotations

from sqlmodel import select

from bot.teams.frontend import INSTALL_RETRY
from storage import teams as references
from storage.models import AuditEntry, Reflection, SupervisorNote
from tests.teams.conftest import (
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    TeamsDriver,
    submits,
    texts,
)

TODAY = "First: does anything need action today?"


def _started(driver: TeamsDriver, person: str = PRACTITIONER, case: str = "CSC-7001") -> None:
    assert driver.install(SUPERVISOR).status_code == 200
    assert driver.install(person).status_code == 200
    assert driver.say(person, f"reflect {case}").status_code == 200
    assert TODAY in driver.texts_to(person)[-1]


def test_adding_the_app_remembers_the_chat_and_says_what_reflect_does(driver: TeamsDriver) -> None:
    assert driver.install(PRACTITIONER).status_code == 200
    with driver.new_session() as session:
        kept = references.reference_for(session=session, person_id=PRACTITIONER)
    assert kept is not None and kept.service_url == driver.fake.service_url
    [welcome] = driver.texts_to(PRACTITIONER)
    assert "reflect CSC-1234" in welcome and "/reflect" not in welcome


def test_a_whole_reflection_in_teams(driver: TeamsDriver) -> None:
    assert driver.install(PRACTITIONER).status_code == 200
    assert driver.say(PRACTITIONER, "reflect CSC-7001").status_code == 200
    assert TODAY in driver.texts_to(PRACTITIONER)[-1]
    question = driver.cards_to(PRACTITIONER)[-1]["activity"]
    # Every button carries what typing would send, and the question's stamp.
    assert all(d.get("stamp") and d.get("text") for d in submits(question))
    assert driver.press(PRACTITIONER, text="skip").status_code == 200
    assert TODAY not in driver.texts_to(PRACTITIONER)[-1]
    driver.skip_to_confirmation(PRACTITIONER)
    assert driver.press(PRACTITIONER, text="send").status_code == 200
    with driver.new_session() as session:
        [done] = session.exec(select(Reflection)).all()
    assert done.status == "completed"
    summary = "\n".join(driver.texts_to(PRACTITIONER)[-3:])
    assert "CSC-7001" in summary
    # The supervisor has not added the app yet: their copy waits until they do.
    assert driver.cards_to(SUPERVISOR) == []
    assert driver.install(SUPERVISOR).status_code == 200
    driver.clock.advance(INSTALL_RETRY.total_seconds())
    kinds = {
        d["reflect"] for card in driver.cards_to(SUPERVISOR) for d in submits(card["activity"])
    }
    assert {"acknowledge", "add_note", "call_promised", "record_decision"} <= kinds


def test_a_button_on_an_earlier_question_shows_the_current_one_again(driver: TeamsDriver) -> None:
    _started(driver)
    first = driver.cards_to(PRACTITIONER)[-1]
    assert driver.say(PRACTITIONER, "no").status_code == 200
    asked_now = driver.texts_to(PRACTITIONER)[-1]
    stale = next(d for d in submits(first["activity"]) if d.get("text") == "skip")
    before = len(driver.cards_to(PRACTITIONER))
    assert driver.submit(PRACTITIONER, stale).status_code == 200
    shown = driver.texts_to(PRACTITIONER)[before:]
    assert shown and asked_now.splitlines()[-1] in "\n".join(shown)


def test_the_supervisor_acknowledges_and_writes_a_note_in_its_dialog(
    driver: TeamsDriver,
) -> None:
    _started(driver)
    driver.skip_to_confirmation(PRACTITIONER)
    assert driver.say(PRACTITIONER, "send").status_code == 200
    driver.deliver()
    assert driver.press(SUPERVISOR, reflect="acknowledge").status_code == 200
    card = next(
        c
        for c in reversed(driver.cards_to(SUPERVISOR))
        if any(d.get("reflect") == "add_note" for d in submits(c["activity"]))
    )
    note = next(d for d in submits(card["activity"]) if d.get("reflect") == "add_note")
    typed = "Ask to see the baby's room <at>everyone</at> https://example.org"
    opened = driver.task(SUPERVISOR, "task/fetch", note)
    assert opened.status_code == 200 and opened.json()["task"]["type"] == "continue"
    form = opened.json()["task"]["value"]["card"]["content"]
    [send] = form["actions"]
    sent = driver.task(SUPERVISOR, "task/submit", {**send["data"], "text": typed})
    assert sent.status_code == 200 and sent.json()["task"]["type"] == "message"
    with driver.new_session() as session:
        [kept] = session.exec(select(SupervisorNote)).all()
        actions = {a.action for a in session.exec(select(AuditEntry)).all()}
    assert kept.author_id == SUPERVISOR
    assert "acknowledge" in actions
    told = driver.texts_to(PRACTITIONER)[-1]
    assert "baby" in told and "https://example" not in told
    # Reflect names the supervisor, as a mention of theirs; what they typed mentions no one.
    assert "\\<at\\>everyone" in told
    card = driver.cards_to(PRACTITIONER)[-1]["activity"]["attachments"][0]["content"]
    mentioned = [e["mentioned"]["id"] for e in card["msteams"]["entities"]]
    assert mentioned == [SUPERVISOR]


def test_someone_elses_reflection_cannot_be_acknowledged_from_a_card(driver: TeamsDriver) -> None:
    _started(driver)
    driver.skip_to_confirmation(PRACTITIONER)
    assert driver.say(PRACTITIONER, "send").status_code == 200
    driver.deliver()
    with driver.new_session() as session:
        [reflection] = session.exec(select(Reflection)).all()
    assert driver.install(OTHER_PRACTITIONER).status_code == 200
    forged = {"reflect": "acknowledge", "reflection": str(reflection.id)}
    assert driver.submit(OTHER_PRACTITIONER, forged).status_code == 200
    with driver.new_session() as session:
        assert session.get(Reflection, reflection.id).acknowledged_at is None  # type: ignore[union-attr]
    assert driver.texts_to(OTHER_PRACTITIONER)[-1]  # told why, in their own chat


def test_commands_typed_in_the_chat(driver: TeamsDriver) -> None:
    _started(driver)
    assert driver.say(PRACTITIONER, "pause").status_code == 200
    assert driver.say(PRACTITIONER, "list").status_code == 200
    assert "CSC-7001" in driver.texts_to(PRACTITIONER)[-1]
    assert driver.say(PRACTITIONER, "help").status_code == 200
    assert "list" in driver.texts_to(PRACTITIONER)[-1]
    assert driver.say(PRACTITIONER, "history CSC-7001").status_code == 200
    assert "CSC-7001" in driver.texts_to(PRACTITIONER)[-1]
    assert driver.say(PRACTITIONER, "reflect close").status_code == 200
    assert "close CSC-1234" in driver.texts_to(PRACTITIONER)[-1]
    assert driver.say(PRACTITIONER, "reflect CSC-7001").status_code == 200
    assert texts(driver.cards_to(PRACTITIONER)[-1]["activity"])


def test_last_months_report_for_a_lead_and_a_polite_no_for_anyone_else(
    driver: TeamsDriver,
) -> None:
    from tests.teams.conftest import LEAD

    assert driver.install(PRACTITIONER).status_code == 200
    assert driver.say(PRACTITIONER, "reflect report").status_code == 200
    refused = driver.texts_to(PRACTITIONER)[-1]
    assert driver.install(LEAD).status_code == 200
    assert driver.say(LEAD, "reflect report").status_code == 200
    short = driver.texts_to(LEAD)[-1]
    assert "Reflections completed" in short and "Reflections completed" not in refused
