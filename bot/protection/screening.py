"""The one path by which free text anyone types (an answer, a plan action, a supervisor's note)
is screened for identifiers before it is stored, whatever the front end."""

from __future__ import annotations

from sqlmodel import Session

from bot.protection.identifiers import IdentifierGuard
from bot.protection.screened import Guard, Screened
from storage import organisation as org_queries

_DEFAULT_GUARD = IdentifierGuard()


def screen_typed(
    session: Session, *, author_id: str, text: str, guard: Guard | None = None
) -> Screened:
    """``text`` as it may be kept, under the author's agency's identifier options."""
    guard = guard or _DEFAULT_GUARD
    # An agency's options only narrow what is looked for, so text in which the widest screen
    # finds nothing needs no look at the agency (most answers, on every step).
    widest = guard.screen(text, options={})
    if not widest.withheld and not widest.warned:
        return widest
    options = org_queries.agency_options_of(session=session, person_id=author_id)
    return guard.screen(text, options=options)
