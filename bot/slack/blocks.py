"""Block Kit payloads built by small pure functions from text the templates already rendered.

Slack refuses a message whose blocks break its limits, and a refused message never goes out:
a section over 3,000 characters or a message over 50 blocks (``invalid_blocks``), a message
whose blocks hold more than about 12,000 characters of text in all (``msg_blocks_too_long``,
undocumented), a ``text`` over 40,000 (``msg_too_long``). So every outgoing message is split
here, with a margin, into as many messages as it takes (``chat_messages``), and long text into
several sections (``split_text``), never inside an escape such as ``&amp;`` or a mention.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from slack_sdk.models.blocks import Block

from bot.render import PROMPTS_DIR

SECTION_TEXT_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
# Slack refuses a message whose blocks hold more than about 12,000 characters of text; how it
# counts is not documented (a message measured at 11,341 by its text alone was refused), so a
# message here holds at most 10,000, counting every text in it and BLOCK_OVERHEAD per block.
MESSAGE_TEXT_BUDGET = 10_000
BLOCK_OVERHEAD = 40
HOME_BLOCK_LIMIT = 100
MODAL_BLOCK_LIMIT = 100
BUTTON_TEXT_LIMIT = 75
ACTIONS_ELEMENT_LIMIT = 25
CHECKBOX_LIMIT = 10
# The notification text of a message with blocks: Slack allows 40,000; a notification shows
# a line or two.
FALLBACK_TEXT_LIMIT = 300
# Blocks that belong to the block before them (a question's buttons) or after it (a divider
# before a summary), so a split never leaves buttons, or a divider, on their own.
TRAILING_BLOCKS = frozenset({"actions", "context", "input"})
LEADING_BLOCKS = frozenset({"divider"})

Payload = dict[str, Any]


class BlockLimitError(ValueError):
    """A payload would break one of Slack's Block Kit limits."""


