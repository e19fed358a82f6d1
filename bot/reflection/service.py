"""The reflection service: one state machine shared by Slack, the terminal and the clock.

It keeps no conversation state in memory: every call loads the reflection, changes it and commits
before returning, so any process can take the next message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.protection.identifiers import IdentifierGuard
from bot.protection.screening import screen_typed
from bot.reflection import dates
from bot.reflection.messages import Completion, Guard, Position, Reply, ReplySink
from bot.reflection.questions import Question, QuestionSet, default_question_set
from bot.reflection.summary import (
    action_dict,
    answer_state,
    build_summary,
    display_answer,
)
from storage import cases as case_queries
from storage import organisation as org_queries
from storage import reflections as queries
from storage.db import SessionFactory, transaction
from storage.models import Action, Case, Reflection
from storage.reflections import StoredAnswer

CONFIRM = "__confirm__"
MAX_ANSWER_CHARS = 20_000
CASE_REF_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9/_.-]{1,39}$")
COMMAND_WORDS = {"skip", "back", "pause", "cancel"}
FINISH_WORDS = {"send", "done", "yes", "y", "ok", "finish", "confirm"}
PLAN_DONE_WORDS = {"done", "no", "n", "none", "no more", "that's all", "thats all", "finish"}
PLAN_MORE_WORDS = {"yes", "y", "another", "more", "add", "add another"}
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalise_case_ref(text: str) -> str:
    return text.strip().upper()


def case_ref_problem(ref: str) -> str | None:
    """Why a case reference is refused, as a template name, or None if it is fine."""
    if not CASE_REF_PATTERN.match(ref):
        return "case_ref_invalid"
    if not any(ch.isdigit() for ch in ref):
        # A reference with no number is most likely a name; names are not stored.
        return "case_ref_no_digits"
    if IdentifierGuard().screen(ref, options={}).withheld:
        # An NHS or National Insurance number is not a case reference (and is never stored).
        return "case_ref_identifier"
    return None


@dataclass(frozen=True)
class _Context:
    """Everything one call needs about a reflection, loaded once."""

    reflection: Reflection
    case: Case
    answers: dict[str, StoredAnswer]
    actions: list[Action]


@dataclass(frozen=True)
class StartPreview:
    case_ref: str
    refusal: Reply | None = None
    resumes: bool = False


class ReflectionService:
    def __init__(
        self,
        new_session: SessionFactory,
        *,
        questions: QuestionSet | None = None,
        guard: Guard | None = None,
        sink: ReplySink | None = None,
        timezone: str = "Europe/London",
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.new_session = new_session
        self.questions = questions or default_question_set()
        self.guard = guard or IdentifierGuard()
        self.sink = sink
        self.zone = ZoneInfo(timezone)
        self.now = now

    # ----------------------------------------------------------------- entry points

    def start(self, *, practitioner_id: str, case_ref: str) -> Reply:
        """Start a reflection on a case, or resume the one already open."""
        ref = normalise_case_ref(case_ref)
        reply = Reply()
        problem = case_ref_problem(ref)
        if problem:
            reply.say(problem, case_ref=case_ref.strip()[:60])
            return reply
        with transaction(self.new_session) as session:
            now = self.now()
            case = case_queries.get_case(session=session, ref=ref)
            if case is not None and case.closed_on is not None:
                reply.say("case_closed", case_ref=ref, closed_on=case.closed_on)
                return reply
            new_case = case is None
            if case is None:
                case = case_queries.create_case(
                    session=session,
                    ref=ref,
                    practitioner_id=practitioner_id,
                    opened_on=self.today(),
                    now=now,
                )
            current = queries.active_reflection(session=session, practitioner_id=practitioner_id)
            if current is not None and current.case_id != case.id:
                current.status = "paused"
                current.updated_at = now
                session.add(current)
                other = session.get(Case, current.case_id)
                reply.say("switched", from_case=other.ref if other else "")
            reflection = (
                None  # a case created just now has no reflection yet
                if new_case
                else queries.open_reflection_for_case(
                    session=session, case_id=case.id or 0, practitioner_id=practitioner_id
                )
            )
            if reflection is None:
                reflection = Reflection(
                    case_id=case.id or 0,
                    practitioner_id=practitioner_id,
                    status="in_progress",
                    question_set_version=self.questions.version,
                    started_at=now,
                    updated_at=now,
                )
                session.add(reflection)  # inserted by _finish, once it has its first question
                context = _Context(reflection, case, {}, [])
                reply.say(
                    "welcome",
                    case_ref=ref,
                    theme_total=len(self.questions.themes),
                    question_total=len(self.questions.main),
                )
                self._advance(session, context, reply)
            else:
                reflection.status = "in_progress"
                reflection.updated_at = now
                session.add(reflection)
                context = self._load(session, reflection, case)
                answered = sum(1 for a in context.answers.values() if a.question_id)
                reply.say("resumed", case_ref=ref, answered=answered)
                self._prompt(session, context, reply)
            self._finish(session, context, reply)
        return reply

    def preview_start(
        self, *, practitioner_id: str, case_ref: str, session: Session
    ) -> StartPreview:
        """What start() will do, read in the caller's ``session`` without changing anything: a
        refusal (a malformed reference, a closed case) to show at once, or whether an open
        reflection resumes."""
        ref = normalise_case_ref(case_ref)
        problem = case_ref_problem(ref)
        if problem:
            refusal = Reply()
            refusal.say(problem, case_ref=case_ref.strip()[:60])
            return StartPreview(ref, refusal=refusal)
        case = case_queries.get_case(session=session, ref=ref)
        if case is None:
            return StartPreview(ref)
        if case.closed_on is not None:
            refusal = Reply()
            refusal.say("case_closed", case_ref=ref, closed_on=case.closed_on)
            return StartPreview(ref, refusal=refusal)
        open_one = queries.open_reflection_for_case(
            session=session, case_id=case.id or 0, practitioner_id=practitioner_id
        )
        return StartPreview(ref, resumes=open_one is not None)

    def respond(
        self, *, practitioner_id: str, text: str, typed_under: Position | None = None
    ) -> Reply:
        """Handle whatever the practitioner typed: an answer, or skip / back / pause / cancel.

        ``typed_under`` is the question on the practitioner's screen when they typed, where the
        front end knows it. A message typed before the current question reached them is filed
        under the question it was typed under, never taken as the answer to one unseen.
        """
        reply = Reply()
        with transaction(self.new_session) as session:
            found = queries.active_reflection_and_case(
                session=session, practitioner_id=practitioner_id
            )
            if found is None:
                reply.say("no_active", has_paused=self._has_paused(session, practitioner_id))
                self._record(session, practitioner_id, reply)
                return reply
            context = self._load(session, *found)
            word = _command_word(text)
            if (
                typed_under is not None
                and typed_under != self._position(context)
                and word not in {"pause", "cancel"}
            ):
                self._late(session, context, typed_under, text, reply)
            elif word == "skip":
                self._skip(session, context, reply)
            elif word == "back":
                self._back(session, context, reply)
            elif word == "pause":
                self._pause(session, context, reply)
            elif word == "cancel":
                self._cancel(session, context, reply)
            else:
                self._answer(session, context, text, reply)
            self._finish(session, context, reply)
        return reply

    def command(self, *, practitioner_id: str, word: str) -> Reply:
        """A button press (skip, back, pause, cancel) arrives here as the same typed word."""
        if word not in COMMAND_WORDS:
            raise ValueError(f"unknown command {word!r}")
        return self.respond(practitioner_id=practitioner_id, text=word)

    def current_prompt(self, *, practitioner_id: str) -> Reply:
        """Ask the current question again (e.g. after the front end lost its place)."""
        reply = Reply()
        with self.new_session() as session:
            reflection = queries.active_reflection(session=session, practitioner_id=practitioner_id)
            if reflection is None:
                reply.say("no_active", has_paused=self._has_paused(session, practitioner_id))
                return reply
            context = self._load(session, reflection)
            self._prompt(session, context, reply)
            reply.reflection_id, reply.status = reflection.id, reflection.status
            reply.asks = self._position(context)
        return reply

    def history(self, *, case_ref: str) -> list[dict[str, Any]]:
        """The stored summaries of a case, newest first. Access is the caller's to check."""
        with self.new_session() as session:
            case = case_queries.get_case(session=session, ref=normalise_case_ref(case_ref))
            if case is None:
                return []
            return [
                r.summary
                for r in queries.completed_reflections_for_case(
                    session=session, case_id=case.id or 0
                )
                if r.summary
            ]

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    # ----------------------------------------------------------------- state machine

    def _load(self, session: Session, reflection: Reflection, case: Case | None = None) -> _Context:
        rid = reflection.id or 0
        return _Context(
            reflection=reflection,
            case=case or session.get(Case, reflection.case_id),  # type: ignore[arg-type]
            answers=queries.answers_of(session=session, reflection_id=rid),
            actions=queries.actions_of(session=session, reflection_id=rid),
        )

    def _path(self, context: _Context) -> list[Question]:
        # Only the answers the rules look at: the rest (free text) need not be decrypted.
        consulted = self.questions.consulted
        states = {
            qid: answer_state(self.questions.questions[qid], a)
            for qid, a in context.answers.items()
            if qid in consulted and qid in self.questions.questions
        }
        actions = [action_dict(a) for a in context.actions if a.status == "complete"]
        return self.questions.path(states, actions)

    def _current(self, context: _Context) -> Question | None:
        qid = context.reflection.current_question
        return self.questions.questions.get(qid) if qid else None

    def _advance(self, session: Session, context: _Context, reply: Reply) -> None:
        """Move to the first question not yet answered, or to the final confirmation."""
        reflection = context.reflection
        path = self._path(context)
        upcoming = next((q for q in path if q.id not in context.answers), None)
        if upcoming is None:
            reflection.current_question, reflection.current_step = CONFIRM, None
        else:
            reflection.current_question = upcoming.id
            reflection.current_step = "what" if upcoming.kind == "plan" else None
        session.add(reflection)
        self._prompt(session, context, reply)

    def _position(self, context: _Context) -> Position:
        reflection = context.reflection
        return Position(reflection.id or 0, reflection.current_question, reflection.current_step)

    def _late(
        self, session: Session, context: _Context, typed_under: Position, text: str, reply: Reply
    ) -> None:
        """A message typed while an earlier question was on screen. Added to the written answer
        it continues; anything else (a command, a choice, a plan step) is left alone, and the
        practitioner told, since it cannot be meant for a question they had not yet seen."""
        question = self.questions.questions.get(typed_under.question or "")
        answer = context.answers.get(question.id) if question else None
        cleaned = text.strip()
        continues_text = (
            question is not None
            and answer is not None
            and typed_under.reflection_id == context.reflection.id
            and question.kind == "text"
            and answer.status == "answered"
            and _command_word(text) is None
            and cleaned
        )
        if question is not None and answer is not None and continues_text:
            addition = self._screen(session, context, cleaned, reply)
            combined = f"{answer.value or ''}\n\n{addition}".strip()
            if len(combined) <= MAX_ANSWER_CHARS:
                self._store(session, context, question.id, "answered", combined)
                reply.say("added_to_answer", label=question.label)
                return
        reply.say(
            "moved_on",
            label=question.label if question is not None else None,
            command=_command_word(text),
        )

    def _prompt(self, session: Session, context: _Context, reply: Reply) -> None:
        reflection = context.reflection
        reply.prompted = True
        if reflection.current_question == CONFIRM:
            reply.say("confirm", **self._audience(session, context))
            return
        question = self._current(context)
        if question is None:  # the question set changed under a paused reflection
            reply.say("question_set_changed")
            return
        theme = self.questions.theme(question.theme)
        answer = context.answers.get(question.id)
        draft = _draft(context)
        data: dict[str, Any] = {
            "case_ref": context.case.ref,
            "question_id": question.id,
            "kind": question.kind,
            "theme_title": theme.title,
            "theme_number": theme.number,
            "theme_total": len(self.questions.themes),
            "text": question.text,
            "why": question.why,
            "follow_up": question.follow_up,
            "options": [
                {"number": n, "id": o.id, "label": o.label}
                for n, o in enumerate(question.options, start=1)
            ],
            "previous": display_answer(question, answer),
            "step": reflection.current_step,
            "action_number": (draft.position if draft else _complete_count(context) + 1),
            "actions_so_far": _complete_count(context),
            "draft": action_dict(draft) if draft else None,
            "today": self.today(),
        }
        reply.say("question", **data)

    def _audience(self, session: Session, context: _Context) -> dict[str, Any]:
        with_org = self._organisation(session, context.reflection.practitioner_id)
        return {
            "case_ref": context.case.ref,
            "supervisor_id": with_org["supervisor_id"],
            "lead_ids": with_org["lead_ids"] if with_org["leads_see_summaries"] else [],
            "in_organisation": with_org["in_organisation"],
        }

    def _organisation(self, session: Session, practitioner_id: str) -> dict[str, Any]:
        person = org_queries.get_person(session=session, slack_id=practitioner_id)
        if person is None:
            return {
                "in_organisation": False,
                "supervisor_id": None,
                "lead_ids": [],
                "leads_see_summaries": False,
                "agency_name": None,
                "agency_options": {},
            }
        agency = org_queries.get_agency(session=session, agency_id=person.agency_id)
        return {
            "in_organisation": True,
            "supervisor_id": person.supervisor_id,
            "lead_ids": org_queries.leads_of_agency(session=session, agency_id=person.agency_id),
            "leads_see_summaries": bool(agency and agency.options.get("leads_see_summaries")),
            "agency_name": agency.name if agency else None,
            "agency_options": dict(agency.options) if agency else {},
        }

    def _answer(self, session: Session, context: _Context, text: str, reply: Reply) -> None:
        reflection = context.reflection
        cleaned = text.strip()
        if reflection.current_question == CONFIRM:
            if cleaned.lower().rstrip("!.") in FINISH_WORDS:
                self._complete(session, context, reply)
            else:
                reply.say("confirm_not_understood")
            return
        question = self._current(context)
        if question is None:
            reply.say("question_set_changed")
            return
        if not cleaned:
            reply.say("empty_answer")
            return
        if len(cleaned) > MAX_ANSWER_CHARS:
            reply.say("too_long", length=len(cleaned), limit=MAX_ANSWER_CHARS)
            return
        if question.kind == "plan":
            self._plan_step(session, context, question, cleaned, reply)
            return
        if question.kind in {"choice", "multi"}:
            chosen = _parse_choices(question, cleaned)
            if chosen is None:
                reply.say(
                    "choice_not_understood",
                    kind=question.kind,
                    options=[
                        {"number": n, "label": o.label}
                        for n, o in enumerate(question.options, start=1)
                    ],
                )
                return
            value = ",".join(chosen)
        else:
            value = self._screen(session, context, cleaned, reply)
        self._store(session, context, question.id, "answered", value)
        self._advance(session, context, reply)

    def _screen(self, session: Session, context: _Context, text: str, reply: Reply) -> str:
        screened = screen_typed(
            session, author_id=context.reflection.practitioner_id, text=text, guard=self.guard
        )
        if screened.withheld:
            reply.say("identifiers_withheld", kinds=list(screened.withheld))
        if screened.warned:
            reply.say("identifiers_warned", kinds=list(screened.warned))
        return screened.text

    def _store(
        self, session: Session, context: _Context, question_id: str, status: str, value: str | None
    ) -> None:
        context.answers[question_id] = queries.save_answer(
            session=session,
            reflection_id=context.reflection.id or 0,
            question_id=question_id,
            status=status,
            value=value,
            now=self.now(),
        )

    def _skip(self, session: Session, context: _Context, reply: Reply) -> None:
        reflection = context.reflection
        if reflection.current_question == CONFIRM:
            self._complete(session, context, reply)
            return
        question = self._current(context)
        if question is None:
            reply.say("question_set_changed")
            return
        if question.kind == "plan":
            self._plan_skip(session, context, question, reply)
            return
        existing = context.answers.get(question.id)
        if existing is not None and existing.status == "answered":
            reply.say("kept_answer")
        else:
            self._store(session, context, question.id, "skipped", None)
            reply.say("skipped")
        self._advance(session, context, reply)

    def _back(self, session: Session, context: _Context, reply: Reply) -> None:
        reflection = context.reflection
        question = self._current(context)
        if question is not None and question.kind == "plan" and self._plan_back(context):
            session.add(reflection)
            self._prompt(session, context, reply)
            return
        path = self._path(context)
        ids = [q.id for q in path]
        position = len(ids) if reflection.current_question == CONFIRM else None
        if position is None and reflection.current_question in ids:
            position = ids.index(reflection.current_question)
        earlier = [q for q in path[: position or 0] if q.id in context.answers]
        if not earlier:
            reply.say("nothing_before")
            self._prompt(session, context, reply)
            return
        target = earlier[-1]
        reflection.current_question = target.id
        reflection.current_step = (
            ("more" if _complete_count(context) else "what") if target.kind == "plan" else None
        )
        session.add(reflection)
        reply.say("going_back")
        self._prompt(session, context, reply)

    def _pause(self, session: Session, context: _Context, reply: Reply) -> None:
        context.reflection.status = "paused"
        session.add(context.reflection)
        reply.say("paused", case_ref=context.case.ref)

    def _cancel(self, session: Session, context: _Context, reply: Reply) -> None:
        context.reflection.status = "cancelled"
        session.add(context.reflection)
        reply.say("cancelled", case_ref=context.case.ref)

    # ----------------------------------------------------------------- the plan

    def _plan_step(
        self, session: Session, context: _Context, question: Question, text: str, reply: Reply
    ) -> None:
        reflection = context.reflection
        step = reflection.current_step or "what"
        draft = _draft(context)
        lowered = text.lower().rstrip("!.")
        if step == "more" or (step == "what" and draft is None and lowered in PLAN_DONE_WORDS):
            if lowered in PLAN_MORE_WORDS:
                reflection.current_step = "what"
                session.add(reflection)
                self._prompt(session, context, reply)
            elif lowered in PLAN_DONE_WORDS:
                self._finish_plan(session, context, question, reply)
            else:
                reply.say("plan_more_not_understood")
            return
        if step == "due":
            reading = dates.parse_due_date(text, self.today())
            if isinstance(reading, dates.Ambiguous):
                reply.say("date_ambiguous", candidates=list(reading.candidates))
                return
            if isinstance(reading, dates.InThePast):
                reply.say("date_past", on=reading.on, today=self.today())
                return
            if isinstance(reading, dates.NotUnderstood):
                reply.say("date_not_understood")
                return
            assert draft is not None
            draft.due_on = reading.on
            reply.say("date_understood", on=reading.on)
        else:
            value = self._screen(session, context, text, reply)
            if step == "what":
                draft = draft or self._new_action(session, context)
                draft.what = value
            elif step == "owner":
                assert draft is not None
                draft.owner = value
                mention = MENTION.match(text)
                draft.owner_slack_id = mention.group(1) if mention else None
            elif step == "contingency":
                assert draft is not None
                draft.contingency = value
        self._next_plan_step(session, context, draft, reply)

    def _next_plan_step(
        self, session: Session, context: _Context, draft: Action | None, reply: Reply
    ) -> None:
        reflection = context.reflection
        order = ["what", "owner", "due", "contingency"]
        step = reflection.current_step or "what"
        if step == "contingency":
            if draft is not None:
                draft.status = "complete"
                session.add(draft)
            reflection.current_step = "more"
        else:
            reflection.current_step = order[order.index(step) + 1]
        if draft is not None:
            session.add(draft)
        session.add(reflection)
        session.flush()
        self._prompt(session, context, reply)

    def _new_action(self, session: Session, context: _Context) -> Action:
        action = Action(
            reflection_id=context.reflection.id or 0,
            position=len(context.actions) + 1,
            status="draft",
        )
        session.add(action)
        session.flush()
        context.actions.append(action)
        return action

    def _plan_skip(
        self, session: Session, context: _Context, question: Question, reply: Reply
    ) -> None:
        step = context.reflection.current_step or "what"
        draft = _draft(context)
        if step in {"what", "more"} and draft is None:
            self._finish_plan(session, context, question, reply)
            return
        self._next_plan_step(session, context, draft, reply)

    def _plan_back(self, context: _Context) -> bool:
        """Step back within the plan; False when the plan's first step is where we are."""
        reflection = context.reflection
        step = reflection.current_step or "what"
        order = ["what", "owner", "due", "contingency"]
        if step in order[1:]:
            reflection.current_step = order[order.index(step) - 1]
            return True
        if step == "more" and context.actions:
            last = [a for a in context.actions if a.status == "complete"][-1]
            last.status = "draft"
            reflection.current_step = "contingency"
            return True
        if step == "what" and _draft(context) is None and _complete_count(context):
            reflection.current_step = "more"
            return True
        return False

    def _finish_plan(
        self, session: Session, context: _Context, question: Question, reply: Reply
    ) -> None:
        count = _complete_count(context)
        status = "answered" if count else "skipped"
        self._store(session, context, question.id, status, str(count) if count else None)
        if not count:
            reply.say("skipped")
        self._advance(session, context, reply)

    # ----------------------------------------------------------------- completion

    def _complete(self, session: Session, context: _Context, reply: Reply) -> None:
        reflection = context.reflection
        org = self._organisation(session, reflection.practitioner_id)
        now = self.now()
        path = self._path(context)
        summary = build_summary(
            questions=self.questions,
            path=path,
            answers=context.answers,
            actions=context.actions,
            case_ref=context.case.ref,
            practitioner_id=reflection.practitioner_id,
            completed_at=now,
            supervisor_id=org["supervisor_id"],
            lead_ids=org["lead_ids"],
            agency_name=org["agency_name"],
        )
        reflection.status = "completed"
        reflection.completed_at = now
        reflection.current_question = None
        reflection.current_step = None
        reflection.summary = summary
        reflection.supervisor_id = org["supervisor_id"]
        session.add(reflection)
        reply.completion = Completion(
            reflection_id=reflection.id or 0,
            case_ref=context.case.ref,
            practitioner_id=reflection.practitioner_id,
            supervisor_id=org["supervisor_id"],
            lead_ids=tuple(org["lead_ids"]),
            leads_see_summaries=org["leads_see_summaries"],
            summary=summary,
        )
        reply.say("completed", **self._audience(session, context))
        reply.say("summary", summary=summary, audience="practitioner")
        reply.say(
            "lead_reminder",
            case_ref=context.case.ref,
            lead_ids=org["lead_ids"],
            in_organisation=org["in_organisation"],
            agency_name=org["agency_name"],
        )

    # ----------------------------------------------------------------- plumbing

    def _finish(self, session: Session, context: _Context, reply: Reply) -> None:
        context.reflection.updated_at = self.now()
        queries.save_progress(session=session, reflection=context.reflection)
        if context.reflection.id is None:  # a new reflection: its id names its prompts
            session.flush()
        reply.reflection_id = context.reflection.id
        reply.status = context.reflection.status
        if reply.prompted and reply.status == "in_progress":
            reply.asks = self._position(context)
        self._record(session, context.reflection.practitioner_id, reply)

    def _record(self, session: Session, practitioner_id: str, reply: Reply) -> None:
        if self.sink is not None:
            self.sink.record(session, practitioner_id, reply)

    def _has_paused(self, session: Session, practitioner_id: str) -> bool:
        return any(
            r.status == "paused"
            for r, _ in queries.open_reflections_of(
                session=session, practitioner_id=practitioner_id
            )
        )


