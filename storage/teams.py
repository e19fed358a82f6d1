"""Where Reflect writes to each person in Microsoft Teams (the teams_conversation table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from storage.models import TeamsConversation


@dataclass(frozen=True)
class ConversationReference:
    """A person's personal chat with the app, as Teams named it when they installed it or
    last wrote."""

    person_id: str
    tenant_id: str
    service_url: str
    conversation_id: str
    user_id: str
    bot_id: str


def remember(*, session: Session, reference: ConversationReference, now: datetime) -> None:
    """Keep ``reference`` as where to write to its person, replacing what was kept before."""
    row = session.get(TeamsConversation, reference.person_id)
    if row is None:
        row = TeamsConversation(person_id=reference.person_id, updated_at=now, **_fields(reference))
    else:
        for name, value in _fields(reference).items():
            setattr(row, name, value)
        row.updated_at = now
    session.add(row)


def forget(*, session: Session, person_id: str) -> None:
    """The person removed the app: nothing can be written to them until they add it again."""
    row = session.get(TeamsConversation, person_id)
    if row is not None:
        session.delete(row)


def reference_for(*, session: Session, person_id: str) -> ConversationReference | None:
    row = session.get(TeamsConversation, person_id)
    if row is None:
        return None
    return ConversationReference(person_id=row.person_id, **_fields(row))


def _fields(source: ConversationReference | TeamsConversation) -> dict[str, str]:
    return {
        "tenant_id": source.tenant_id,
        "service_url": source.service_url,
        "conversation_id": source.conversation_id,
        "user_id": source.user_id,
        "bot_id": source.bot_id,
    }
