"""Block Kit payloads built by small pure functions from text the templates already rendered.

Slack refuses a section over 3,000 characters and a message over 50 blocks, so long text is split
into several sections and several messages rather than refused.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from slack_sdk.models.blocks import Block

from bot.render import PROMPTS_DIR

SECTION_TEXT_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
HOME_BLOCK_LIMIT = 100
MODAL_BLOCK_LIMIT = 100
BUTTON_TEXT_LIMIT = 75
ACTIONS_ELEMENT_LIMIT = 25
CHECKBOX_LIMIT = 10
FALLBACK_TEXT_LIMIT = 300

Payload = dict[str, Any]


class BlockLimitError(ValueError):
    """A payload would break one of Slack's Block Kit limits."""


@cache
def labels(directory: Path = PROMPTS_DIR) -> dict[str, str]:
    """Button and modal wording from prompts/slack/labels.yaml."""
    loaded = yaml.safe_load((directory / "slack" / "labels.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (loaded or {}).items()}


def _safe_cut(text: str, limit: int) -> int:
    """Where to cut ``text`` to at most ``limit`` characters: after a line, else a space, and
    never inside an escaped entity such as ``&lt;`` (which would unescape it)."""
    if len(text) <= limit:
        return len(text)
    window = text[:limit]
    cut = window.rfind("\n")
    if cut < limit // 2:
        cut = window.rfind(" ")
    if cut < limit // 2:
        cut = limit
    amp = text.rfind("&", max(0, cut - 6), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        cut = amp
    return max(cut, 1)


def split_text(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split text into pieces of at most ``limit`` characters, preferring line breaks."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        cut = _safe_cut(rest, limit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip("\n ")
    return pieces


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, limit - 1)].rstrip() + "…"


def sections(text: str) -> list[Payload]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in split_text(text)]


def button(label: str, *, action_id: str, value: str, style: str | None = None) -> Payload:
    element: Payload = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(label, BUTTON_TEXT_LIMIT), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def datepicker(placeholder: str, *, action_id: str) -> Payload:
    return {
        "type": "datepicker",
        "action_id": action_id,
        "placeholder": {"type": "plain_text", "text": truncate(placeholder, 150)},
    }


def checkboxes(options: list[tuple[str, str]], *, action_id: str) -> Payload:
    """Checkboxes from (label, value) pairs; Slack allows ten, each label up to 75 chars."""
    return {
        "type": "checkboxes",
        "action_id": action_id,
        "options": [
            {"text": {"type": "plain_text", "text": truncate(label, 75)}, "value": value}
            for label, value in options[:CHECKBOX_LIMIT]
        ],
    }


def actions(block_id: str, elements: list[Payload]) -> Payload:
    return {"type": "actions", "block_id": block_id, "elements": elements[:ACTIONS_ELEMENT_LIMIT]}


def fallback_text(blocks: list[Payload]) -> str:
    """The notification text Slack shows where blocks cannot be: the first section, shortened."""
    for block in blocks:
        text = block.get("text", {}).get("text") if block.get("type") == "section" else None
        if text:
            return truncate(text.replace("\n", " "), FALLBACK_TEXT_LIMIT)
    return "…"


def chat_messages(channel: str, blocks: list[Payload]) -> list[Payload]:
    """chat.postMessage payloads carrying ``blocks``, split so each stays within 50 blocks."""
    payloads = []
    for start in range(0, len(blocks), MESSAGE_BLOCK_LIMIT):
        chunk = blocks[start : start + MESSAGE_BLOCK_LIMIT]
        validate(chunk, limit=MESSAGE_BLOCK_LIMIT)
        payloads.append({"channel": channel, "text": fallback_text(chunk), "blocks": chunk})
    return payloads


def home_view(blocks: list[Payload]) -> Payload:
    validate(blocks, limit=HOME_BLOCK_LIMIT)
    return {"type": "home", "blocks": blocks}


def validate(blocks: list[Payload], *, limit: int) -> None:
    """Raise BlockLimitError unless every block is well-formed and within Slack's limits."""
    if len(blocks) > limit:
        raise BlockLimitError(f"{len(blocks)} blocks; Slack allows {limit}")
    for block in blocks:
        key = _shape_key(block)
        if key in _CHECKED:
            problem = _CHECKED[key]
        else:
            problem = _problem(block)
            if len(_CHECKED) >= _CHECKED_LIMIT:
                _CHECKED.clear()
            _CHECKED[key] = problem
        if problem:
            raise BlockLimitError(problem)


# What slack_sdk's models said of each block shape seen, by a digest of the shape: the blocks
# themselves may hold what a practitioner typed, which is not kept beyond the message.
_CHECKED: dict[bytes, str | None] = {}
_CHECKED_LIMIT = 4096


def _shape_key(block: Payload) -> bytes:
    """A digest of the block with its block_id's characters masked: Slack's checks look at a
    block_id's length only, so a question's buttons, stamped afresh at every showing, are
    checked once per question rather than once per message."""
    block_id = block.get("block_id")
    if isinstance(block_id, str):
        block = {**block, "block_id": "x" * len(block_id)}
    shape = json.dumps(block, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.blake2b(shape, digest_size=16).digest()


def _problem(block: Payload) -> str | None:
    parsed = Block.parse(block)
    if parsed is None:
        return f"not a block: type {block.get('type')!r}"
    try:
        parsed.validate_json()
    except Exception as exc:  # SlackObjectFormationError; its message names the field
        return str(exc)
    return None
