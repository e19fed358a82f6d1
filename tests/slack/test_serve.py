"""`reflect serve` as a real process: gunicorn, signed requests over HTTP, /healthz, delivery."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine
from sqlmodel import select

from bot.bootstrap import Database
from bot.cli import main
from bot.serving.server import ReflectWSGI, ServerOptions, check_settings
from bot.settings import Settings, SettingsError
from storage import db
from storage.models import Answer, InboxItem, OutboxMessage
from tests.slack.conftest import (
    PRACTITIONER,
    assert_valid_payloads,
    command_body,
    dm_event,
    event_body,
    sign,
    wait_until,
)
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow
JSON = "application/json"


def answered(new_session: db.SessionFactory) -> list[str]:
    with new_session() as session:
        return [a.question_id for a in session.exec(select(Answer))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request(
    url: str, body: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=body.encode() if body is not None else None, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"

    def post(self, body: str, content_type: str, **headers: str) -> tuple[int, str]:
        all_headers = {"Content-Type": content_type, **sign(body), **headers}
        return _request(f"{self.base}/slack/events", body, all_headers)

    def typed(self, user: str, text: str, event_id: str) -> None:
        """The practitioner types ``text`` in the bot's DM now; Slack gets its 200."""
        assert self.post(event_body(dm_event(user, text), event_id), JSON)[0] == 200


@contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[Server]:
    """`reflect serve` in its own process group, healthy on return, always terminated."""
    port = _free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = Server(process, port)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if _request(f"{running.base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "reflect serve did not become healthy"
            time.sleep(0.05)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@pytest.fixture
def server(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    with running_server(serve_env, tmp_path / "serve.log") as running:
        yield running


def test_serve_over_http_end_to_end(
    server: Server,
    serve_env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
    new_session: db.SessionFactory,
) -> None:
    assert _request(f"{server.base}/healthz") == (200, "ok\n")
    assert _request(f"{server.base}/elsewhere")[0] == 404

    form = "application/x-www-form-urlencoded"
    command = command_body(PRACTITIONER, "CSC-5001", "trig.e2e.1")
    forged = {"X-Slack-Signature": "v0=" + "1" * 64}
    assert server.post(command, form, **forged)[0] == 401

    status, body = server.post(command, form)
    assert status == 200
    assert json.loads(body)["response_type"] == "ephemeral"
    assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 1)

    # Slack is rate limiting: the next question waits out Retry-After, then arrives once.
    fake_slack.fail_next(1, status=429, retry_after=1, method="chat.postMessage")
    event = {
        "type": "message",
        "channel": "D0TESTDM",
        "channel_type": "im",
        "user": PRACTITIONER,
        "text": "No, a planned visit; <!channel> school asked me to see her",
        "ts": "1700000001.000100",
    }
    body = event_body(event, "Ev0E2E0001")
    assert server.post(body, "application/json")[0] == 200
    with new_session() as session:  # stored before the 200: in the inbox, or handled already
        stored = list(session.exec(select(InboxItem))) + list(session.exec(select(Answer)))
        assert len(stored) == 1
    assert wait_until(lambda: answered(new_session) == ["today"])
    retry = server.post(body, "application/json", **{"X-Slack-Retry-Num": "1"})
    assert retry[0] == 200

    assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 2)
    with new_session() as session:
        assert len(list(session.exec(select(Answer)))) == 1
    posts = [c for c in fake_slack.calls if c.method == "chat.postMessage"]
    assert [c.status for c in posts] == [200, 429, 200]
    assert "what worries you most" in json.dumps(posts[-1].body)
    assert fake_slack.successful("auth.test")  # Bolt's lazy check, at the first request

    # A second web process: Slack's retry of an event may reach it while the first works.
    with running_server(serve_env, tmp_path / "second.log") as second:
        # "1" answers this question and the next (both free text): handled twice, it would
        # store two answers.
        event = {**event, "text": "1", "ts": "1700000002.000100"}
        body = event_body(event, "Ev0TWOPROC")
        statuses: list[int] = []
        threads = [
            threading.Thread(target=lambda s=s: statuses.append(s.post(body, JSON)[0]))
            for s in (server, second)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert statuses == [200, 200]
        assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 3)
    with new_session() as session:
        answers = [a.question_id for a in session.exec(select(Answer))]
        keys = [m.dedupe_key for m in session.exec(select(OutboxMessage))]
    assert answers == ["today", "worry"]
    assert [k for k in keys if k.startswith("ev:Ev0TWOPROC")] == ["ev:Ev0TWOPROC"]
    assert_valid_payloads(fake_slack)


def test_serve_refuses_to_start_without_slack_credentials(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DATABASE_URL", "REFLECT_ENCRYPTION_KEY"):
        monkeypatch.setenv(name, cli_env[name])
    assert main(["serve"]) == 2
    error = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN" in error and "SLACK_SIGNING_SECRET" in error
    assert "Traceback" not in error


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/reflect.db")
    wsgi = ReflectWSGI(endpoints={}, database=Database(engine, db.session_factory(engine)))
    statuses: list[str] = []
    body = wsgi({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"}, lambda s, h: statuses.append(s))
    assert statuses == ["503 Service Unavailable"] and b"unavailable" in b"".join(body)


def test_server_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServerOptions.from_settings(Settings(), 3000).workers == 1
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    monkeypatch.setenv("REFLECT_THREADS", "16")
    options = ServerOptions.from_settings(Settings(), 8080)
    assert (options.port, options.workers, options.threads) == (8080, 2, 16)
    monkeypatch.setenv("REFLECT_THREADS", "lots")
    with pytest.raises(ValidationError, match="REFLECT_THREADS"):
        Settings()


def test_socket_mode_needs_no_signing_secret_but_always_a_bot_token() -> None:
    check_settings(Settings(slack_bot_token="xoxb-1", slack_signing_secret="s"))
    check_settings(Settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1"))
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN") as refused:
        check_settings(Settings(slack_app_token="xapp-1"))
    assert "SLACK_SIGNING_SECRET" not in str(refused.value)


def test_socket_mode_is_refused_beside_teams_which_posts_over_http() -> None:
    settings = Settings(
        slack_bot_token="xoxb-1",
        slack_app_token="xapp-1",
        teams_app_id="0f4c2a1e-1111-4222-8333-944455556666",
        teams_app_secret="test-only-secret",
        teams_tenant_id="1a2b3c4d-1111-4222-8333-944455556666",
    )
    with pytest.raises(SettingsError, match="Unset SLACK_APP_TOKEN"):
        check_settings(settings)
