"""The fake Teams (one per test module; each test resets what it recorded), the organisation's
Teams people, and a driver that posts signed activities to Reflect's Teams endpoint over real
HTTP and delivers what Reflect records through the Teams front end."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from sqlmodel import select

from bot.messaging.delivery import Delivery, DeliveryReport
from bot.reflection.service import CONFIRM
from bot.requests import Requests
from bot.settings import Settings
from bot.teams.app import PATH, TeamsApp, teams_app_for
from bot.teams.frontend import TeamsFrontEnd, front_end_for
from storage import db
from storage.models import Reflection
from tests.people import add_agency
from tests.slack.conftest import TickingClock, fake_slack, fake_slack_server
from tools.fake_teams import FakeTeams, fake_teams, personal_chat

__all__ = ["fake_slack", "fake_slack_server"]  # for the tests of Slack and Teams together

PRACTITIONER = "aaaaaaaa-0000-4000-8000-000000000001"
OTHER_PRACTITIONER = "aaaaaaaa-0000-4000-8000-000000000002"
SUPERVISOR = "aaaaaaaa-0000-4000-8000-000000000003"
LEAD = "aaaaaaaa-0000-4000-8000-000000000004"
STRANGER = "aaaaaaaa-0000-4000-8000-0000000000ff"


@pytest.fixture(scope="module")
def _fake_teams_server() -> Iterator[FakeTeams]:
    with fake_teams() as fake:
        yield fake


@pytest.fixture
def teams(_fake_teams_server: FakeTeams) -> Iterator[FakeTeams]:
    _fake_teams_server.reset()
    yield _fake_teams_server
    _fake_teams_server.reset()


@pytest.fixture
def teams_organisation(new_session: db.SessionFactory) -> None:
    """One agency whose people are on Teams (known by their Entra object IDs)."""
    add_agency(
        new_session,
        lead=LEAD,
        supervisor=SUPERVISOR,
        practitioners=(PRACTITIONER, OTHER_PRACTITIONER),
    )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class TeamsDriver:
    """Posts activities to Reflect as Teams does, and delivers what Reflect records."""

    def __init__(
        self,
        fake: FakeTeams,
        new_session: db.SessionFactory,
        clock: TickingClock,
        *,
        requests: Requests | None = None,
    ) -> None:
        self.fake = fake
        self.new_session = new_session
        self.clock = clock
        self.settings = Settings.model_validate(fake.environment())
        front_end = front_end_for(self.settings, new_session)
        assert front_end is not None
        self.front_end: TeamsFrontEnd = front_end
        # Replaced by one sending to every platform in the tests of Slack and Teams together.
        self.delivery: Delivery = Delivery(new_session, front_end, now=clock)
        self.requests = requests or Requests(
            new_session, now=clock, timezone=self.settings.timezone
        )
        app = teams_app_for(self.settings, self.requests, new_session, now=clock)
        assert app is not None
        self.app: TeamsApp = app
        self.server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}{PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ activities

    def post(self, activity: dict[str, Any], *, token: str | None = None) -> httpx.Response:
        return self.fake.post_activity(self.url, activity, token=token)

    def install(self, person: str) -> httpx.Response:
        return self.post(self.fake.install(person))

    def say(self, person: str, text: str) -> httpx.Response:
        return self.post(self.fake.message(person, text))

    def submit(self, person: str, value: dict[str, Any], **fields: Any) -> httpx.Response:
        return self.post(self.fake.submit(person, value, **fields))

    def task(self, person: str, name: str, data: dict[str, Any], **fields: Any) -> httpx.Response:
        """A dialog's invoke (``task/fetch`` or ``task/submit``); Reflect answers in the reply."""
        return self.post(self.fake.task(person, name, data, **fields))

    def press(self, person: str, **match: str) -> httpx.Response:
        """Press the newest button to ``person`` whose data holds ``match``; what it submits
        is its data with ``inputs`` a person filled in."""
        for posted in reversed(self.cards_to(person)):
            for data in submits(posted["activity"]):
                if all(data.get(k) == v for k, v in match.items()):
                    return self.submit(person, data, replyToId=posted["id"])
        raise AssertionError(f"no button {match} in the cards to {person}")

    # ------------------------------------------------------------------ delivery

    def deliver(self) -> DeliveryReport:
        return self.delivery.deliver_all()

    def cards_to(self, person: str) -> list[dict[str, Any]]:
        """Each activity posted to ``person``'s personal chat, with the id Teams gave it."""
        self.deliver()
        posted = []
        with self.fake.lock:
            calls = list(self.fake.calls)
        for number, call in enumerate(calls):
            kept = call.method == "POST" and call.status == 200
            if kept and call.path == f"/v3/conversations/{personal_chat(person)}/activities":
                posted.append({"id": f"call-{number}", "activity": call.body})
        return posted

    def texts_to(self, person: str) -> list[str]:
        return ["\n".join(texts(c["activity"])) for c in self.cards_to(person)]

    def skip_to_confirmation(self, person: str) -> None:
        """Type skip, each under the question delivered before it, until Reflect asks to send
        the summary."""
        for _ in range(80):
            with self.new_session() as session:
                current = session.exec(
                    select(Reflection.current_question).where(
                        Reflection.practitioner_id == person, Reflection.status == "in_progress"
                    )
                ).first()
            self.deliver()
            if current == CONFIRM:
                return
            assert self.say(person, "skip").status_code == 200
        raise AssertionError("never reached the confirmation")


def texts(activity: Any) -> list[str]:
    found: list[str] = []
    _walk(activity, lambda v: found.append(str(v["text"])) if v.get("type") == "TextBlock" else 0)
    return found


def submits(activity: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    _walk(
        activity,
        lambda v: found.append(dict(v["data"])) if v.get("type") == "Action.Submit" else 0,
    )
    return found


def _walk(value: Any, visit: Any) -> None:
    if isinstance(value, dict):
        visit(value)
        for inner in value.values():
            _walk(inner, visit)
    elif isinstance(value, list):
        for inner in value:
            _walk(inner, visit)


@pytest.fixture
def driver(
    teams: FakeTeams, new_session: db.SessionFactory, teams_organisation: None
) -> Iterator[TeamsDriver]:
    clock = TickingClock(datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
    made = TeamsDriver(teams, new_session, clock)
    yield made
    made.stop()


def dumped(value: Any) -> str:
    return json.dumps(value)
