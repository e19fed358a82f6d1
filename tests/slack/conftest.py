"""Fixtures for the Slack tests: the fake Web API, a signed-request driver, the people."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web import WebClient
from sqlalchemy import Engine
from sqlmodel import select

from bot.bootstrap import Database
from bot.messaging.delivery import Delivery, DeliveryReport
from bot.messaging.inbox import Inbox
from bot.reflection.service import CONFIRM
from bot.settings import Settings
from bot.slack import blocks as bk
from bot.slack.app import build_app
from bot.slack.frontend import SlackFrontEnd
from bot.slack.guard import RequestGuard
from storage import db
from storage.models import Reflection
from tests.people import add_agency
from tools.fake_slack import FakeSlack

SIGNING_SECRET = "test-signing-secret-0001"
BOT_TOKEN = "xoxb-test-0001"
PRACTITIONER = "U0TESTPRAC"
OTHER_PRACTITIONER = "U0TESTPRC2"
SUPERVISOR = "U0TESTSUPV"
LEAD = "U0TESTLEAD"
LONE_PRACTITIONER = "U0TESTLONE"


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class TickingClock:
    """A clock the test controls; each reading is a millisecond after the last, as in life."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def fake_slack(fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    fake_slack_server.reset()
    yield fake_slack_server
    fake_slack_server.reset()


@pytest.fixture
def ticking_clock() -> TickingClock:
    return TickingClock(datetime(2026, 11, 26, 10, 0, tzinfo=UTC))


@pytest.fixture
def organisation(new_session: db.SessionFactory) -> None:
    add_agency(
        new_session,
        lead=LEAD,
        supervisor=SUPERVISOR,
        practitioners=(PRACTITIONER, OTHER_PRACTITIONER),
        unsupervised=(LONE_PRACTITIONER,),
    )


def sign(body: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def dm_event(user: str, text: str) -> dict[str, Any]:
    """A message typed in the bot's DM, as Slack describes it, posted now."""
    now = f"{time.time():.6f}"
    return {
        "type": "message",
        "channel": "D0TESTDM",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": now,
        "event_ts": now,
    }


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0TEST",
            "api_app_id": "A0TEST",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0TEST", "user_id": "U0TESTBOT", "is_bot": True}],
            "event": event,
        }
    )


def command_body(user: str, text: str, trigger_id: str) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0TEST",
            "channel_id": "D0TESTDM",
            "user_id": user,
            "command": "/reflect",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": "https://hooks.slack.invalid/commands/T0TEST/1/x",
            "trigger_id": trigger_id,
        }
    )


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


