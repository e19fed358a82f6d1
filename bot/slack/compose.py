"""Turns stored messages' parts into Block Kit: rendered text, then buttons for its controls.

Buttons are a convenience over typing: each one sends the service the same word or number a
practitioner could type. Their block_id carries a stamp of the prompt they belong to, so a
button pressed twice, or on an earlier question, is recognised.
"""

from __future__ import annotations

from typing import Any

from bot.messaging.message import Control, Part
from bot.render import Renderer, renderer
from bot.requests.casework import DECISION_LIMIT, NOTE_LIMIT
from bot.slack import blocks as bk
from bot.slack.dialect import SLACK_PLAIN

Payload = dict[str, Any]

ACTION_ANSWER = "reflect_answer"  # reflect_answer_<n>: value is the text to answer with
ACTION_COMMAND = "reflect_cmd"  # reflect_cmd_<word>: skip, back, pause
ACTION_DUE_DATE = "reflect_due_date"
ACTION_TICK = "reflect_tick"  # ticking a box: nothing happens until the button is pressed
ACTION_TICKED = "reflect_ticked"  # answer with the numbers ticked in the same message
ACTION_START = "reflect_start"
ACTION_LEAD_CONFIRMED = "lead_contact_confirmed"
ACTION_ACKNOWLEDGE = "summary_acknowledge"
ACTION_ADD_NOTE = "summary_add_note"
ACTION_CALL_PROMISED = "summary_call_promised"
ACTION_RECORD_DECISION = "summary_record_decision"
ACTION_SHOW_ANSWERS = "summary_show_answers"
NOTE_MODAL = "summary_note_modal"
NOTE_INPUT_BLOCK = "note"
NOTE_INPUT_ACTION = "note_text"
DECISION_MODAL = "summary_decision_modal"
DECISION_INPUT_BLOCK = "decision"
DECISION_INPUT_ACTION = "decision_text"


def stamp_of(block_id: str) -> str | None:
    """The stamp in a conversation control's block_id (``reflect:<stamp>:<part>``)."""
    parts = block_id.split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "reflect" else None


def part_blocks(part: Part, renderer: Renderer) -> list[Payload]:
    """One stored part as sections, then the buttons of the controls it offers."""
    blocks = bk.sections(renderer.render(f"{part.template}.j2", **part.data))
    divider = [{"type": "divider"}] if part.apart else []
    return divider + blocks + controls(part)


def controls(part: Part) -> list[Payload]:
    """The Block Kit for a part's controls (bot/messaging/message.py)."""
    by_action = {c.action: c for c in part.controls}
    lone = [c for c in part.controls if c.label is not None]
    if lone:
        return [_lone_button(c) for c in lone]
    if "acknowledge" in by_action:
        reflection_id = int(by_action["acknowledge"].subject)
        return [summary_controls(reflection_id, answers="show_answers" in by_action)]
    result: list[Payload] = []
    if "show_answers" in by_action:
        result.append(answers_button(int(by_action["show_answers"].subject)))
    if "confirm_lead_contact" in by_action:
        lead_subject = by_action["confirm_lead_contact"].subject
        result.append(
            bk.actions(
                f"lead:{lead_subject}",
                [
                    bk.button(
                        bk.labels()["lead_contact_confirmed"],
                        action_id=ACTION_LEAD_CONFIRMED,
                        value=lead_subject,
                        style="primary",
                    )
                ],
            )
        )
    starts = [c for c in part.controls if c.action == "start"]
    for index, start in enumerate(starts):
        # action_id must be unique within a block, so each case's button has a block of its own.
        label = bk.labels()["start"].format(case_ref=start.subject)
        button = bk.button(label, action_id=ACTION_START, value=start.subject)
        result.append(bk.actions(f"home:start:{index}", [button]))
    if "answer" in by_action:
        result += _answer_controls(part, stamp=by_action["answer"].subject)
    return result


# The action_id a control's button carries.
ACTION_IDS = {
    "start": ACTION_START,
    "confirm_lead_contact": ACTION_LEAD_CONFIRMED,
    "acknowledge": ACTION_ACKNOWLEDGE,
    "add_note": ACTION_ADD_NOTE,
    "call_promised": ACTION_CALL_PROMISED,
    "record_decision": ACTION_RECORD_DECISION,
    "show_answers": ACTION_SHOW_ANSWERS,
}


def _lone_button(control: Control) -> Payload:
    """A control with words of its own: one primary button under the text (the clock's)."""
    assert control.label is not None
    text = renderer(SLACK_PLAIN).render(f"{control.label}.j2", **control.label_data)
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": text, "emoji": True},
                "action_id": ACTION_IDS[control.action],
                "value": control.subject,
                "style": "primary",
            }
        ],
    }