def _command_word(text: str) -> str | None:
    word = text.strip().lower().rstrip("!.")
    return word if word in COMMAND_WORDS else None


def _draft(context: _Context) -> Action | None:
    return next((a for a in context.actions if a.status == "draft"), None)


def _complete_count(context: _Context) -> int:
    return sum(1 for a in context.actions if a.status == "complete")


def _parse_choices(question: Question, text: str) -> list[str] | None:
    """Read typed option numbers, ids, labels or aliases; None when any part is not understood."""
    whole = _match_option(question, text.strip().lower().rstrip("."))
    if whole is not None:
        return [whole]
    if question.kind == "choice":
        return None
    parts = re.split(r"\s*(?:,|;|\band\b|&)\s*", text)
    chosen: list[str] = []
    for part in (p.strip().lower().rstrip(".") for p in parts):
        if not part:
            continue
        option = _match_option(question, part)
        if option is None:
            return None
        if option not in chosen:
            chosen.append(option)
    if not chosen:
        return None
    if question.kind == "multi" and len(chosen) > 1:
        # "None that I know of" cannot stand beside a real choice.
        chosen = [c for c in chosen if not c.startswith("none")] or chosen
    return chosen


def _match_option(question: Question, part: str) -> str | None:
    if part.isdecimal():  # not isdigit: "²" is a digit that int() refuses
        index = int(part) - 1
        return question.options[index].id if 0 <= index < len(question.options) else None
    for option in question.options:
        if part in {option.id.lower(), option.label.lower(), *option.aliases}:
            return option.id
    starts = [o.id for o in question.options if o.label.lower().startswith(part) and len(part) >= 2]
    return starts[0] if len(starts) == 1 else None
