"""The Slack fixtures (a Bolt app, signed requests, the fake Slack API) for `/reflect report`."""

from tests.slack.conftest import (  # noqa: F401  (fixtures)
    database,
    fake_slack,
    fake_slack_server,
    organisation,
    settings,
    slack,
    ticking_clock,
)
