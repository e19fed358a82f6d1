"""What each activity from a person asks, passed to the request path (bot/requests/).

Thin: read the activity, call one request, return. Whatever is to be said goes through the
outbox (``tell``, ``say``), since a Teams bot answers a message by posting to the chat, not in
its HTTP reply; the delivery loop sends it through the Teams front end. The exception is a
dialog's invoke (``task/fetch``, ``task/submit``), which Teams waits to be answered in the reply:
``on_activity`` returns that answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.messaging.message import Message, Part
from bot.requests import Requests
from bot.teams.activity import INSTALLED, TASK_FETCH, UNINSTALLED, Incoming
from bot.teams.cards import Payload, dialog, dialog_message
from bot.teams.commands import (
    CLOSE,
    HELP,
    HISTORY,
    LIST,
    REPORT,
    START,
    Command,
    command,
    typed_text,
)
from bot.teams.text import plain_renderer
from storage import teams as references
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)

VIA = "teams"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SUMMARY_CONTROLS = {"acknowledge", "call_promised", "show_answers"}
WRITING = {"add_note": "note", "record_decision": "decision"}
ANSWERING = {"answer", "ticked", "date"}


@dataclass(frozen=True)
class Listeners:
    """Everything a Teams activity may need: the request path, the database, a clock."""

    requests: Requests
    new_session: SessionFactory
    now: Callable[[], datetime]

    # ----------------------------------------------------------- every activity

    def on_activity(self, incoming: Incoming) -> Payload | None:
        """Act on one activity; for a dialog's invoke, the answer Teams shows."""
        answer = self._act(incoming)
        if incoming.invoke and answer is None:  # refused before it was read: said in the chat
            return dialog_message(plain_renderer().render("teams/dialog_refused.j2"))
        return answer

    def _act(self, incoming: Incoming) -> Payload | None:
        if incoming.kind == UNINSTALLED:
            with transaction(self.new_session) as session:
                references.forget(session=session, person_id=incoming.person)
            return None
        if incoming.personal:
            with transaction(self.new_session) as session:
                references.remember(session=session, reference=incoming.reference(), now=self.now())
        if incoming.kind == INSTALLED:
            if incoming.personal and self.requests.knows(person=incoming.person):
                self._tell(incoming, "teams/help")
            return None
        if not self.requests.knows(person=incoming.person):
            log.warning("teams: a message from someone the organisation file does not list")
            if incoming.personal:
                self._tell(incoming, "teams/not_listed")
            return None
        if not incoming.personal:
            log.info("teams: a message outside a personal chat (%s)", incoming.conversation_type)
            self._tell(incoming, "teams/personal_only")
            return None
        if incoming.invoke:
            return self.on_dialog(incoming)
        if isinstance(incoming.value, dict):
            self.on_submission(incoming, incoming.value)
            return None
        text = typed_text(incoming.text)
        if not text:
            log.info("teams: a message with no text or card data; ignored")
            return None
        said = command(text)
        if said is None:
            self.requests.receive_answer(
                practitioner_id=incoming.person,
                text=text,
                typed_at=incoming.typed_at,
                key=incoming.key,
            )
        else:
            self.on_command(incoming, said)
        return None

    def _tell(self, incoming: Incoming, template: str, **data: Any) -> None:
        self.requests.tell(template, key=incoming.key, recipient=incoming.person, **data)

    # ----------------------------------------------------------- typed commands

    def on_command(self, incoming: Incoming, said: Command) -> None:
        person = incoming.person
        if said.word == HELP:
            self._tell(incoming, "teams/help")
        elif said.word == LIST:
            self._tell(incoming, "teams/list", cases=self.requests.open_cases(person=person))
        elif said.word == REPORT:
            short = self.requests.last_month_report(person=person, via=VIA)
            if short is None:
                self._tell(incoming, "report/refused")
            else:
                self._tell(incoming, "report/short", short=short)
        elif said.word in {HISTORY, CLOSE} and not said.case_ref:
            self._tell(incoming, "teams/usage", word=said.word)
        elif said.word == HISTORY:
            self._history(incoming, said.case_ref)
        elif said.word == CLOSE:
            closed = self.requests.close(person=person, case_ref=said.case_ref)
            self._tell(incoming, closed.template, **closed.data)
        elif said.word == START:
            preview = self.requests.request_start(
                practitioner_id=person, case_ref=said.case_ref, key=incoming.key
            )
            if preview.refusal is not None:
                self.requests.record_reply(
                    key=incoming.key, recipient=person, reply=preview.refusal
                )

    def _history(self, incoming: Incoming, case_ref: str) -> None:
        history = self.requests.history(person=incoming.person, case_ref=case_ref, via=VIA)
        if not history.allowed:
            self._tell(incoming, "teams/history_refused", case_ref=history.case_ref)
            return
        header = {
            "case_ref": history.case_ref,
            "count": history.total,
            "shown": len(history.summaries),
        }
        summaries = tuple(
            Part("messages/summary", {"summary": summary, "audience": "record"}, apart=True)
            for summary in history.summaries
        )
        message = Message((Part("teams/history_header", header), *summaries))
        self.requests.record(key=incoming.key, recipient=incoming.person, message=message)

    # ----------------------------------------------------------- dialogs

    def on_dialog(self, incoming: Incoming) -> Payload | None:
        """A note or decision's dialog: asked for (shown only to someone who may write; anyone
        else is told why in the chat), or sent (kept once, or shown again with why it was
        refused above what was written, so nothing written is lost). None for data Reflect did not
        put there."""
        value = incoming.value if isinstance(incoming.value, dict) else {}
        action, reflection = value.get("reflect"), value.get("reflection")
        typed = value.get("text", "")
        if action not in WRITING or not isinstance(reflection, str) or not isinstance(typed, str):
            log.warning(
                "teams: ignored a dialog with missing or altered data (fields %s)",
                sorted(str(name)[:20] for name in value)[:10],
            )
            return None
        kind, person = WRITING[action], incoming.person
        if incoming.kind == TASK_FETCH:
            if not self.requests.may_write(
                kind=kind, person=person, value=reflection, key=incoming.key
            ):
                return None
            return dialog(action, reflection)
        written = self.requests.write(
            kind=kind, person=person, value=reflection, text=typed, key=incoming.key
        )
        if written.refusal is None:
            return dialog_message(plain_renderer().render("teams/dialog_saved.j2", kind=kind))
        refusal = plain_renderer().render(f"{written.refusal.template}.j2", **written.refusal.data)
        return dialog(action, reflection, text=typed, refusal=refusal)

    # ----------------------------------------------------------- card submissions

    def on_submission(self, incoming: Incoming, value: dict[str, Any]) -> None:
        """A card's Action.Submit (bot/teams/cards.py says what each carries). Data that is
        missing or not what Reflect put there is ignored, with one log line naming the fields
        (never their values)."""
        kind = value.get("reflect")
        person = incoming.person
        text = _answer_text(kind, value) if isinstance(value.get("stamp"), str) else None
        if text == "":
            self._tell(incoming, "teams/nothing_ticked")
            return
        if text is not None:
            self.requests.click(
                practitioner_id=person, stamp=value["stamp"], text=text, click_id=incoming.key
            )
            return
        if kind == "start" and isinstance(value.get("case"), str):
            self.requests.start_now(
                practitioner_id=person, case_ref=value["case"], key=incoming.key
            )
            return
        if kind in SUMMARY_CONTROLS and "reflection" in value:
            self.requests.control(
                action=kind,
                person=person,
                value=value["reflection"],
                key=incoming.key,
                shown_under=incoming.reply_to_id,
            )
            return
        if kind == "confirm_lead_contact" and "subject" in value:
            self.requests.control(
                action=kind, person=person, value=value["subject"], key=incoming.key
            )
            return
        if kind in WRITING and "reflection" in value and isinstance(value.get("text"), str):
            written = self.requests.write(
                kind=WRITING[kind],
                person=person,
                value=value["reflection"],
                text=value["text"],
                key=incoming.key,
            )
            if written.refusal is not None:
                refusal = written.refusal
                self._tell(incoming, refusal.template, **refusal.data)
            return
        log.warning(
            "teams: ignored a card submission with missing or altered data (fields %s)",
            sorted(str(name)[:20] for name in value)[:10],
        )


def _answer_text(kind: object, value: dict[str, Any]) -> str | None:
    """What typing would have sent for a question's control; "" for boxes left unticked;
    None when the data is not what the card put there."""
    if kind == "answer":
        text = value.get("text")
        return text if isinstance(text, str) and text.strip() else None
    if kind == "ticked":
        ticked = value.get("ticked", "")
        if not isinstance(ticked, str):
            return None
        numbers = [n.strip() for n in ticked.split(",") if n.strip()]
        if not all(n.isdigit() for n in numbers):
            return None
        return ", ".join(numbers)
    if kind != "date":
        return None
    picked = value.get("date")
    return picked if isinstance(picked, str) and _DATE.fullmatch(picked) else None