class SlackDriver:
    """Sends signed requests to the app the way Slack does, and delivers what it records."""

    def __init__(
        self, app: App, fake: FakeSlack, new_session: db.SessionFactory, clock: TickingClock
    ) -> None:
        self.app = app
        self.fake = fake
        self.new_session = new_session
        self.clock = clock
        self.client = WebClient(token=BOT_TOKEN, base_url=fake.url)
        self.delivery = Delivery(new_session, SlackFrontEnd(self.client), now=clock)
        # As `reflect serve` does: malformed bodies are refused before Bolt parses them.
        self.guard = RequestGuard(app, SIGNING_SECRET)
        self._serial = 0

    def next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:06d}"

    # ------------------------------------------------------------------ requests

    def dispatch(
        self,
        body: str,
        *,
        content_type: str,
        headers: dict[str, str] | None = None,
        signed: dict[str, str] | None = None,
    ) -> BoltResponse:
        all_headers = {"Content-Type": content_type, **(signed or sign(body)), **(headers or {})}
        return self.guard.dispatch(body, headers=all_headers)

    def message(
        self, user: str, text: str, *, event_id: str | None = None, **headers: str
    ) -> BoltResponse:
        body = event_body(dm_event(user, text), event_id or self.next_id("Ev"))
        return self.dispatch(body, content_type="application/json", headers=headers)

    def event(self, event: dict[str, Any], *, event_id: str | None = None) -> BoltResponse:
        return self.dispatch(
            event_body(event, event_id or self.next_id("Ev")), content_type="application/json"
        )

    def command(self, user: str, text: str) -> BoltResponse:
        body = command_body(user, text, self.next_id("trig."))
        return self.dispatch(body, content_type="application/x-www-form-urlencoded")

    def click(
        self,
        user: str,
        action: dict[str, Any],
        block_id: str,
        state: dict[str, Any] | None = None,
        message_ts: str | None = None,
    ) -> BoltResponse:
        """Press a button (or pick a date) as Slack reports it in a block_actions payload;
        ``message_ts`` names the message it is in, as Slack's container does."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "team_id": "T0TEST"},
            "team": {"id": "T0TEST"},
            "api_app_id": "A0TEST",
            "trigger_id": self.next_id("trig."),
            "container": {"type": "message", "channel_id": "D0TESTDM"},
            "channel": {"id": "D0TESTDM"},
            "response_url": "https://hooks.slack.invalid/actions/T0TEST/1/x",
            "actions": [
                {
                    **action,
                    "block_id": block_id,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if state is not None:
            payload["state"] = state
        if message_ts is not None:
            payload["container"]["message_ts"] = message_ts
        return self.dispatch(
            interaction_body(payload), content_type="application/x-www-form-urlencoded"
        )

    def press(
        self,
        user: str,
        action_id: str,
        *,
        message: dict[str, Any] | None = None,
        message_ts: str | None = None,
    ) -> BoltResponse:
        """Press the button ``action_id`` found in ``message`` (default: the last one to user)."""
        message = message or self.last_message(user, with_action=action_id)
        for block in message["blocks"]:
            for element in block.get("elements", []):
                if element.get("action_id") == action_id:
                    action = {"type": element["type"], "action_id": action_id}
                    if "value" in element:
                        action["value"] = element["value"]
                    return self.click(user, action, block["block_id"], message_ts=message_ts)
        raise AssertionError(f"no {action_id} button in the message")

    def show_answers(
        self, user: str, *, message: dict[str, Any] | None = None, message_ts: str | None = None
    ) -> str:
        """Press "Show the answers" under a summary; the text of what it posted to ``user``."""
        before = len(self.texts_to(user))
        pressed = self.press(user, "summary_show_answers", message=message, message_ts=message_ts)
        assert pressed.status == 200
        return "\n".join(self.texts_to(user)[before:])

    def tick_and_send(self, user: str, numbers: list[str]) -> BoltResponse:
        """Tick checkboxes (each tick is acknowledged and ignored), then press the button."""
        message = self.last_message(user, with_action="reflect_tick")
        ticks = next(b for b in message["blocks"] if b.get("block_id", "").endswith(":ticks"))
        boxes = ticks["elements"][0]
        chosen = [o for o in boxes["options"] if o["value"] in numbers]
        state = {"values": {ticks["block_id"]: {"reflect_tick": {"selected_options": chosen}}}}
        for _ in chosen:
            tick = {"type": "checkboxes", "action_id": "reflect_tick", "selected_options": chosen}
            assert self.click(user, tick, ticks["block_id"], state).status == 200
        answers = next(b for b in message["blocks"] if b.get("block_id", "").endswith(":answers"))
        button = answers["elements"][0]
        action = {"type": "button", "action_id": button["action_id"], "value": button["value"]}
        return self.click(user, action, answers["block_id"], state)

    def pick_date(self, user: str, on: str) -> BoltResponse:
        message = self.last_message(user, with_action="reflect_due_date")
        for block in message["blocks"]:
            for element in block.get("elements", []):
                if element.get("action_id") == "reflect_due_date":
                    action = {
                        "type": "datepicker",
                        "action_id": "reflect_due_date",
                        "selected_date": on,
                    }
                    return self.click(user, action, block["block_id"])
        raise AssertionError("no date picker in the message")

    def submit_view(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> BoltResponse:
        payload = {
            "type": "view_submission",
            "user": {"id": user, "team_id": "T0TEST"},
            "team": {"id": "T0TEST"},
            "api_app_id": "A0TEST",
            "trigger_id": self.next_id("trig."),
            "view": {
                **view,
                "id": view.get("id", "V0TESTVIEW"),
                "hash": view.get("hash", "1700000000.abc"),
                "state": {"values": values},
            },
        }
        return self.dispatch(
            interaction_body(payload), content_type="application/x-www-form-urlencoded"
        )

    # ------------------------------------------------------------------ delivery

    def deliver(self) -> DeliveryReport:
        """Everything due now, as the clock and the web process deliver it."""
        return self.delivery.deliver_all()

    def last_message(self, user: str, *, with_action: str | None = None) -> dict[str, Any]:
        self.deliver()
        messages = self.fake.messages_to(user)
        if with_action is not None:
            messages = [m for m in messages if with_action in json.dumps(m.get("blocks", []))]
        assert messages, f"no message to {user}" + (f" with {with_action}" if with_action else "")
        return messages[-1]

    def texts_to(self, user: str) -> list[str]:
        self.deliver()
        return [message_text(m) for m in self.fake.messages_to(user)]


def message_text(message: dict[str, Any]) -> str:
    return "\n".join(
        b["text"]["text"] for b in message.get("blocks", []) if b.get("type") == "section"
    )


def ephemeral_text(response: BoltResponse) -> str:
    body = json.loads(response.body)
    assert body.get("response_type") == "ephemeral"
    return "\n".join(
        b["text"]["text"] for b in body.get("blocks", []) if b.get("type") == "section"
    )


def assert_valid_payloads(fake: FakeSlack) -> None:
    """Every message and view the app sent is valid Block Kit within Slack's limits."""
    for call in fake.successful():
        if call.method == "chat.postMessage":
            blocks = call.body["blocks"]
            bk.validate(blocks, limit=bk.MESSAGE_BLOCK_LIMIT)
            assert call.body["text"] and len(call.body["text"]) <= 40_000
        elif call.method == "views.publish":
            bk.validate(call.body["view"]["blocks"], limit=bk.HOME_BLOCK_LIMIT)
        elif call.method == "views.open":
            bk.validate(call.body["view"]["blocks"], limit=bk.MODAL_BLOCK_LIMIT)
        for block in call.body.get("blocks", []) + call.body.get("view", {}).get("blocks", []):
            if block.get("type") == "section":
                assert len(block["text"]["text"]) <= bk.SECTION_TEXT_LIMIT


