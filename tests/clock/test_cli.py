"""`reflect clock --once` end to end in a subprocess, and the organisation file's clock settings."""

from __future__ import annotations

from datetime import date

import pytest

from bot.admin.organisation import OrganisationFileError, parse_organisation
from bot.cli import main
from storage.db import SessionFactory
from tests.clock import helpers as h
from tests.clock.test_jobs import outbox_rows
from tests.conftest import run_reflect
from tools.fake_slack import fake_slack

reflect = run_reflect


def test_clock_once_records_and_says_what_waits_without_a_token(
    cli_env: dict[str, str], new_session: SessionFactory
) -> None:
    h.case(new_session, "CSC-1001", opened_on=date(2026, 1, 5))
    result = reflect(cli_env, "clock", "--once", "--at", "2026-12-05T11:00")  # a Saturday
    assert result.returncode == 0, result.stderr
    assert "Clock run as of 2026-12-05 11:00 (Europe/London): 1 prompt decided." in result.stdout
    assert "long-open cases: 1" in result.stdout
    assert "1 message waiting to be sent: set SLACK_BOT_TOKEN to send them." in result.stdout
    [message] = outbox_rows(new_session)
    assert message.next_attempt_at == h.local("2026-12-07T09:00")


def test_clock_once_decides_and_delivers_through_the_web_api(
    cli_env: dict[str, str], new_session: SessionFactory
) -> None:
    h.organisation(new_session)
    h.case(new_session, "CSC-1001", opened_on=date(2026, 1, 5))
    reflected = h.case(new_session, "CSC-1002", opened_on=date(2026, 11, 1))
    h.reflection(
        new_session,
        reflected,
        status="completed",
        at=h.local("2026-12-03T10:00"),
        lead_confirmed=True,
    )
    with fake_slack() as slack:
        slack.fail_next(1, status=429, retry_after=60, method="chat.postMessage")
        env = dict(cli_env, SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=slack.url)
        first = reflect(env, "clock", "--once", "--at", "2026-12-07T09:30")
        again = reflect(env, "clock", "--once", "--at", "2026-12-07T09:35")
    assert first.returncode == 0, first.stderr
    assert "2 prompts decided" in first.stdout
    assert "weekly digests: 1" in first.stdout
    # One was rate limited: it waits for Retry-After and goes on the next run, once.
    assert "Sent to Slack: 1; 1 waiting to retry." in first.stdout
    assert "0 prompts decided" in again.stdout
    assert "Sent to Slack: 1." in again.stdout
    assert sorted(p["channel"] for p in slack.posted()) == sorted([h.PRACTITIONER, h.SUPERVISOR])
    assert "Traceback" not in first.stderr + again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clock", "--once", "--at", "next tuesday"], "is not a local time like"),
        (["clock", "--at", "2026-12-07T09:30"], "--at only works with --once."),
    ],
)
def test_bad_clock_arguments_get_a_clear_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_bad_clock_environment_gets_a_clear_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLECT_LONG_OPEN_DAYS", "ninety")
    assert main(["clock", "--once"]) == 2
    assert "REFLECT_LONG_OPEN_DAYS='ninety' must be a whole number" in capsys.readouterr().err


ORGANISATION = """\
agencies:
  - id: csc
    name: Children's Social Care
    clock:
      long_open_days: 60
      unfinished_hours: soon
      nag_every: 5
people:
  - slack_id: U0TESTPRAC
    agency: csc
    role: practitioner
"""


def test_organisation_file_clock_settings_are_checked_with_their_lines() -> None:
    with pytest.raises(OrganisationFileError) as refused:
        parse_organisation(ORGANISATION)
    problems = {(p.line, p.field) for p in refused.value.problems}
    assert problems == {
        (6, "agencies[0].clock.unfinished_hours"),
        (7, "agencies[0].clock.nag_every"),
    }


def test_organisation_file_clock_settings_reach_the_agency() -> None:
    good = ORGANISATION.replace("      unfinished_hours: soon\n      nag_every: 5\n", "")
    [agency], _, _ = parse_organisation(good)
    assert agency.options["clock"] == {"long_open_days": 60}
