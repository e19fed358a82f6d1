"""How to carry on a paused or stopped reflection is said in the words of the front end the
person is using: a command in the terminal, the slash command in Slack."""

from __future__ import annotations

import pytest

from bot.render import renderer
from bot.slack.dialect import SLACK
from bot.terminal.dialect import TERMINAL


@pytest.mark.parametrize("template", ["messages/paused.j2", "messages/cancelled.j2"])
def test_the_way_back_is_the_front_ends_own(template: str) -> None:
    terminal = renderer(TERMINAL).render(template, case_ref="CSC-7001")
    slack = renderer(SLACK).render(template, case_ref="CSC-7001")
    assert "reflect demo --case CSC-7001" in terminal and "/reflect" not in terminal
    assert "type /reflect CSC-7001" in slack and "reflect demo" not in slack
