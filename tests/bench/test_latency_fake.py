"""The latency benchmark's fake Web API: it reports each message's arrival, and takes as long as
it is told to over each call (`--slack-latency`), as a far-away Slack does."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tools import fake_slack


def post_message(port: int, channel: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/chat.postMessage",
        data=json.dumps({"channel": channel, "text": "Question 2"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("latency", [0.0, 0.3])
def test_the_fake_answers_after_its_latency_and_reports_the_arrival(latency: float) -> None:
    process, port, arrivals = fake_slack.start_in_process(latency)
    try:
        started = time.monotonic()
        answer = post_message(port, "U0BENCH01")
        took = time.monotonic() - started
        recipient, at = arrivals.get(timeout=10)
    finally:
        process.terminate()
    assert answer["ok"] is True
    assert recipient == "U0BENCH01" and started <= at <= time.monotonic()
    assert latency <= took < latency + 0.25
