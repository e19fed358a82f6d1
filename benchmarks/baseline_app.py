"""The yardstick: a bare Bolt app that acknowledges and posts one message, state in memory,
served the standard way (gunicorn and Bolt's Flask adapter)."""

from __future__ import annotations

import os

from flask import Flask, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient

steps: dict[str, int] = {}

bolt = App(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
    token_verification_enabled=False,
)


@bolt.command("/reflect")
def start(ack, command, client) -> None:  # type: ignore[no-untyped-def]
    ack("Starting")
    steps[command["user_id"]] = 0
    client.chat_postMessage(channel=command["user_id"], text="Question 1")


@bolt.event("message")
def answer(event, client) -> None:  # type: ignore[no-untyped-def]
    user = event["user"]
    steps[user] = steps.get(user, 0) + 1
    client.chat_postMessage(channel=user, text=f"Question {steps[user] + 1}")


flask_app = Flask(__name__)
handler = SlackRequestHandler(bolt)


@flask_app.route("/slack/events", methods=["POST"])
def slack_events():  # type: ignore[no-untyped-def]
    return handler.handle(request)
