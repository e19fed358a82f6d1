"""`reflect serve` as a real process with Teams configured: the token checked at /api/messages,
what a person asks handled, and the reply delivered to their personal chat by the server's own
delivery loop; beside Slack, in one process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET, wait_until
from tests.slack.test_serve import Server, running_server
from tests.teams.conftest import PRACTITIONER, texts
from tools.fake_slack import FakeSlack
from tools.fake_teams import FakeTeams, personal_chat

pytestmark = pytest.mark.slow
TODAY = "First: does anything need action today?"


@pytest.fixture
def teams_env(
    cli_env: dict[str, str], teams: FakeTeams, teams_organisation: None
) -> dict[str, str]:
    return {**cli_env, **teams.environment(), "REFLECT_THREADS": "4"}


def _said(teams: FakeTeams) -> list[str]:
    return ["\n".join(texts(p)) for p in teams.posted_to(personal_chat(PRACTITIONER))]


def _a_reflection_starts_over_http(server: Server, teams: FakeTeams) -> None:
    url = f"{server.base}/api/messages"
    forged = teams.post_activity(url, teams.install(PRACTITIONER), token="not.a.token")
    assert forged.status_code == 401
    assert teams.post_activity(url, teams.install(PRACTITIONER)).status_code == 200
    assert wait_until(lambda: any("reflect CSC-1234" in t for t in _said(teams)))
    assert (
        teams.post_activity(url, teams.message(PRACTITIONER, "reflect CSC-7301")).status_code == 200
    )
    assert wait_until(lambda: any(TODAY in t for t in _said(teams)))


def test_reflect_serve_answers_teams(
    teams_env: dict[str, str], teams: FakeTeams, tmp_path: Path
) -> None:
    with running_server(teams_env, tmp_path / "serve.log") as server:
        _a_reflection_starts_over_http(server, teams)


@pytest.fixture
def both_env(teams_env: dict[str, str], fake_slack: FakeSlack) -> Iterator[dict[str, str]]:
    yield {
        **teams_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
    }


def test_reflect_serve_answers_teams_and_slack_in_one_process(
    both_env: dict[str, str], teams: FakeTeams, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    from tests.slack.conftest import command_body

    with running_server(both_env, tmp_path / "serve.log") as server:
        _a_reflection_starts_over_http(server, teams)
        status, body = server.post(
            command_body("U0TESTPRAC", "help", "trig.both.1"), "application/x-www-form-urlencoded"
        )
        assert status == 200 and "/reflect CSC-1234" in body
