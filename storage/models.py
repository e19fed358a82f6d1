"""Tables. The schema itself comes from Alembic migrations, never from ``create_all``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.statuses import (
    ActionStatus,
    AnswerStatus,
    InboxStatus,
    LeadStatus,
    OutboxStatus,
    ReflectionStatus,
    ReviewStatus,
)
from storage.types import EncryptedJSON, EncryptedText, Status, UTCDateTime


class Agency(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    # Per-agency options from the organisation file: leads_see_summaries, clock overrides.
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class SafeguardingLead(SQLModel, table=True):
    __tablename__ = "safeguarding_lead"
    agency_id: str = Field(foreign_key="agency.id", primary_key=True, max_length=64)
    person_id: str = Field(primary_key=True, max_length=64)


class Person(SQLModel, table=True):
    person_id: str = Field(primary_key=True, max_length=64)
    email: str | None = Field(default=None, max_length=320, index=True)
    agency_id: str = Field(foreign_key="agency.id", max_length=64)
    role: str = Field(max_length=32)
    supervisor_id: str | None = Field(default=None, max_length=64, index=True)
    # Which question set they are asked (social_worker, health_visitor, school, police, gp,
    # early_help), from the organisation file; None falls back to the agency's default.
    profession: str | None = Field(default=None, max_length=32)


class Case(SQLModel, table=True):
    # The clock looks for open cases opened before a cutoff: closed_on IS NULL AND opened_on <= x.
    __table_args__ = (Index("ix_case_open_since", "closed_on", "opened_on"),)

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=40, unique=True)
    practitioner_id: str = Field(max_length=64, index=True)
    opened_on: date
    closed_on: date | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)


class Reflection(SQLModel, table=True):
    __table_args__ = (
        Index("ix_reflection_practitioner_status", "practitioner_id", "status"),
        # The clock's unfinished-reflection and lead follow-up searches.
        Index("ix_reflection_status_updated", "status", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    practitioner_id: str = Field(max_length=64)
    status: ReflectionStatus = Field(sa_type=Status(ReflectionStatus, 16))
    current_question: str | None = Field(default=None, max_length=64)
    # Within the plan question: what | who | due | contingency | more
    current_step: str | None = Field(default=None, max_length=16)
    question_set_version: str = Field(max_length=32)
    started_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Snapshot of the summary at completion (encrypted JSON, rendered by templates).
    summary: dict[str, Any] | None = Field(default=None, sa_type=EncryptedJSON)
    supervisor_id: str | None = Field(default=None, max_length=64, index=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lead_contact_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Plain columns beside the encrypted summary, so a partnership can count what reflections
    # found without decrypting anything. None of them holds free text.
    question_set: str | None = Field(default=None, max_length=32)
    # A later reflection on a case with an earlier completed one (it reviews the last plan).
    is_repeat: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # Comma-separated rule ids whose flag fired; comma-separated theme ids skipped.
    rules_fired: str | None = Field(default=None, max_length=2000)
    themes_skipped: str | None = Field(default=None, max_length=1000)
    # The practitioner's 0-10 scale, and the estimated active minutes the reflection took.
    scale: int | None = None
    minutes: int | None = None
    lead_status: LeadStatus | None = Field(default=None, sa_type=Status(LeadStatus, 16))
    # nothing | call_before_visit | joint_visit | decision
    supervisor_ask: str | None = Field(default=None, max_length=24)
    # When the supervisor pressed "I'll call you before the visit" (set once).
    call_promised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Answer(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("reflection_id", "question_id"),)

    id: int | None = Field(default=None, primary_key=True)
    reflection_id: int = Field(foreign_key="reflection.id", index=True)
    question_id: str = Field(max_length=64)
    status: AnswerStatus = Field(sa_type=Status(AnswerStatus, 16))
    # Free text, or the chosen option ids joined by commas.
    value: str | None = Field(default=None, sa_type=EncryptedText)
    answered_at: datetime = Field(sa_type=UTCDateTime)
    # The ids of the question set's mentions found in ``value`` when it was written, joined by
    # commas ("" for none); never words of the answer. None: not recorded (scan the text).
    mentions: str | None = Field(default=None, max_length=400)


class Action(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    reflection_id: int = Field(foreign_key="reflection.id", index=True)
    position: int
    what: str | None = Field(default=None, sa_type=EncryptedText)
    owner: str | None = Field(default=None, sa_type=EncryptedText)
    # The owner's person ID when the owner was given as a mention, for reminders.
    owner_person_id: str | None = Field(default=None, max_length=64)
    due_on: date | None = Field(default=None, index=True)
    contingency: str | None = Field(default=None, sa_type=EncryptedText)
    status: ActionStatus = Field(sa_type=Status(ActionStatus, 16))
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # For a safety or escalation action dated beyond the next working day: what happens to
    # the child until then.
    meanwhile: str | None = Field(default=None, sa_type=EncryptedText)
    # Set when a later reflection reviews this action.
    review_status: ReviewStatus | None = Field(default=None, sa_type=Status(ReviewStatus, 24))
    # What kind of step the action is, from the question set's wording (never free text):
    # escalation, or None for any other.
    kind: str | None = Field(default=None, max_length=16)


class SupervisorNote(SQLModel, table=True):
    __tablename__ = "supervisor_note"
    id: int | None = Field(default=None, primary_key=True)
    reflection_id: int = Field(foreign_key="reflection.id", index=True)
    author_id: str = Field(max_length=64)
    text: str = Field(sa_type=EncryptedText)
    created_at: datetime = Field(sa_type=UTCDateTime)


class SupervisorDecision(SQLModel, table=True):
    """A decision the supervisor recorded on a reflection, shown to the practitioner."""

    __tablename__ = "supervisor_decision"
    id: int | None = Field(default=None, primary_key=True)
    reflection_id: int = Field(foreign_key="reflection.id", index=True)
    author_id: str = Field(max_length=64)
    text: str = Field(sa_type=EncryptedText)
    created_at: datetime = Field(sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """What the bot must send, recorded durably before it is sent; delivered with retries."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        # Retention's purge of finished messages, run on every clock tick (storage/retention.py).
        Index("ix_outbox_finished", text("coalesce(sent_at, created_at)")),
        Index("ix_outbox_recipient_prompt", "recipient", "prompt"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Unique: recording the same message twice is a no-op, so nothing is sent twice.
    dedupe_key: str = Field(max_length=200, unique=True)
    # Where it goes (bot/messaging/message.py): "conversation" or "home"; a row recorded before
    # messages were stored as templates is "slack:<Web API method>", its payload the call's.
    surface: str = Field(max_length=64)
    # The channel or user the message goes to; messages to one recipient go out in order.
    recipient: str = Field(max_length=64, index=True)
    # What is to be said: templates, their data (which may quote answers), controls.
    payload: dict[str, Any] = Field(sa_type=EncryptedJSON)
    status: OutboxStatus = Field(sa_type=Status(OutboxStatus, 16))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The process (see Process) that claimed it for sending; when that process is found dead,
    # the message is due again at once instead of when its claim runs out.
    owner: str | None = Field(default=None, max_length=32)
    # A send whose outcome is unknown (the process died mid-send, or the platform answered too
    # late): before sending again, the front end looks for it.
    uncertain: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    # The question this message asks, if it asks one, and the front end's reference for its
    # last post once sent (Slack: its ts): together they say which question a reply was
    # typed under.
    prompt: str | None = Field(default=None, max_length=80)
    posted_ref: str | None = Field(default=None, max_length=32)
    # When that last post was made, as the platform says: compared with when a reply was typed.
    posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A message may become several posts when it is sent: how many of them have gone.
    parts_sent: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # Raised by every claim: a send starts only if the claim it was made under is still the
    # latest (a process stalled past its claim finds it taken over and does not send).
    claim_epoch: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # When the latest send of a post started: a send whose outcome is unknown is not looked
    # for before the platform could still post it (FrontEnd.send_deadline).
    send_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class InboxItem(SQLModel, table=True):
    """Something a practitioner sent (an answer, a /reflect), stored before Slack is answered
    and handled straight after; deleted in the transaction that handles it. A claim is a lease:
    if the process dies first, another takes the item when ``claimed_until`` has passed."""

    __tablename__ = "inbox"
    # A person's items are handled in order: the oldest waiting one first.
    __table_args__ = (Index("ix_inbox_user_id", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    user_id: str = Field(max_length=64)
    payload: dict[str, Any] = Field(sa_type=EncryptedJSON)
    received_at: datetime = Field(sa_type=UTCDateTime)
    claimed_until: datetime = Field(sa_type=UTCDateTime, index=True)
    # Times taken again after its claim ran out (handling failed, or its process died).
    attempts: int = 0
    # The process (see Process) handling it; when that process is found dead, the item is
    # taken over at once.
    owner: str | None = Field(default=None, max_length=32)
    status: InboxStatus = Field(
        default=InboxStatus.WAITING,
        sa_type=Status(InboxStatus, 16),
        sa_column_kwargs={"server_default": InboxStatus.WAITING.value},
    )
    last_error: str | None = Field(default=None, max_length=200)


class Process(SQLModel, table=True):
    """A running web or clock process, seen every few seconds while it lives. Claims name
    their process, so a crashed one's work is taken over as soon as its death is known: at
    once on the same host (its pid is gone), or when it has not been seen for a while."""

    __tablename__ = "process"

    id: str = Field(primary_key=True, max_length=32)
    host: str = Field(max_length=255)
    pid: int
    # The kernel's start time of the pid, so a reused pid is not taken for the old process.
    pid_started: str | None = Field(default=None, max_length=32)
    started_at: datetime = Field(sa_type=UTCDateTime)
    seen_at: datetime = Field(sa_type=UTCDateTime, index=True)


class HandledKey(SQLModel, table=True):
    """Keys of events, clicks and submissions already handled, so a front end's retry is handled
    once across processes."""

    __tablename__ = "handled_key"
    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)


class ClockPrompt(SQLModel, table=True):
    """A scheduled prompt decided due; unique per (job, key) so reruns record it once."""

    __tablename__ = "clock_prompt"
    __table_args__ = (
        UniqueConstraint("job", "key"),
        # "Was this case/reflection/action prompted (recently)?" as an index lookup.
        Index("ix_clock_prompt_subject", "job", "subject_id", "decided_at"),
        # Retention's purge of prompts past the clock's look-back, run on every tick.
        Index("ix_clock_prompt_decided_at", "decided_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=32)
    key: str = Field(max_length=200)
    # The case, reflection or action the prompt is about (None for a digest).
    subject_id: int | None = None
    recipient_id: str = Field(max_length=64)
    decided_at: datetime = Field(sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64)
    # view | export | note | erase | acknowledge | ...
    action: str = Field(max_length=32)
    subject: str = Field(max_length=120)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TeamsConversation(SQLModel, table=True):
    """Where Reflect writes to a person in Microsoft Teams: the personal chat their installing
    the app opened, kept so that Reflect can start a message (a summary, a clock prompt)."""

    __tablename__ = "teams_conversation"
    # The Microsoft Entra object ID: the person's ID in the organisation file.
    person_id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    service_url: str = Field(max_length=300)
    conversation_id: str = Field(max_length=300)
    # The person's and the bot's ids in Teams' own terms (29:... and 28:...).
    user_id: str = Field(max_length=300)
    bot_id: str = Field(max_length=300)
    updated_at: datetime = Field(sa_type=UTCDateTime)
