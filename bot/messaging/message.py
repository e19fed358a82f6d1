"""What is to be said, as the outbox stores it: templates and their data, and the actions a
message offers. A front end renders it for its platform when it sends it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

# Where a message goes: a direct conversation with the recipient, or their home page (a view
# the front end replaces whole, so sending it again is harmless).
CONVERSATION = "conversation"
HOME = "home"


@dataclass(frozen=True)
class Control:
    """An action a message offers, named by what it does, never by a platform's ids.

    ``action``: answer (``subject`` the prompt stamp of the question), start (a case
    reference), confirm_lead_contact, acknowledge, add_note, call_promised, record_decision,
    show_answers (a reflection id). ``label`` names a template for the words when they are not
    the front end's usual words for the action; such a control stands alone under its text.
    """

    action: str
    subject: str
    label: str | None = None
    label_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Part:
    """One template (a path under prompts/, without ``.j2``) with its data, and its controls.
    ``apart``: shown set apart from the part before it (one record of several)."""

    template: str
    data: dict[str, Any] = field(default_factory=dict)
    controls: tuple[Control, ...] = ()
    apart: bool = False


@dataclass(frozen=True)
class Message:
    """Parts shown in order (a note, then a question). ``single``: one post, shortened to
    fit if ever too long, rather than split (a nudge from the clock)."""

    parts: tuple[Part, ...]
    single: bool = False
    # A row recorded before the outbox stored templates holds the platform call itself (its
    # surface says which platform's); only that platform's front end can send it.
    legacy: dict[str, Any] | None = None

    @classmethod
    def of(cls, template: str, *controls: Control, **data: Any) -> Message:
        return cls((Part(template, data, controls),))

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"parts": [_part_json(p) for p in self.parts]}
        if self.single:
            stored["single"] = True
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Message:
        parts = tuple(
            Part(
                p["template"],
                dict(p.get("data") or {}),
                tuple(Control(**c) for c in p.get("controls") or ()),
                bool(p.get("apart")),
            )
            for p in stored.get("parts") or ()
        )
        return cls(parts, single=bool(stored.get("single")))


def _part_json(part: Part) -> dict[str, Any]:
    stored: dict[str, Any] = {"template": part.template, "data": plain(part.data)}
    if part.apart:
        stored["apart"] = True
    if part.controls:
        stored["controls"] = [
            {
                "action": c.action,
                "subject": c.subject,
                **({"label": c.label, "label_data": plain(c.label_data)} if c.label else {}),
            }
            for c in part.controls
        ]
    return stored


def plain(value: Any) -> Any:
    """``value`` as JSON holds it: dates as ISO text (the templates' ``date`` filter reads
    either), records as mappings, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Sequence | set | frozenset):
        return [plain(v) for v in value]
    raise TypeError(f"a message's data cannot hold {type(value).__name__}")
