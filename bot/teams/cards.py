"""Stored messages as Adaptive Cards: rendered text, then the actions of its controls, built
with the Teams SDK's card models (microsoft-teams-cards).

Buttons are a convenience over typing: each ``Action.Submit`` carries what a person could type
(``text``) and the stamp of the question it belongs to, so a button pressed on an earlier
question shows the current question again. A note or a decision is written in a dialog (a Teams
task module): its button asks Teams for the dialog (``task/fetch``), which ``dialog`` builds, and
the dialog's own button sends what was written (``task/submit``).

What a submission carries (``data``), by ``reflect``:
  answer: ``stamp``, ``text`` | ticked: ``stamp`` and the ticked numbers in ``ticked`` |
  date: ``stamp`` and the date in ``date`` | start: ``case`` |
  acknowledge, call_promised, show_answers, add_note, record_decision: ``reflection`` (and
  ``text`` from a note or decision's dialog) | confirm_lead_contact: ``subject``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from microsoft_teams.cards import (
    ActionSet,
    ChoiceSetInput,
    DateInput,
    SubmitAction,
    TextBlock,
    TextInput,
)
from microsoft_teams.cards.core import Choice

from bot.messaging.message import Control, Part
from bot.render import PROMPTS_DIR, Renderer
from bot.requests.casework import WRITING_LIMITS
from bot.teams.dialect import mentioned_ids
from bot.teams.text import plain_renderer

Payload = dict[str, Any]
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams shows at most this many buttons in a row before it folds them into a menu.
BUTTONS_PER_ROW = 5
CHECKBOX_LIMIT = 10
# The summary's buttons that open a dialog to write in, and the labels.yaml prefix of its words.
WRITING = {"add_note": "note", "record_decision": "decision"}
SUMMARY_ACTIONS = ("acknowledge", "add_note", "call_promised", "record_decision")


@cache
def labels(directory: Path = PROMPTS_DIR) -> dict[str, str]:
    """Button wording from prompts/teams/labels.yaml."""
    loaded = yaml.safe_load((directory / "teams" / "labels.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (loaded or {}).items()}


def card(body: list[Any]) -> Payload:
    """An Adaptive Card holding ``body`` (SDK elements or plain mappings), with a mention
    entity for each person Reflect's own words name (bot/teams/dialect.py's ``<at>ID</at>``;
    typed text can write no such tag)."""
    elements = [_plain(element) for element in body]
    texts = "\n".join(str(e.get("text", "")) for e in elements if e.get("type") == "TextBlock")
    entities = [
        {
            "type": "mention",
            "text": f"<at>{person}</at>",
            "mentioned": {"id": person, "name": person},
        }
        for person in mentioned_ids(texts)
    ]
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": elements,
        "msteams": {"width": "Full", **({"entities": entities} if entities else {})},
    }


def attachment(content: Payload) -> Payload:
    return {"contentType": CARD_CONTENT_TYPE, "content": content}


def text_blocks(text: str, *, apart: bool = False) -> list[Payload]:
    """One TextBlock per line (Teams' card Markdown joins single lines); a blank line spaces
    the next one."""
    blocks: list[Payload] = []
    gap = apart
    for line in text.split("\n"):
        if not line.strip():
            gap = True
            continue
        block = TextBlock(text=line, wrap=True)
        element = _plain(block)
        if blocks or apart:
            element["spacing"] = "Medium" if gap else "None"
        if apart and not blocks:
            element["separator"] = True
        blocks.append(element)
        gap = False
    return blocks


def part_elements(part: Part, words: Renderer) -> list[Payload]:
    """One stored part as text, then the actions of the controls it offers."""
    text = words.render(f"{part.template}.j2", **part.data)
    return text_blocks(text, apart=part.apart) + controls(part)


def controls(part: Part) -> list[Payload]:
    """The card elements for a part's controls (bot/messaging/message.py)."""
    label = labels()
    by_action = {c.action: c for c in part.controls}
    lone = [c for c in part.controls if c.label is not None]
    if lone:
        return [_row([_lone_button(c) for c in lone])]
    if "acknowledge" in by_action:
        reflection = by_action["acknowledge"].subject
        return summary_actions(reflection, answers="show_answers" in by_action)
    result: list[Payload] = []
    if "show_answers" in by_action:
        result.append(
            _row(
                [
                    _submit(
                        label["show_answers"],
                        "show_answers",
                        reflection=by_action["show_answers"].subject,
                    )
                ]
            )
        )
    if "confirm_lead_contact" in by_action:
        subject = by_action["confirm_lead_contact"].subject
        button = _submit(label["lead_contact_confirmed"], "confirm_lead_contact", subject=subject)
        result.append(_row([button]))
    for start in (c for c in part.controls if c.action == "start"):
        button = _submit(label["start"].format(case_ref=start.subject), "start", case=start.subject)
        result.append(_row([button]))
    if "answer" in by_action:
        result += _answer_controls(part, stamp=by_action["answer"].subject)
    return result


def summary_actions(reflection: str, *, answers: bool = True) -> list[Payload]:
    """The supervisor's actions under their copy of a summary."""
    label = labels()
    buttons: list[Any] = []
    for action in SUMMARY_ACTIONS:
        if action in WRITING:
            buttons.append(_writing(action, reflection))
        else:
            buttons.append(_submit(label[action], action, reflection=reflection))
    if answers:
        buttons.append(_submit(label["show_answers"], "show_answers", reflection=reflection))
    return [_row(buttons)]


def _writing(action: str, reflection: str) -> SubmitAction:
    """A button that asks Teams to open the dialog to write a note or decision in."""
    data = {"msteams": {"type": "task/fetch"}, "reflect": action, "reflection": reflection}
    return SubmitAction(title=labels()[action], data=data)


def dialog(action: str, reflection: str, *, text: str = "", refusal: str | None = None) -> Payload:
    """The answer to a ``task/fetch`` (or a refused ``task/submit``): the dialog to write a note
    or decision in, holding ``text`` already written and, above it, why it was refused."""
    label = labels()
    words = WRITING[action]
    said = text_blocks(refusal) if refusal else []
    for block in said:
        block["color"] = "Attention"
    box = TextInput(
        id="text",
        is_multiline=True,
        max_length=WRITING_LIMITS[words],
        placeholder=label[f"{words}_placeholder"],
        label=label[f"{words}_label"],
        is_required=True,
        value=text or None,
    )
    send = _submit(label[f"{words}_submit"], action, reflection=reflection)
    content = {**card([*said, box]), "actions": [_plain(send)]}
    value = {"title": label[action], "height": "medium", "width": "medium"}
    return {"task": {"type": "continue", "value": {**value, "card": attachment(content)}}}


def dialog_message(words: str) -> Payload:
    """The answer to a dialog's request that closes it (or opens none) with ``words``."""
    return {"task": {"type": "message", "value": words}}


def _answer_controls(part: Part, *, stamp: str) -> list[Payload]:
    label = labels()
    template = part.template.removeprefix("messages/")
    if template == "confirm":
        return [
            _row([_answer(label["send"], "send", stamp), _answer(label["back"], "back", stamp)])
        ]
    if template != "question":
        return []
    data = part.data
    kind = data.get("kind")
    options = data.get("options") or []
    rows: list[Payload] = []
    if kind == "scale":
        buttons = [_answer(str(n), str(n), stamp) for n in range(11)]
        rows += [_row(buttons[i : i + 6]) for i in range(0, len(buttons), 6)]
    elif kind == "date" or (kind == "plan" and data.get("step") == "due"):
        rows += _date_picker(stamp)
    elif kind in {"choice", "review"} or (kind == "text" and options):
        buttons = [_answer(o["label"], str(o["number"]), stamp) for o in options]
        rows += [
            _row(buttons[i : i + BUTTONS_PER_ROW]) for i in range(0, len(buttons), BUTTONS_PER_ROW)
        ]
    elif kind == "multi" and len(options) <= CHECKBOX_LIMIT:
        rows += _checkboxes(options, stamp)
    elif kind == "plan":
        step = data.get("step") or "what"
        if step == "more":
            yes = _answer(label["plan_more_yes"], "yes", stamp)
            rows.append(_row([yes, _answer(label["plan_more_no"], "no", stamp)]))
        elif step == "what" and data.get("actions_so_far"):
            rows.append(_row([_answer(label["plan_more_no"], "done", stamp)]))
    rows.append(_row([_answer(label[word], word, stamp) for word in ("skip", "back", "pause")]))
    return rows


def _checkboxes(options: list[dict[str, Any]], stamp: str) -> list[Payload]:
    boxes = ChoiceSetInput(
        id="ticked",
        is_multi_select=True,
        style="expanded",
        choices=[Choice(title=str(o["label"]), value=str(o["number"])) for o in options],
    )
    done = _submit(labels()["multi_done"], "ticked", stamp=stamp)
    return [_plain(boxes), _row([done])]


def _date_picker(stamp: str) -> list[Payload]:
    label = labels()
    picker = DateInput(id="date", label=label["due_date_label"])
    return [_plain(picker), _row([_submit(label["due_date_submit"], "date", stamp=stamp)])]


def _lone_button(control: Control) -> SubmitAction:
    """A control with words of its own: one button under the text (the clock's)."""
    assert control.label is not None
    words = plain_renderer().render(f"{control.label}.j2", **control.label_data)
    if control.action == "start":
        return _submit(words, "start", case=control.subject)
    if control.action == "confirm_lead_contact":
        return _submit(words, "confirm_lead_contact", subject=control.subject)
    return _submit(words, control.action, reflection=control.subject)


def _answer(title: str, text: str, stamp: str) -> SubmitAction:
    return _submit(title, "answer", stamp=stamp, text=text)


def _submit(title: str, kind: str, **data: str) -> SubmitAction:
    return SubmitAction(title=title, data={"reflect": kind, **data})


def _row(actions: list[Any]) -> Payload:
    return _plain(ActionSet(actions=actions))


def _plain(element: Any) -> Payload:
    if isinstance(element, dict):
        return element
    dumped: Payload = element.model_dump(by_alias=True, exclude_none=True)
    return dumped
