"""What the clock sends: text from the templates in prompts/clock/, laid out as Block Kit.

Pure functions: they take data and return a chat.postMessage payload. Every kind is checked
against slack_sdk's block models and Slack's limits in tests/clock/test_messages.py.
"""

from __future__ import annotations

from typing import Any

from bot.render import renderer
from bot.slack import blocks as bk

# An action's own words in its reminder: the reminder is a nudge, and the plan is whole in the
# summary; an action typed at length (up to 20,000 characters) is shortened to this.
ACTION_TEXT_LIMIT = 1000
# The most text a clock message can hold and still be one message within Slack's limits (see
# bot/slack/blocks.py), with room for a button; every kind is built well within it.
ONE_MESSAGE_TEXT = bk.MESSAGE_TEXT_BUDGET // 2


def render(template: str, **data: Any) -> str:
    return renderer("slack").render(f"clock/{template}.j2", **data)


def label(template: str, **data: Any) -> str:
    """Button labels are plain text in Slack, so they are rendered without escaping."""
    return renderer("plain").render(f"clock/{template}.j2", **data)


def direct_message(
    channel: str, text: str, *, button: tuple[str, str, str] | None = None
) -> dict[str, Any]:
    """A DM: the text, and optionally one button given as (label, action_id, value); one
    message within Slack's limits, laid out by bot/slack/blocks.py as every message is.

    Not checked against slack_sdk's models as it is built: the clock may build ten thousand of
    these in one run, and the models cost more than the rest of the decision;
    tests/clock/test_messages.py checks every kind against those models and Slack's limits.
    """
    buttons = [] if button is None else [_button(*button)]
    blocks = [*bk.sections(text), *buttons]
    if not bk.fits_one_message(blocks):  # longer than any kind is built to be: shortened
        blocks = [*bk.sections(bk.truncate(text, ONE_MESSAGE_TEXT)), *buttons]
    [payload] = bk.unchecked_messages(channel, blocks)
    return payload


def _button(text_label: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": text_label, "emoji": True},
                "action_id": action_id,
                "value": value,
                "style": "primary",
            }
        ],
    }


def long_open(
    *, channel: str, case_ref: str, opened_on: Any, days_open: int, quiet_days: int
) -> dict[str, Any]:
    text = render(
        "long_open",
        case_ref=case_ref,
        opened_on=opened_on,
        days_open=days_open,
        quiet_days=quiet_days,
    )
    return direct_message(
        channel,
        text,
        button=(label("long_open_button", case_ref=case_ref), "reflect_start", case_ref),
    )


def unfinished(*, channel: str, case_ref: str, status: str) -> dict[str, Any]:
    text = render("unfinished", case_ref=case_ref, status=status)
    return direct_message(
        channel,
        text,
        button=(label("unfinished_button", case_ref=case_ref), "reflect_start", case_ref),
    )


def lead_followup(
    *, channel: str, case_ref: str, completed_at: Any, reflection_id: int, lead_ids: list[str]
) -> dict[str, Any]:
    text = render("lead_followup", case_ref=case_ref, completed_at=completed_at, lead_ids=lead_ids)
    return direct_message(
        channel,
        text,
        button=(label("lead_followup_button"), "lead_contact_confirmed", str(reflection_id)),
    )


def action_due(
    *,
    channel: str,
    case_ref: str,
    due_on: Any,
    what: str | None,
    for_owner: bool,
    practitioner_id: str,
) -> dict[str, Any]:
    template = "action_due_owner" if for_owner else "action_due"
    text = render(
        template,
        case_ref=case_ref,
        due_on=due_on,
        what=bk.truncate(what or "", ACTION_TEXT_LIMIT),
        practitioner_id=practitioner_id,
    )
    return direct_message(channel, text)


def digest(
    *,
    channel: str,
    week_of: Any,
    awaiting: tuple[int, list[Any]],
    long_open: tuple[int, list[str]],
    overdue: tuple[int, list[Any]],
    long_open_days: int,
    quiet_days: int,
    flagged: tuple[int, list[tuple[str, list[str]]]] = (0, []),
) -> dict[str, Any]:
    text = render(
        "digest",
        week_of=week_of,
        awaiting_total=awaiting[0],
        awaiting=awaiting[1],
        long_open_total=long_open[0],
        long_open=long_open[1],
        overdue_total=overdue[0],
        overdue=overdue[1],
        flagged_total=flagged[0],
        flagged=flagged[1],
        long_open_days=long_open_days,
        quiet_days=quiet_days,
    )
    return direct_message(channel, text)