@cache
def labels(directory: Path = PROMPTS_DIR) -> dict[str, str]:
    """Button and modal wording from prompts/slack/labels.yaml."""
    loaded = yaml.safe_load((directory / "slack" / "labels.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (loaded or {}).items()}


# ------------------------------------------------------------------ measuring text


def slack_length(text: str) -> int:
    """Length as Slack counts it, conservatively: in UTF-16 code units, so an emoji is two."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def text_size(value: Any) -> int:
    """Every text a block holds, added up: section text and fields, headers, context elements,
    button labels, options, placeholders (each is a ``text`` somewhere in the block)."""
    if isinstance(value, dict):
        return sum(
            slack_length(item) if key == "text" and isinstance(item, str) else text_size(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return sum(text_size(item) for item in value)
    return 0


def block_size(block: Payload) -> int:
    return text_size(block) + BLOCK_OVERHEAD


# ------------------------------------------------------------------ splitting text


def _within(text: str, limit: int) -> int:
    """The longest prefix of ``text`` (its length) whose slack_length is at most ``limit``."""
    if len(text) <= limit and slack_length(text) <= limit:
        return len(text)
    if text.isascii():
        return limit
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _break_at(window: str) -> int:
    """Where to break ``window``, the most that fits: after a paragraph, else a line, else a
    space, as long as that keeps at least half of it; else at its end."""
    for mark in ("\n\n", "\n", " "):
        cut = window.rfind(mark)
        if cut >= len(window) // 2:
            return cut
    return len(window)


def _outside_markup(text: str, cut: int) -> int:
    """``cut`` moved back, if need be, so it falls neither inside an escape (``&amp;``) nor
    inside Slack's angle-bracket markup (``<@U123>``, ``<!here>``, a link); unchanged when that
    would leave nothing before it."""
    opened = text.rfind("<", 0, cut)
    if opened > 0 and text.find(">", opened, cut) == -1:
        cut = opened
    amp = text.rfind("&", max(0, cut - 8), cut)
    if amp > 0 and text.find(";", amp, cut) == -1:
        cut = amp
    return cut


def _safe_cut(text: str, limit: int) -> int:
    """Where to cut ``text`` to at most ``limit`` (Slack's count): at a paragraph, line or word
    where there is one, and never inside an escape or a mention."""
    fits = _within(text, limit)
    if fits == len(text):
        return fits
    cut = _outside_markup(text, _break_at(text[:fits]))
    return max(cut, 1)


def split_text(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split text into pieces of at most ``limit`` characters, preferring paragraph and line
    breaks; the whitespace at each break is dropped, nothing else."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        cut = _safe_cut(rest, limit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    return pieces


def truncate(text: str, limit: int) -> str:
    if slack_length(text) <= limit:
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


# ------------------------------------------------------------------ splitting messages


def _fit_sections(blocks: list[Payload]) -> Iterator[Payload]:
    """The blocks, with any plain section too long for Slack split into several."""
    for block in blocks:
        text: Any = block.get("text") if block.get("type") == "section" else None
        plain = isinstance(text, dict) and set(block) <= {"type", "text", "block_id"}
        if plain and slack_length(str(text.get("text", ""))) > SECTION_TEXT_LIMIT:
            for piece in split_text(str(text["text"])):
                yield {"type": "section", "text": {**text, "text": piece}}
        else:
            yield block


def _groups(blocks: list[Payload]) -> list[list[Payload]]:
    """Blocks that go together: a block with the dividers before it and the buttons after it."""
    groups: list[list[Payload]] = []
    leading: list[Payload] = []
    for block in blocks:
        kind = block.get("type")
        if kind in LEADING_BLOCKS:
            leading.append(block)
        elif kind in TRAILING_BLOCKS and groups and not leading:
            groups[-1].append(block)
        else:
            groups.append([*leading, block])
            leading = []
    if leading:
        groups.append(leading)
    return groups


def _fits(blocks: list[Payload], *, block_limit: int) -> bool:
    return len(blocks) <= block_limit and sum(block_size(b) for b in blocks) <= MESSAGE_TEXT_BUDGET


def pack(blocks: list[Payload], *, block_limit: int = MESSAGE_BLOCK_LIMIT) -> list[list[Payload]]:
    """The blocks in order, in as few messages as Slack's limits allow with a margin: at most
    ``block_limit`` blocks and MESSAGE_TEXT_BUDGET of text each, sections split to fit, and
    buttons kept with the block they belong to."""
    messages: list[list[Payload]] = []
    current: list[Payload] = []
    for group in _groups(list(_fit_sections(blocks))):
        parts = [group] if _fits(group, block_limit=block_limit) else [[b] for b in group]
        for part in parts:
            if current and not _fits(current + part, block_limit=block_limit):
                messages.append(current)
                current = []
            current += part
    if current:
        messages.append(current)
    return messages


def fits_one_message(blocks: list[Payload]) -> bool:
    """Whether ``blocks`` go out as one message as they are."""
    return len(pack(blocks)) <= 1 and len(list(_fit_sections(blocks))) == len(blocks)


def chat_messages(channel: str, blocks: list[Payload]) -> list[Payload]:
    """chat.postMessage payloads carrying ``blocks``, split so each is within Slack's limits,
    each checked against slack_sdk's block models."""
    payloads = unchecked_messages(channel, blocks)
    for payload in payloads:
        validate(payload["blocks"], limit=MESSAGE_BLOCK_LIMIT)
    return payloads


def unchecked_messages(channel: str, blocks: list[Payload]) -> list[Payload]:
    """As chat_messages, split the same way but not checked block by block against slack_sdk's
    models, for senders that build many messages of known shapes (the clock), whose shapes
    their tests check instead."""
    return [
        {"channel": channel, "text": fallback_text(chunk), "blocks": chunk}
        for chunk in pack(blocks)
    ]


def home_view(blocks: list[Payload]) -> Payload:
    fitted = list(_fit_sections(blocks))
    validate(fitted, limit=HOME_BLOCK_LIMIT)
    return {"type": "home", "blocks": fitted}


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
