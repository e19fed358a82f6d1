"""What the clock sends: text from the templates in prompts/clock/, laid out as Block Kit.

Pure functions: they take data and return a chat.postMessage payload. Every kind is checked
against slack_sdk's block models and Slack's limits in tests/clock/test_messages.py.
"""

from __future__ import annotations

from typing import Any

from bot.render import renderer

SECTION_LIMIT = 3000


def render(template: str, **data: Any) -> str:
    return renderer("slack").render(f"clock/{template}.j2", **data)


def label(template: str, **data: Any) -> str:
    """Button labels are plain text in Slack, so they are rendered without escaping."""
    return renderer("plain").render(f"clock/{template}.j2", **data)


def direct_message(
    channel: str, text: str, *, button: tuple[str, str, str] | None = None
) -> dict[str, Any]:
    """A DM: the text, and optionally one button given as (label, action_id, value).

    Built as plain Block Kit dicts: the clock may build ten thousand of these in one run, and
    slack_sdk's models cost more than the rest of the decision; tests/clock/test_messages.py
    checks every kind against those models and Slack's limits instead.
    """
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _chunks(text, SECTION_LIMIT)
    ]
    if button is not None:
        text_label, action_id, value = button
        blocks.append(
            {
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
        )
    return {"channel": channel, "text": text, "blocks": blocks}


def _chunks(text: str, size: int) -> list[str]:
    """Split long text at line breaks so each section stays within Slack's limit."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > size:
            chunks.append(line[:size])
            line = line[size:]
        if len(current) + len(line) > size:
            chunks.append(current)
            current = ""
        current += line
    if current.strip():
        chunks.append(current)
    return [c.strip("\n") for c in chunks if c.strip()]


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
        template, case_ref=case_ref, due_on=due_on, what=what or "", practitioner_id=practitioner_id
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
        long_open_days=long_open_days,
        quiet_days=quiet_days,
    )
    return direct_message(channel, text)
