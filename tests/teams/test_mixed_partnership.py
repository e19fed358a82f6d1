"""A partnership on two platforms: a practitioner on Slack whose supervisor is on Teams, and the
other way round. One request path, one delivery loop; each message goes out through its
recipient's own front end, and each person's actions reach the other on theirs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from slack_sdk.web import WebClient
from sqlalchemy import Engine

from bot.bootstrap import Database
from bot.identity import platform_of
from bot.messaging.delivery import Delivery
from bot.messaging.frontends import FrontEnds
from bot.requests import Requests
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.frontend import SlackFrontEnd
from storage import db
from storage.db import transaction
from storage.models import Agency, Person
from tests.slack.conftest import (
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackDriver,
    TickingClock,
    skip_to_confirmation,
)
from tests.teams.conftest import TeamsDriver, submits
from tools.fake_slack import FakeSlack
from tools.fake_teams import FakeTeams

SLACK_PRACTITIONER = "U0MIXPRAC1"
SLACK_SUPERVISOR = "U0MIXSUPV1"
TEAMS_PRACTITIONER = "dddddddd-0000-4000-8000-000000000001"
TEAMS_SUPERVISOR = "dddddddd-0000-4000-8000-000000000002"


@pytest.fixture
def mixed_organisation(new_session: db.SessionFactory) -> None:
    with transaction(new_session) as session:
        session.add(Agency(id="csc", name="Children's Social Care", options={}))
        session.flush()
        for supervisor in (SLACK_SUPERVISOR, TEAMS_SUPERVISOR):
            session.add(Person(person_id=supervisor, agency_id="csc", role="supervisor"))
        pairs = ((SLACK_PRACTITIONER, TEAMS_SUPERVISOR), (TEAMS_PRACTITIONER, SLACK_SUPERVISOR))
        for practitioner, supervisor in pairs:
            session.add(
                Person(
                    person_id=practitioner,
                    agency_id="csc",
                    role="practitioner",
                    supervisor_id=supervisor,
                )
            )


@pytest.fixture
def both(
    engine: Engine,
    new_session: db.SessionFactory,
    teams: FakeTeams,
    fake_slack: FakeSlack,
    mixed_organisation: None,
) -> Iterator[tuple[SlackDriver, TeamsDriver]]:
    clock = TickingClock(datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
    requests = Requests(new_session, now=clock)
    slack_settings = Settings(
        slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=fake_slack.url
    )
    app = build_app(slack_settings, Database(engine, new_session), now=clock, requests=requests)
    slack = SlackDriver(app, fake_slack, new_session, clock)
    on_teams = TeamsDriver(teams, new_session, clock, requests=requests)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.url)
    every = FrontEnds({"slack": SlackFrontEnd(client), "teams": on_teams.front_end}, platform_of)
    slack.delivery = on_teams.delivery = Delivery(new_session, every, now=clock)
    yield slack, on_teams
    on_teams.stop()


def test_a_slack_practitioners_summary_reaches_their_supervisor_on_teams_and_back(
    both: tuple[SlackDriver, TeamsDriver],
) -> None:
    slack, on_teams = both
    assert on_teams.install(TEAMS_SUPERVISOR).status_code == 200
    assert slack.command(SLACK_PRACTITIONER, "CSC-7401").status == 200
    skip_to_confirmation(slack, SLACK_PRACTITIONER)
    assert slack.message(SLACK_PRACTITIONER, "send").status == 200
    slack.deliver()

    copy = [d for card in on_teams.cards_to(TEAMS_SUPERVISOR) for d in submits(card["activity"])]
    assert {"acknowledge", "add_note"} <= {d["reflect"] for d in copy}
    assert "CSC-7401" in "\n".join(on_teams.texts_to(TEAMS_SUPERVISOR))
    assert on_teams.press(TEAMS_SUPERVISOR, reflect="acknowledge").status_code == 200
    told = slack.texts_to(SLACK_PRACTITIONER)[-1]
    assert "acknowledged" in told.lower() and "CSC-7401" in told
    # Nothing for the Slack practitioner went to Teams, nor the other way round.
    assert all(p["conversation"]["id"].endswith(TEAMS_SUPERVISOR) for p in on_teams.fake.posted())
    assert slack.fake.messages_to(TEAMS_SUPERVISOR) == []


def test_a_teams_practitioners_summary_reaches_their_supervisor_on_slack_and_back(
    both: tuple[SlackDriver, TeamsDriver],
) -> None:
    slack, on_teams = both
    assert on_teams.install(TEAMS_PRACTITIONER).status_code == 200
    assert on_teams.say(TEAMS_PRACTITIONER, "reflect CSC-7402").status_code == 200
    on_teams.skip_to_confirmation(TEAMS_PRACTITIONER)
    assert on_teams.press(TEAMS_PRACTITIONER, text="send").status_code == 200
    on_teams.deliver()

    assert "CSC-7402" in "\n".join(slack.texts_to(SLACK_SUPERVISOR))
    assert slack.press(SLACK_SUPERVISOR, "summary_acknowledge").status == 200
    told = on_teams.texts_to(TEAMS_PRACTITIONER)[-1]
    assert "acknowledged" in told.lower() and "CSC-7402" in told
