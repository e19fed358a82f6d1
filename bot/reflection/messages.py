"""What the service says back: template names and their data. Front ends render them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The identifier guard's interface, which the service is given; it belongs to bot/protection/.
from bot.protection.screened import Guard as Guard
from bot.protection.screened import NoGuard as NoGuard
from bot.protection.screened import Screened as Screened
from storage.statuses import ReflectionStatus


@dataclass(frozen=True)
class Said:
    """One thing to show a person: the template under prompts/messages/ and its data."""

    template: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    """A reflection just completed: who must now receive what."""

    reflection_id: int
    case_ref: str
    practitioner_id: str
    supervisor_id: str | None
    lead_ids: tuple[str, ...]
    leads_see_summaries: bool
    summary: dict[str, Any]


@dataclass(frozen=True)
class Alert:
    """Something the practitioner's supervisor is told at once, mid-reflection: the template
    under prompts/messages/ and its data."""

    reflection_id: int
    case_ref: str
    practitioner_id: str
    supervisor_id: str
    template: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Position:
    """A question of a reflection, as it stood when shown (a plan question has steps)."""

    reflection_id: int
    question: str | None
    step: str | None = None

    def key(self) -> str:
        """A short text naming the position, for storing beside the message that asks it."""
        return f"{self.reflection_id}|{self.question or ''}|{self.step or ''}"

    @classmethod
    def from_key(cls, key: str | None) -> Position | None:
        parts = (key or "").split("|")
        if len(parts) != 3 or not parts[0].isdigit():
            return None
        return cls(int(parts[0]), parts[1] or None, parts[2] or None)


@dataclass
class Reply:
    messages: list[Said] = field(default_factory=list)
    reflection_id: int | None = None
    status: ReflectionStatus | None = None
    completion: Completion | None = None
    alerts: list[Alert] = field(default_factory=list)
    # The question this reply asks, if it asks one: front ends note it beside the message,
    # so a reply typed before it arrived is filed under the question that was on screen.
    asks: Position | None = None
    prompted: bool = False

    def say(self, template: str, **data: Any) -> None:
        self.messages.append(Said(template, data))
