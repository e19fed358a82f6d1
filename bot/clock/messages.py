"""What the clock says: a template under prompts/clock/ with its data, and the action a nudge
offers. A front end renders it when it is sent (bot/slack/frontend.py for Slack); every kind is
checked there against Slack's block models and limits in tests/clock/test_messages.py.
"""

from __future__ import annotations

from typing import Any

from bot.messaging.message import Control, Message, Part

# An action's own words in its reminder: the reminder is a nudge, and the plan is whole in the
# summary; an action typed at length (up to 20,000 characters) is shortened to this.
ACTION_TEXT_LIMIT = 1000


def nudge(template: str, control: Control | None = None, **data: Any) -> Message:
    """One message from prompts/clock/<template>.j2, kept to one post, with at most one
    control under it."""
    controls = () if control is None else (control,)
    return Message((Part(f"clock/{template}", data, controls),), single=True)


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def long_open(*, case_ref: str, opened_on: Any, days_open: int, quiet_days: int) -> Message:
    start = Control(
        "start", case_ref, label="clock/long_open_button", label_data={"case_ref": case_ref}
    )
    return nudge(
        "long_open",
        start,
        case_ref=case_ref,
        opened_on=opened_on,
        days_open=days_open,
        quiet_days=quiet_days,
    )


def unfinished(*, case_ref: str, status: str) -> Message:
    start = Control(
        "start", case_ref, label="clock/unfinished_button", label_data={"case_ref": case_ref}
    )
    return nudge("unfinished", start, case_ref=case_ref, status=status)


def lead_followup(
    *, case_ref: str, completed_at: Any, reflection_id: int, lead_ids: list[str]
) -> Message:
    confirm = Control(
        "confirm_lead_contact", str(reflection_id), label="clock/lead_followup_button"
    )
    return nudge(
        "lead_followup", confirm, case_ref=case_ref, completed_at=completed_at, lead_ids=lead_ids
    )


def action_due(
    *,
    case_ref: str,
    due_on: Any,
    what: str | None,
    for_owner: bool,
    practitioner_id: str,
) -> Message:
    return nudge(
        "action_due_owner" if for_owner else "action_due",
        case_ref=case_ref,
        due_on=due_on,
        what=shortened(what or "", ACTION_TEXT_LIMIT),
        practitioner_id=practitioner_id,
    )


def digest(
    *,
    week_of: Any,
    awaiting: tuple[int, list[Any]],
    long_open: tuple[int, list[str]],
    overdue: tuple[int, list[Any]],
    long_open_days: int,
    quiet_days: int,
    flagged: tuple[int, list[tuple[str, list[str]]]] = (0, []),
) -> Message:
    return nudge(
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
