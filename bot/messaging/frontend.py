"""What a front end implements to send the outbox: the delivery loop (bot/messaging/delivery.py)
holds the order, the claims, the retries and the setting aside; a front end only renders a
stored message for its platform, sends one post, finds a post that may have arrived, and says
what a failure means.

bot/slack/frontend.py is the Slack one. A second platform implements this Protocol in a package
of its own beside bot/slack/, and passes its object to ``Delivery``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.messaging.message import Message


@dataclass(frozen=True)
class Stamp:
    """Carried by each post, so that a post whose send had an unknown outcome can be found:
    the outbox message's id and which of its posts this is (0 for the first)."""

    outbox_id: int
    part: int = 0


@dataclass(frozen=True)
class Outcome:
    """How one send (or one look) went, in the delivery loop's terms."""

    ok: bool
    # The platform's reference for the post (Slack: its ts), kept as ``posted_ref``.
    ref: str | None = None
    # When the platform says the post was made (kept as ``posted_at``): a reply typed after
    # it was typed under it (storage/prompts_shown.py).
    posted_at: datetime | None = None
    error: str = ""
    # No retry will make the platform take it: set aside for an operator at once.
    permanent: bool = False
    # The recipient cannot be written to: nothing more is sent to tell them.
    recipient_gone: bool = False
    # The platform is busy (rate limits): waited out, never held against the message.
    busy: bool = False
    # The fault is the app's (its credentials): every message fails alike; logged as an error.
    app_fault: bool = False
    retry_after: timedelta | None = None
    # It may have arrived although the send failed: look for it before sending it again.
    uncertain: bool = False


SENT = Outcome(ok=True)


class CannotReach(ValueError):
    """The recipient cannot be reached by this deployment (their platform is not configured
    here); the message says why in plain words, with no content, for the operator's line."""


class FrontEnd(Protocol):
    """A platform Reflect talks to people on."""

    def render(self, surface: str, recipient: str, message: Message) -> Sequence[Any]:
        """The posts ``message`` becomes for ``recipient`` on ``surface`` (see
        bot/messaging/message.py), in order; the same posts every time it is asked, so a
        message half sent before a crash goes on where it stopped. Raises ValueError when the
        message cannot be shown on this platform (it is set aside)."""
        ...

    def send(self, post: Any, *, stamp: Stamp) -> Outcome:
        """Send one post carrying ``stamp``; never raises for the platform's or the network's
        errors."""
        ...

    def find(self, post: Any, *, stamp: Stamp, since: datetime) -> Outcome | None:
        """Whether a post whose send had an unknown outcome arrived after all (posted after
        ``since``): ok with its ref if it did, None if it did not (or cannot be looked for,
        or sending it twice is harmless), a failed Outcome if the platform could not say."""
        ...

    def longest_send(self) -> timedelta:
        """The longest one send can take: a claim must outlast it."""
        ...

    def send_deadline(self) -> timedelta:
        """How long after a send started the platform may still post it: a post whose send
        had an unknown outcome is not looked for before then (it may not be there yet)."""
        ...