def _answer_controls(part: Part, *, stamp: str) -> list[Payload]:
    label = bk.labels()
    template = part.template.removeprefix("messages/")
    if template == "confirm":
        return [
            bk.actions(
                f"reflect:{stamp}:answers",
                [
                    bk.button(
                        label["send"],
                        action_id=f"{ACTION_ANSWER}_send",
                        value="send",
                        style="primary",
                    ),
                    _command("back", label),
                ],
            )
        ]
    if template != "question":
        return []
    data = part.data
    answers: list[Payload] = []
    if data.get("kind") == "scale":
        answers = [
            bk.button(str(n), action_id=f"{ACTION_ANSWER}_{n}", value=str(n)) for n in range(11)
        ]
    elif data.get("kind") == "date":
        answers = [bk.datepicker(label["due_date_placeholder"], action_id=ACTION_DUE_DATE)]
    elif data.get("kind") in {"choice", "review"} or (
        data.get("kind") == "text" and data.get("options")
    ):
        answers = [
            bk.button(
                o["label"], action_id=f"{ACTION_ANSWER}_{o['number']}", value=str(o["number"])
            )
            for o in data.get("options", [])
        ]
    elif data.get("kind") == "multi" and len(data.get("options", [])) <= bk.CHECKBOX_LIMIT:
        boxes = [(o["label"], str(o["number"])) for o in data.get("options", [])]
        result_boxes = bk.actions(
            f"reflect:{stamp}:ticks", [bk.checkboxes(boxes, action_id=ACTION_TICK)]
        )
        answers = [
            bk.button(label["multi_done"], action_id=ACTION_TICKED, value="ticked", style="primary")
        ]
        return [result_boxes, bk.actions(f"reflect:{stamp}:answers", answers), _nav(stamp, label)]
    elif data.get("kind") == "plan":
        step = data.get("step") or "what"
        if step == "due":
            answers = [bk.datepicker(label["due_date_placeholder"], action_id=ACTION_DUE_DATE)]
        elif step == "more":
            answers = [
                bk.button(label["plan_more_yes"], action_id=f"{ACTION_ANSWER}_yes", value="yes"),
                bk.button(label["plan_more_no"], action_id=f"{ACTION_ANSWER}_no", value="no"),
            ]
        elif step == "what" and data.get("actions_so_far"):
            answers = [
                bk.button(label["plan_more_no"], action_id=f"{ACTION_ANSWER}_done", value="done")
            ]
    result = []
    if answers:
        result.append(bk.actions(f"reflect:{stamp}:answers", answers))
    result.append(_nav(stamp, label))
    return result


def _nav(stamp: str, label: dict[str, str]) -> Payload:
    nav = [_command(word, label) for word in ("skip", "back", "pause")]
    return bk.actions(f"reflect:{stamp}:nav", nav)


def ticked_numbers(state: dict[str, Any], stamp: str) -> list[str]:
    """The option numbers ticked in the message's checkboxes (from the payload's state)."""
    boxes = state.get("values", {}).get(f"reflect:{stamp}:ticks", {}).get(ACTION_TICK, {})
    return [o["value"] for o in boxes.get("selected_options") or []]


def _command(word: str, label: dict[str, str]) -> Payload:
    return bk.button(label[word], action_id=f"{ACTION_COMMAND}_{word}", value=word)


def summary_controls(reflection_id: int, *, answers: bool = True) -> Payload:
    """The supervisor's buttons under their copy of a summary."""
    label = bk.labels()
    value = str(reflection_id)
    buttons = [
        bk.button(label["acknowledge"], action_id=ACTION_ACKNOWLEDGE, value=value, style="primary"),
        bk.button(label["add_note"], action_id=ACTION_ADD_NOTE, value=value),
        bk.button(label["call_promised"], action_id=ACTION_CALL_PROMISED, value=value),
        bk.button(label["record_decision"], action_id=ACTION_RECORD_DECISION, value=value),
    ]
    if answers:
        buttons.append(_show_answers(reflection_id, label))
    return bk.actions(f"summary:{reflection_id}", buttons)


def answers_button(reflection_id: int) -> Payload:
    """ "Show the answers" on its own, under a copy that has no other buttons."""
    return bk.actions(f"answers:{reflection_id}", [_show_answers(reflection_id, bk.labels())])


def _show_answers(reflection_id: int, label: dict[str, str]) -> Payload:
    return bk.button(label["show_answers"], action_id=ACTION_SHOW_ANSWERS, value=str(reflection_id))


def note_modal(reflection_id: int) -> Payload:
    return _text_modal(
        reflection_id,
        callback_id=NOTE_MODAL,
        block_id=NOTE_INPUT_BLOCK,
        action_id=NOTE_INPUT_ACTION,
        limit=NOTE_LIMIT,
        labels="note_modal",
    )


def decision_modal(reflection_id: int) -> Payload:
    return _text_modal(
        reflection_id,
        callback_id=DECISION_MODAL,
        block_id=DECISION_INPUT_BLOCK,
        action_id=DECISION_INPUT_ACTION,
        limit=DECISION_LIMIT,
        labels="decision_modal",
    )


def _text_modal(
    reflection_id: int, *, callback_id: str, block_id: str, action_id: str, limit: int, labels: str
) -> Payload:
    """A modal with one box of text about a reflection; its wording is labels.yaml's
    ``<labels>_title``, ``_label``, ``_placeholder``, ``_submit`` and ``_close``."""
    label = bk.labels()
    view = {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": str(reflection_id),
        "title": {"type": "plain_text", "text": bk.truncate(label[f"{labels}_title"], 24)},
        "submit": {"type": "plain_text", "text": bk.truncate(label[f"{labels}_submit"], 24)},
        "close": {"type": "plain_text", "text": bk.truncate(label[f"{labels}_close"], 24)},
        "blocks": [
            {
                "type": "input",
                "block_id": block_id,
                "label": {"type": "plain_text", "text": label[f"{labels}_label"]},
                "element": {
                    "type": "plain_text_input",
                    "action_id": action_id,
                    "multiline": True,
                    "max_length": limit,
                    "placeholder": {
                        "type": "plain_text",
                        "text": bk.truncate(label[f"{labels}_placeholder"], 150),
                    },
                },
            }
        ],
    }
    bk.validate(view["blocks"], limit=bk.MODAL_BLOCK_LIMIT)  # type: ignore[arg-type]
    return view
