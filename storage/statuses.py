"""The states stored rows move through, each named once. A status is a StrEnum: stored as its
value and equal to it, so SQL, templates and rows written before see the same words."""

from __future__ import annotations

from enum import StrEnum


class ReflectionStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# A reflection that can still be resumed: the one a practitioner is in, or one they paused.
OPEN_STATUSES = (ReflectionStatus.IN_PROGRESS, ReflectionStatus.PAUSED)


class AnswerStatus(StrEnum):
    ANSWERED = "answered"
    SKIPPED = "skipped"


class ActionStatus(StrEnum):
    """A plan action while its steps are asked (draft), and once they all are (complete)."""

    DRAFT = "draft"
    COMPLETE = "complete"


class ReviewStatus(StrEnum):
    """What a later reflection said became of an action (the ``last_plan`` question's options)."""

    DONE = "done"
    PARTLY = "partly"
    NOT_DONE = "not_done"
    NO_LONGER_NEEDED = "no_longer_needed"


# An action reviewed as one of these is closed: nobody is reminded of it again.
CLOSED_REVIEWS = (ReviewStatus.DONE, ReviewStatus.NO_LONGER_NEEDED)


class LeadStatus(StrEnum):
    """Contact with the agency's safeguarding lead, from the ``lead_contact`` question's options,
    or ``is_lead`` for a lead reflecting, or ``skipped``."""

    RECENTLY = "recently"
    PLANNED = "planned"
    NOT_YET = "not_yet"
    IS_LEAD = "is_lead"
    NOT_NEEDED = "not_needed"
    SKIPPED = "skipped"


class OutboxStatus(StrEnum):
    """``sending``: claimed until ``next_attempt_at``; ``failed``: set aside for an operator."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


# Not yet sent: waiting for its turn, or claimed by a sender.
UNSENT = (OutboxStatus.PENDING, OutboxStatus.SENDING)


class InboxStatus(StrEnum):
    """``failed``: could not be handled after every try, kept for an operator."""

    WAITING = "waiting"
    FAILED = "failed"
