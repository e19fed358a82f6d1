"""A note or decision written in a Teams dialog (task module), over HTTP: the supervisor's
button asks for the dialog (``task/fetch``), Reflect answers with it in the reply, and the
dialog's button sends what was written (``task/submit``)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from bot.requests.casework import NOTE_LIMIT
from storage.models import AuditEntry, Reflection, SupervisorNote
from tests.teams.conftest import OTHER_PRACTITIONER, PRACTITIONER, SUPERVISOR, TeamsDriver, submits

CARD = "application/vnd.microsoft.card.adaptive"


def _summary_sent(driver: TeamsDriver) -> dict[str, Any]:
    """A reflection sent to the supervisor; the data of their "Add a note" button."""
    assert driver.install(SUPERVISOR).status_code == 200
    assert driver.install(PRACTITIONER).status_code == 200
    assert driver.say(PRACTITIONER, "reflect CSC-7201").status_code == 200
    driver.skip_to_confirmation(PRACTITIONER)
    assert driver.say(PRACTITIONER, "send").status_code == 200
    return next(
        d
        for c in reversed(driver.cards_to(SUPERVISOR))
        for d in submits(c["activity"])
        if d.get("reflect") == "add_note"
    )


def _opened(driver: TeamsDriver, person: str, button: dict[str, Any]) -> dict[str, Any]:
    answer = driver.task(person, "task/fetch", button)
    assert answer.status_code == 200
    task: dict[str, Any] = answer.json()["task"]
    return task


def _form(task: dict[str, Any]) -> dict[str, Any]:
    assert task["type"] == "continue"
    value = task["value"]
    assert value["height"] == "medium" and value["width"] == "medium" and value["title"]
    assert value["card"]["contentType"] == CARD
    form: dict[str, Any] = value["card"]["content"]
    return form


def _box(form: dict[str, Any]) -> dict[str, Any]:
    [box] = [e for e in form["body"] if e.get("type") == "Input.Text"]
    return box


def _notes(driver: TeamsDriver) -> list[SupervisorNote]:
    with driver.new_session() as session:
        return list(session.exec(select(SupervisorNote)).all())


def test_the_supervisors_button_asks_teams_for_a_dialog(driver: TeamsDriver) -> None:
    button = _summary_sent(driver)
    assert button["msteams"] == {"type": "task/fetch"}
    with driver.new_session() as session:
        [reflection] = session.exec(select(Reflection)).all()
    assert button["reflection"] == str(reflection.id)


def test_the_supervisor_opens_the_dialog_and_the_note_reaches_the_practitioner(
    driver: TeamsDriver,
) -> None:
    form = _form(_opened(driver, SUPERVISOR, _summary_sent(driver)))
    box = _box(form)
    assert box["isMultiline"] is True and box["maxLength"] == NOTE_LIMIT and box["id"] == "text"
    [send] = form["actions"]
    assert send["type"] == "Action.Submit"
    typed = "Ask to see where the baby sleeps"
    answer = driver.task(SUPERVISOR, "task/submit", {**send["data"], "text": typed})
    assert answer.status_code == 200
    closed = answer.json()["task"]
    assert closed["type"] == "message" and "note" in closed["value"]
    [kept] = _notes(driver)
    assert kept.author_id == SUPERVISOR and kept.text == typed
    assert typed in driver.texts_to(PRACTITIONER)[-1]


def test_someone_other_than_the_supervisor_gets_no_dialog_and_changes_nothing(
    driver: TeamsDriver,
) -> None:
    button = _summary_sent(driver)
    assert driver.install(OTHER_PRACTITIONER).status_code == 200
    with driver.new_session() as session:
        audited = len(session.exec(select(AuditEntry)).all())
    task = _opened(driver, OTHER_PRACTITIONER, button)
    assert task["type"] == "message" and task["value"]
    assert "Input.Text" not in str(task)
    assert _notes(driver) == []
    assert driver.texts_to(OTHER_PRACTITIONER)[-1]  # told why, in their own chat
    with driver.new_session() as session:
        refused = session.exec(select(AuditEntry)).all()[audited:]
    assert [a.actor for a in refused] == [OTHER_PRACTITIONER]


def test_an_empty_or_too_long_note_shows_the_dialog_again_with_what_was_written(
    driver: TeamsDriver,
) -> None:
    [send] = _form(_opened(driver, SUPERVISOR, _summary_sent(driver)))["actions"]
    for typed, said in (("   ", "Please write a note"), ("x" * (NOTE_LIMIT + 1), "keep it under")):
        answer = driver.task(SUPERVISOR, "task/submit", {**send["data"], "text": typed})
        assert answer.status_code == 200
        form = _form(answer.json()["task"])
        assert said in " ".join(str(e.get("text")) for e in form["body"])
        assert _box(form)["value"] == typed
        assert form["actions"][0]["data"] == send["data"]
    assert _notes(driver) == []


def test_a_note_sent_twice_by_teams_is_kept_once(driver: TeamsDriver) -> None:
    [send] = _form(_opened(driver, SUPERVISOR, _summary_sent(driver)))["actions"]
    submitted = driver.fake.task(
        SUPERVISOR, "task/submit", {**send["data"], "text": "Check the smoke alarm"}
    )
    first, again = driver.post(submitted), driver.post(submitted)
    assert first.json() == again.json() and first.json()["task"]["type"] == "message"
    assert len(_notes(driver)) == 1
    told = [t for t in driver.texts_to(PRACTITIONER) if "smoke alarm" in t]
    assert len(told) == 1


def test_a_dialog_with_data_reflect_did_not_put_there_is_refused_politely(
    driver: TeamsDriver,
) -> None:
    _summary_sent(driver)
    answer = driver.task(SUPERVISOR, "task/fetch", {"reflect": "nonsense"})
    assert answer.status_code == 200 and answer.json()["task"]["type"] == "message"
    assert _notes(driver) == []
