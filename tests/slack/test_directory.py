"""The Slack workspace as the clock's directory: users.lookupByEmail against the fake Slack."""

from __future__ import annotations

import pytest
from slack_sdk.web import WebClient

from bot.identity import DirectoryUnavailable
from bot.settings import Settings
from bot.slack.directory import SlackDirectory, directory_for
from tools.fake_slack import fake_slack


def test_an_address_is_a_person_an_unknown_one_is_no_one() -> None:
    with fake_slack() as slack:
        slack.users_by_email["sam@example.org"] = "U0TESTSAMM"
        directory = directory_for(Settings(slack_bot_token="xoxb-test", slack_api_url=slack.url))
        assert directory is not None
        assert directory.person_for_email("sam@example.org") == "U0TESTSAMM"
        assert directory.person_for_email("nobody@example.org") is None
    assert [c.method for c in slack.calls] == ["users.lookupByEmail"] * 2


def test_no_token_no_directory() -> None:
    assert directory_for(Settings(slack_bot_token=None)) is None


def test_slack_refusing_with_429_is_rate_limited() -> None:
    with fake_slack() as slack:
        slack.users_by_email["sam@example.org"] = "U0TESTSAMM"
        slack.fail_next(1, status=429, retry_after=30, method="users.lookupByEmail")
        client = WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])
        with pytest.raises(DirectoryUnavailable) as refused:
            SlackDirectory(client).person_for_email("sam@example.org")
    assert refused.value.rate_limited


def test_slack_unreachable_is_unavailable_but_not_rate_limited() -> None:
    down = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", retry_handlers=[])
    with pytest.raises(DirectoryUnavailable) as failed:
        SlackDirectory(down).person_for_email("sam@example.org")
    assert not failed.value.rate_limited


def test_lookups_stay_within_the_minute_s_budget() -> None:
    seconds = [0.0]
    with fake_slack() as slack:
        slack.users_by_email["sam@example.org"] = "U0TESTSAMM"
        client = WebClient(token="xoxb-test", base_url=slack.url)
        directory = SlackDirectory(client, per_minute=2, monotonic=lambda: seconds[0])
        assert directory.person_for_email("sam@example.org") == "U0TESTSAMM"
        assert directory.person_for_email("sam@example.org") == "U0TESTSAMM"
        with pytest.raises(DirectoryUnavailable) as resting:
            directory.person_for_email("sam@example.org")
        assert resting.value.rate_limited
        seconds[0] = 60.0
        assert directory.person_for_email("sam@example.org") == "U0TESTSAMM"
    assert len([c for c in slack.calls if c.method == "users.lookupByEmail"]) == 3
