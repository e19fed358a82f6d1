"""A clock prompt to a practitioner on Teams: recorded by the clock's own path, delivered as a
card in working hours, its button starting the reflection it asks for."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from bot.clock import messages
from bot.clock.jobs import Prompt, record
from storage.db import transaction
from storage.models import Reflection
from tests.clock.helpers import context_at
from tests.teams.conftest import PRACTITIONER, TeamsDriver, submits


def test_a_long_open_case_prompt_reaches_a_teams_user_and_its_button_starts_the_reflection(
    driver: TeamsDriver,
) -> None:
    assert driver.install(PRACTITIONER).status_code == 200
    context = context_at(driver.new_session, "2026-11-26 10:00")
    prompt = Prompt(
        job="long_open",
        key="long_open:CSC-7201:2026-11-26",
        subject_id=None,
        recipient=PRACTITIONER,
        message=messages.long_open(
            case_ref="CSC-7201", opened_on="2026-07-01", days_open=148, quiet_days=28
        ),
    )
    with transaction(driver.new_session) as session:
        record(context, session, [prompt])
    driver.clock.current = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
    card = driver.cards_to(PRACTITIONER)[-1]["activity"]
    text = "\n".join(t for t in driver.texts_to(PRACTITIONER)[-1:])
    assert "**CSC-7201** has been open since" in text and "**reflect CSC-7201**" in text
    assert {"reflect": "start", "case": "CSC-7201"} in submits(card)
    assert driver.press(PRACTITIONER, reflect="start", case="CSC-7201").status_code == 200
    with driver.new_session() as session:
        [started] = session.exec(select(Reflection)).all()
    assert started.status == "in_progress"
    assert "action today" in driver.texts_to(PRACTITIONER)[-1]