@pytest.fixture
def database(engine: Engine, new_session: db.SessionFactory) -> Database:
    return Database(engine, new_session)


@pytest.fixture
def settings(fake_slack: FakeSlack) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.url,
    )


@pytest.fixture
def inline_inbox(
    settings: Settings,
    database: Database,
    fake_slack: FakeSlack,
    ticking_clock: TickingClock,
    organisation: None,
) -> tuple[Inbox, SlackDriver]:
    """The app with an inbox of its own, handling each item in the request that stores it."""
    box = Inbox(database.new_session, now=ticking_clock)
    app = build_app(settings, database, now=ticking_clock, inbox=box)
    return box, SlackDriver(app, fake_slack, database.new_session, ticking_clock)


@pytest.fixture
def serve_env(cli_env: dict[str, str], fake_slack: FakeSlack, organisation: None) -> dict[str, str]:
    """The environment for `reflect serve` in a process of its own, against the fake."""
    return {
        **cli_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "REFLECT_THREADS": "4",
    }


@pytest.fixture
def slack(
    settings: Settings,
    database: Database,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
    ticking_clock: TickingClock,
    organisation: None,
) -> Iterator[SlackDriver]:
    app = build_app(settings, database, now=ticking_clock)
    driver = SlackDriver(app, fake_slack, new_session, ticking_clock)
    yield driver
    assert_valid_payloads(fake_slack)


def skip_to_confirmation(slack: SlackDriver, user: str) -> None:
    """Type skip until the bot asks to send the summary (read from the database, so nothing
    is delivered in between: that keeps the many steps fast)."""
    for _ in range(80):
        with slack.new_session() as session:
            current = session.exec(
                select(Reflection.current_question).where(
                    Reflection.practitioner_id == user, Reflection.status == "in_progress"
                )
            ).first()
        if current == CONFIRM:
            assert "reflect_answer_send" in json.dumps(slack.last_message(user))
            return
        assert slack.message(user, "skip").status == 200
    raise AssertionError("never reached the confirmation")


def complete_quickly(slack: SlackDriver, user: str, case_ref: str = "CSC-1001") -> None:
    assert slack.command(user, case_ref).status == 200
    skip_to_confirmation(slack, user)
    assert slack.message(user, "send").status == 200
    slack.deliver()
