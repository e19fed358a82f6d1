"""What casework hands back to a front end: plain results, and the messages to record.

Casework never sends anything itself. A front end calls it inside its own transaction and records
each Notice there (rendering the template for its platform), so what is said is committed with
the change that caused it, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.protection.screened import Screened
from bot.reflection.case_refs import case_ref_problem, normalise_case_ref
from bot.reflection.messages import Said

NOT_AN_ID = "(not a valid reference)"


@dataclass(frozen=True)
class Notice:
    """A message to one person. ``key`` names what caused it, so a repeat records it once."""

    recipient: str
    key: str
    message: Said


@dataclass
class CaseworkResult:
    """What came of a request about a reflection: a refusal to tell whoever asked (None when it
    was done), and the messages to record for others."""

    refusal: Said | None = None
    notices: list[Notice] = field(default_factory=list)
    # A note or decision as kept, after the identifier guard.
    screened: Screened | None = None

    @property
    def done(self) -> bool:
        return self.refusal is None


class NotPermitted(Exception):
    """Asked by someone the access rule refuses, for work only the administrator does (the
    refusal is audited before this is raised)."""


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def valid_case_ref(case_ref: str) -> str | None:
    """The normalised reference, or None when it could not be one (so nothing typed in error,
    such as a name, is looked up or written to the audit trail)."""
    ref = normalise_case_ref(case_ref)
    return None if case_ref_problem(ref) else ref


def case_subject(ref: str | None) -> str:
    return f"case:{ref or NOT_AN_ID}"


def reflection_subject(reflection_id: int | None) -> str:
    """A value that was not an id (a forged button) is never written as given."""
    return f"reflection:{reflection_id}" if reflection_id is not None else "reflection:invalid"
