"""Records what the Slack app must send in the outbox, inside the service's own transaction.

Every outgoing message gets a dedupe key derived from what caused it (an event ID, a button's
prompt stamp, a command's trigger ID, a reflection ID), so a retried event or a second click
records nothing new and Slack receives nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import dispatch
from bot.reflection.messages import Completion, Reply
from bot.render import Renderer
from bot.slack import blocks as bk
from bot.slack import claims
from bot.slack.compose import (
    answers_button,
    has_answers,
    prompt_stamp,
    reply_blocks,
    summary_controls,
)
from storage import inbox
from storage.models import Reflection
from storage.prompts_shown import note_prompt

POST = "chat.postMessage"


def post(
    *,
    session: Session,
    key: str,
    recipient: str,
    blocks: list[dict[str, Any]],
    now: datetime,
) -> list[str]:
    """Record a DM (split into as many messages as Slack's limits need) to ``recipient``;
    returns the messages' keys, in order."""
    keys = []
    for index, payload in enumerate(bk.chat_messages(recipient, blocks)):
        keys.append(f"{key}:{index}")
        dispatch.record(
            session=session,
            key=keys[-1],
            method=POST,
            recipient=recipient,
            payload=payload,
            now=now,
        )
    return keys


def say(
    renderer: Renderer,
    template: str,
    *,
    session: Session,
    key: str,
    recipient: str,
    now: datetime,
    **data: Any,
) -> None:
    """Record one DM rendered from ``prompts/slack/<template>.j2``."""
    text = renderer.render(f"slack/{template}.j2", **data)
    post(session=session, key=key, recipient=recipient, blocks=bk.sections(text), now=now)


class SlackSink:
    """A ReplySink for one Slack request. ``key`` names the request; ``claim`` (optional) is
    the handled-once key taken in the same transaction; ``consumes`` (optional) the inbox item
    being handled, removed in the same transaction."""

    def __init__(
        self,
        *,
        key: str,
        renderer: Renderer,
        now: Callable[[], datetime],
        claim: str | None = None,
        consumes: int | None = None,
        preface: list[dict[str, Any]] | None = None,
    ) -> None:
        self.key = key
        self.claim = claim
        self.consumes = consumes
        self.renderer = renderer
        self.now = now
        self.preface = preface or []
        self.recorded = False

    def record(self, session: Session, practitioner_id: str, reply: Reply) -> None:
        now = self.now()
        if self.claim:
            claims.claim(session=session, key=self.claim, now=now)
        if self.consumes is not None and not inbox.take(session=session, item_id=self.consumes):
            raise claims.AlreadyHandled(f"inbox:{self.consumes}")
        stamp = None
        if reply.reflection_id is not None and reply.status == "in_progress":
            reflection = session.get(Reflection, reply.reflection_id)
            if reflection is not None:
                stamp = prompt_stamp(reflection)
        blocks = self.preface + reply_blocks(reply, self.renderer, stamp=stamp)
        if blocks:
            keys = post(
                session=session, key=self.key, recipient=practitioner_id, blocks=blocks, now=now
            )
            if reply.asks is not None and keys:
                # The question comes last in a reply (any note about the answer before it).
                note_prompt(session=session, dedupe_key=keys[-1], prompt=reply.asks.key())
        if reply.completion is not None:
            record_completion(session, reply.completion, self.renderer, now=now)
        self.recorded = True


def record_completion(
    session: Session, completion: Completion, renderer: Renderer, *, now: datetime
) -> None:
    """The supervisor's copy with its buttons (Acknowledge, Add a note, a call before the
    visit, Record a decision, Show the answers), and the leads' copy if shared."""
    rid = completion.reflection_id
    answers = has_answers(completion.summary)
    facts = {"practitioner_id": completion.practitioner_id, "case_ref": completion.case_ref}
    if completion.supervisor_id:
        intro = renderer.render("slack/supervisor_intro.j2", **facts)
        summary = renderer.render(
            "messages/summary.j2",
            summary=completion.summary,
            audience="supervisor",
            with_answers=False,
        )
        blocks = [
            *bk.sections(intro),
            *bk.sections(summary),
            summary_controls(rid, answers=answers),
        ]
        post(
            session=session,
            key=f"done:{rid}:supervisor",
            recipient=completion.supervisor_id,
            blocks=blocks,
            now=now,
        )
    if completion.leads_see_summaries:
        intro = renderer.render("slack/lead_copy_intro.j2", **facts)
        summary = renderer.render(
            "messages/summary.j2", summary=completion.summary, audience="lead", with_answers=False
        )
        button = [answers_button(rid)] if answers else []
        for lead in completion.lead_ids:
            if lead == completion.supervisor_id:
                continue
            post(
                session=session,
                key=f"done:{rid}:lead:{lead}",
                recipient=lead,
                blocks=[*bk.sections(intro), *bk.sections(summary), *button],
                now=now,
            )
