"""How Slack writes a message (mrkdwn): ``*bold*``, ``_italic_``, ``<@U…>``, ``<url|label>``,
and ``&``, ``<`` and ``>`` escaped in everything a person typed, so that no text can form
``<!channel>``, ``<@U…>`` or a link."""

from __future__ import annotations

from dataclasses import dataclass

from bot.identity import SLACK_USER_ID
from bot.render import PlainText


def escape_slack(text: str) -> str:
    """Slack's three control characters; with them escaped no text can form <!channel> or <@U>."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class SlackDialect:
    start_command: str = "/reflect"
    chat: bool = True
    mentions_understood: bool = True

    def escape(self, text: str) -> str:
        return escape_slack(text)

    def emphasis(self, text: str) -> str:
        return f"*{text}*"

    def italic(self, text: str) -> str:
        return f"_{text}_"

    def mention(self, person_id: str) -> str:
        # Someone on another platform (a Teams ID) cannot be mentioned here: named as text.
        if SLACK_USER_ID.fullmatch(person_id):
            return f"<@{person_id}>"
        return escape_slack(person_id)

    def link(self, url: str, label: str) -> str:
        target = escape_slack(url).replace("|", "%7C")
        return f"<{target}|{label}>" if label else f"<{target}>"

    def quote(self, text: str) -> str:
        return f">{text}"

    def command(self, text: str) -> str:
        return f"`{text}`"


SLACK = SlackDialect()
# Text Slack shows as it is (a button's label, a notification's fallback): no markup.
SLACK_PLAIN = PlainText(start_command=SLACK.start_command, chat=True)
