"""The fake Slack Web API as an operator runs it by hand (`python -m tools.fake_slack --port N`):
it says where it listens and what to set, answers the real Slack client, and prints each call."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_by_hand(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tools.fake_slack", *arguments],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def by_hand() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = run_by_hand("--port", str(port), "--user", "sam@example.org=U0SAM")
    try:
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_it_says_where_it_listens_and_answers_the_slack_client(
    by_hand: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = by_hand
    assert process.stdout is not None
    url = f"http://127.0.0.1:{port}/api/"
    assert process.stdout.readline().strip() == f"fake Slack Web API listening on {url}"
    assert f"SLACK_API_URL={url}" in process.stdout.readline()

    client = WebClient(token="xoxb-local", base_url=url, timeout=10)
    posted = client.chat_postMessage(
        channel="U0SAM",
        text="Question 1",
        metadata={"event_type": "reflect_message", "event_payload": {"id": 7}},
    )
    assert posted["ok"] and posted["channel"] == "D0SAM"
    history = client.conversations_history(channel="D0SAM", include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["Question 1"]
    assert history["messages"][0]["metadata"]["event_payload"] == {"id": 7}
    assert client.users_lookupByEmail(email="sam@example.org")["user"]["id"] == "U0SAM"

    printed = [process.stdout.readline() for _ in range(3)]
    assert [line.split()[:2] for line in printed] == [
        ["200", "chat.postMessage"],
        ["200", "conversations.history"],
        ["200", "users.lookupByEmail"],
    ]


def test_a_port_in_use_is_refused_plainly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = run_by_hand("--port", str(port))
        out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err and out == ""
