"""What Teams posted, in plain terms: the Teams SDK's activity models read the JSON (and refuse
what is not an activity), and ``Incoming`` keeps what Reflect uses of it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from microsoft_teams.api import ActivityTypeAdapter, ConversationUpdateActivity
from microsoft_teams.api.activities.install_update.add import InstalledActivity
from microsoft_teams.api.activities.install_update.remove import UninstalledActivity
from microsoft_teams.api.activities.invoke.task import (
    TaskFetchInvokeActivity,
    TaskSubmitInvokeActivity,
)
from microsoft_teams.api.activities.message.message import MessageActivity
from pydantic import ValidationError

from bot.identity import teams_person_id
from storage.teams import ConversationReference

PERSONAL = "personal"
# What Reflect does with each kind of activity; anything else is ignored (and logged).
INSTALLED = "installed"
UNINSTALLED = "uninstalled"
MESSAGE = "message"
# A dialog (task module) asked for, and one sent: invokes Teams waits to be answered.
TASK_FETCH = "task/fetch"
TASK_SUBMIT = "task/submit"
INVOKES = frozenset({TASK_FETCH, TASK_SUBMIT})
# The longest key kept for a request (storage/handled.py's KEY_LIMIT), with room for a prefix.
KEY_DIGITS = 40


class Unreadable(ValueError):
    """Not an activity Reflect acts on; the reason is for the operator's log (never its text).
    ``routine``: a kind Teams sends in the ordinary way of things (a typing indicator, a
    reaction), not worth an operator's notice."""

    def __init__(self, reason: str, *, routine: bool = False) -> None:
        super().__init__(reason)
        self.routine = routine


@dataclass(frozen=True)
class Incoming:
    """One activity from a person."""

    kind: str
    activity_id: str
    service_url: str
    channel_id: str
    tenant_id: str
    conversation_id: str
    conversation_type: str
    # The Microsoft Entra object ID, in lower case as Reflect keeps it: the organisation
    # file's teams_id, whichever case Teams wrote it in.
    person: str
    user_id: str
    bot_id: str
    text: str = ""
    value: Any = None
    typed_at: datetime | None = None
    # The post a card's button was pressed on.
    reply_to_id: str = ""

    @property
    def personal(self) -> bool:
        return self.conversation_type == PERSONAL

    @property
    def invoke(self) -> bool:
        """Teams waits for this activity's answer in the reply to its request."""
        return self.kind in INVOKES

    @property
    def key(self) -> str:
        """A short key naming this activity, the same every time Teams sends it again."""
        digest = hashlib.sha256(f"{self.conversation_id}|{self.activity_id}".encode()).hexdigest()
        return f"teams:{digest[:KEY_DIGITS]}"

    def reference(self) -> ConversationReference:
        return ConversationReference(
            person_id=self.person,
            tenant_id=self.tenant_id,
            service_url=self.service_url,
            conversation_id=self.conversation_id,
            user_id=self.user_id,
            bot_id=self.bot_id,
        )


@dataclass(frozen=True)
class Envelope:
    """What an activity says about where it comes from, read before anything else so that its
    token and tenant can be checked first."""

    service_url: str
    channel_id: str
    tenant_id: str | None


def envelope(document: Any) -> Envelope:
    if not isinstance(document, dict):
        raise Unreadable("not a JSON object")
    service_url, channel_id = document.get("serviceUrl"), document.get("channelId")
    if not isinstance(service_url, str) or not isinstance(channel_id, str):
        raise Unreadable("no serviceUrl or channelId")
    return Envelope(service_url, channel_id, _tenant_of(document))


def _tenant_of(document: dict[str, Any]) -> str | None:
    conversation = document.get("conversation")
    channel_data = document.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    for found in (
        conversation.get("tenantId") if isinstance(conversation, dict) else None,
        tenant.get("id") if isinstance(tenant, dict) else None,
    ):
        if isinstance(found, str) and found:
            return found
    return None


def parse(document: dict[str, Any]) -> Incoming:
    """The activity Reflect acts on; raises Unreadable for anything else."""
    try:
        activity = ActivityTypeAdapter.validate_python(document)
    except ValidationError as exc:
        kind = document.get("type")
        raise Unreadable(
            f"not an activity Reflect reads (type {str(kind)[:40]!r}, "
            f"{exc.error_count()} problem(s))"
        ) from None
    if isinstance(activity, MessageActivity):
        kind = MESSAGE
    elif isinstance(activity, InstalledActivity):
        kind = INSTALLED
    elif isinstance(activity, TaskFetchInvokeActivity):
        kind = TASK_FETCH
    elif isinstance(activity, TaskSubmitInvokeActivity):
        kind = TASK_SUBMIT
    elif isinstance(activity, UninstalledActivity):
        kind = UNINSTALLED
    elif isinstance(activity, ConversationUpdateActivity) and any(
        member.id == activity.recipient.id for member in activity.members_added or ()
    ):
        kind = INSTALLED  # the bot was added to a conversation
    else:
        raise Unreadable(f"an activity Reflect does not act on ({activity.type})", routine=True)
    sender = activity.from_
    person = teams_person_id(sender.aad_object_id or "") if sender is not None else ""
    if not person:
        raise Unreadable("no sender's Entra object ID")
    conversation = activity.conversation
    tenant = _tenant_of(document)
    if not tenant:
        raise Unreadable("no tenant")
    text = activity.text if isinstance(activity, MessageActivity) else ""
    value: Any = None
    if isinstance(activity, MessageActivity):
        value = activity.value
    elif isinstance(activity, TaskFetchInvokeActivity | TaskSubmitInvokeActivity):
        value = activity.value.data  # the card's data, with what was typed in the dialog
    return Incoming(
        kind=kind,
        activity_id=activity.id or "",
        service_url=activity.service_url or "",
        channel_id=str(activity.channel_id),
        tenant_id=tenant,
        conversation_id=conversation.id,
        conversation_type=conversation.conversation_type or "",
        person=person,
        user_id=sender.id if sender is not None else "",
        bot_id=activity.recipient.id,
        text=text or "",
        value=value,
        typed_at=activity.timestamp,
        reply_to_id=activity.reply_to_id or "",
    )
