"""The reflection service: one state machine shared by every front end, through the request
path (bot/requests/).

It keeps no conversation state in memory: every call loads the reflection and changes it in the
caller's session (the request's one transaction), so any process can take the next message. What
it says comes back as a ``Reply``; the caller records it in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import access
from bot.protection.identifiers import IdentifierGuard
from bot.protection.invisible import as_typed
from bot.protection.screening import screen_typed
from bot.reflection import dates, plan_line
from bot.reflection.case_refs import case_ref_problem, normalise_case_ref
from bot.reflection.completion import complete
from bot.reflection.context import (
    Context,
    complete_count,
    draft_action,
    first_step,
    new_action,
    review_statuses,
)
from bot.reflection.length import estimated_minutes
from bot.reflection.messages import Alert, Guard, Position, Reply
from bot.reflection.questions import (
    ESCALATION,
    AnswerState,
    Facts,
    Question,
    QuestionSet,
    default_question_set,
    is_vague_contingency,
)
from bot.reflection.reading import (
    COMMAND_WORDS,
    FINISH_WORDS,
    PLAN_DONE_WORDS,
    PLAN_MORE_WORDS,
    STILL_RIGHT_WORDS,
    command_word,
    match_option,
    numbered,
    parse_choices,
    parse_scale,
)
from bot.reflection.summary import (
    action_dict,
    answer_state,
    display_answer,
    is_none_answer,
)
from bot.working_hours import WorkingHours
from storage import cases as case_queries
from storage import organisation as org_queries
from storage import reflections as queries
from storage.models import Action, Case, Reflection
from storage.reflections import StoredAnswer
from storage.statuses import (
    ActionStatus,
    AnswerStatus,
    LeadStatus,
    ReflectionStatus,
)

CONFIRM = "__confirm__"
MAX_ANSWER_CHARS = 20_000
PLAN_STEPS = ("what", "owner", "due", "meanwhile", "contingency")  # "owner": paused before 2026.12
# Question kinds answered with option ids, never with words.
CHOSEN = frozenset({"choice", "multi", "review"})
# The plan's own words, filled into a question that holds the plan against the flags.
PLAN_WORDS = ("{plan_action}", "{plan_due}", "{household_action}", "{warned_contingency}")


def utcnow() -> datetime:
    return datetime.now(UTC)


KEPT_FOR_THE_STEP = "reflect.kept_for_the_step"


@dataclass(frozen=True)
class StartPreview:
    case_ref: str
    refusal: Reply | None = None
    resumes: bool = False


class ReflectionService:
    def __init__(
        self,
        *,
        questions: QuestionSet | None = None,
        guard: Guard | None = None,
        timezone: str = "Europe/London",
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.questions = questions or default_question_set()
        self.guard = guard or IdentifierGuard()
        self.zone = ZoneInfo(timezone)
        self.now = now

    # ----------------------------------------------------------------- entry points

    def start(self, session: Session, *, practitioner_id: str, case_ref: str) -> Reply:
        """Start a reflection on a case, or resume the one already open."""
        ref = normalise_case_ref(case_ref)
        reply = Reply()
        problem = case_ref_problem(ref)
        if problem:
            reply.say(problem, case_ref=case_ref.strip()[:60])
            return reply
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
            current.status = ReflectionStatus.PAUSED
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
            org = self._organisation(session, practitioner_id)
            repeat = not new_case and queries.has_completed_reflection(
                session=session, case_id=case.id or 0
            )
            reflection = Reflection(
                case_id=case.id or 0,
                practitioner_id=practitioner_id,
                status=ReflectionStatus.IN_PROGRESS,
                question_set_version=self.questions.version,
                question_set=self.questions.role(org["role"]).id,
                is_repeat=repeat,
                lead_status=(
                    LeadStatus.IS_LEAD
                    if org["is_lead"] or self.questions.role(org["role"]).lead
                    else None
                ),
                started_at=now,
                updated_at=now,
            )
            session.add(reflection)  # inserted by _finish, once it has its first question
            context = self._with_earlier(session, Context(reflection, case, {}, []))
            facts = self._facts(context)
            asked = self.questions.main_for(facts)
            reply.say(
                "welcome",
                case_ref=ref,
                repeat=repeat,
                last_on=context.earlier.last_completed_at if context.earlier else None,
                role_title=self.questions.role(reflection.question_set).title,
                theme_total=len({q.theme for q in asked}),
                question_total=len(asked),
                minutes=estimated_minutes(asked, repeat=repeat),
            )
            self._advance(session, context, reply)
        else:
            reflection.status = ReflectionStatus.IN_PROGRESS
            reflection.updated_at = now
            session.add(reflection)
            context = self._load(session, reflection, case)
            answered = sum(1 for a in context.answers.values() if a.question_id)
            reply.say("resumed", case_ref=ref, answered=answered)
            self._prompt(session, context, reply)
        self._finish(session, context, reply)
        return reply

    def preview_start(
        self, session: Session, *, practitioner_id: str, case_ref: str
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
        self,
        session: Session,
        *,
        practitioner_id: str,
        text: str,
        typed_under: Position | None = None,
        person: str | None = None,
    ) -> Reply:
        """Handle whatever the practitioner typed: an answer, or skip / back / pause / cancel.

        ``typed_under`` is the question on the practitioner's screen when they typed, where the
        front end knows it. A message typed before the current question reached them is filed
        under the question it was typed under, never taken as the answer to one unseen.

        ``person`` is the person's ID when the text is nothing but a person, or a plan line whose
        owner is that person, as the front end writes one (bot/identity.py): an action's owner,
        named rather than described.

        ``text`` is kept without bidirectional controls, and text with nothing visible in it is
        an empty answer (bot/protection/invisible.py).
        """
        reply = Reply()
        text = as_typed(text)
        step = queries.active_step(session=session, practitioner_id=practitioner_id)
        if step is None:
            reply.say("no_active", has_paused=self._has_paused(session, practitioner_id))
            return reply
        context = self._with_earlier(
            session,
            Context(
                reflection=step.reflection,
                case=step.case,
                answers=step.answers,
                actions=queries.actions_of(session=session, reflection_id=step.reflection.id or 0),
                completed_before=step.completed_before,
            ),
        )
        word = command_word(text)
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
            self._answer(session, context, text, reply, person)
        self._finish(session, context, reply)
        return reply

    def command(self, session: Session, *, practitioner_id: str, word: str) -> Reply:
        """A button press (skip, back, pause, cancel) arrives here as the same typed word."""
        if word not in COMMAND_WORDS:
            raise ValueError(f"unknown command {word!r}")
        return self.respond(session, practitioner_id=practitioner_id, text=word)

    def current_prompt(self, session: Session, *, practitioner_id: str) -> Reply:
        """Ask the current question again (e.g. after the front end lost its place)."""
        reply = Reply()
        reflection = queries.active_reflection(session=session, practitioner_id=practitioner_id)
        if reflection is None:
            reply.say("no_active", has_paused=self._has_paused(session, practitioner_id))
            return reply
        context = self._load(session, reflection)
        self._prompt(session, context, reply)
        reply.reflection_id, reply.status = reflection.id, reflection.status
        reply.asks = self._position(context)
        return reply

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    # ----------------------------------------------------------------- state machine

    def _load(self, session: Session, reflection: Reflection, case: Case | None = None) -> Context:
        rid = reflection.id or 0
        context = Context(
            reflection=reflection,
            case=case or session.get(Case, reflection.case_id),  # type: ignore[arg-type]
            answers=queries.answers_of(session=session, reflection_id=rid),
            actions=queries.actions_of(session=session, reflection_id=rid),
        )
        return self._with_earlier(session, context)

    def _with_earlier(self, session: Session, context: Context) -> Context:
        """A repeat reflection also reads the case's last completed one: its answers and plan."""
        if not context.reflection.is_repeat:
            return context
        earlier = queries.earlier_of_case(session=session, case_id=context.case.id or 0)
        if earlier.last_id is None:
            return context
        return Context(
            reflection=context.reflection,
            case=context.case,
            answers=context.answers,
            actions=context.actions,
            completed_before=context.completed_before,
            earlier=earlier,
            earlier_answers=queries.answers_of(session=session, reflection_id=earlier.last_id),
            earlier_actions=[
                a
                for a in queries.actions_of(session=session, reflection_id=earlier.last_id)
                if a.status == ActionStatus.COMPLETE
            ],
        )

    def _states(self, answers: dict[str, StoredAnswer]) -> dict[str, AnswerState]:
        return self.questions.with_said(
            {
                qid: answer_state(self.questions.questions[qid], a)
                for qid, a in answers.items()
                if qid in self.questions.questions
            }
        )

    def _facts(self, context: Context) -> Facts:
        reflection = context.reflection
        earlier = context.earlier
        facts = Facts(
            answers=self._states(context.answers),
            actions=[action_dict(a) for a in context.actions if a.status == ActionStatus.COMPLETE],
            role=reflection.question_set or "",
            is_lead=reflection.lead_status == "is_lead",
            repeat=bool(reflection.is_repeat and earlier),
            earlier_actions=len(context.earlier_actions),
            case_open_days=max((self.today() - context.case.opened_on).days, 0),
            earlier_count=earlier.count if earlier else 0,
            earlier=self._states(context.earlier_answers),
            scales=earlier.scales if earlier else (),
            today=self.today().isoformat(),
        )
        return self.questions.holding_plan(facts)

    def _path(self, context: Context) -> list[Question]:
        return self.questions.path(self._facts(context))

    def _current(self, context: Context) -> Question | None:
        qid = context.reflection.current_question
        return self.questions.questions.get(qid) if qid else None

    def _advance(self, session: Session, context: Context, reply: Reply) -> None:
        """Move to the first question not yet answered, or to the final confirmation."""
        reflection = context.reflection
        path = self._path(context)
        upcoming = next((q for q in path if q.id not in context.answers), None)
        if upcoming is None:
            reflection.current_question, reflection.current_step = CONFIRM, None
        else:
            reflection.current_question = upcoming.id
            reflection.current_step = first_step(upcoming)
        session.add(reflection)
        self._prompt(session, context, reply, path=path)

    def _position(self, context: Context) -> Position:
        reflection = context.reflection
        return Position(reflection.id or 0, reflection.current_question, reflection.current_step)

    def _late(
        self, session: Session, context: Context, typed_under: Position, text: str, reply: Reply
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
            and answer.status == AnswerStatus.ANSWERED
            and command_word(text) is None
            and cleaned
        )
        if question is not None and answer is not None and continues_text:
            addition = self._screen(session, context, cleaned, reply)
            combined = f"{answer.value or ''}\n\n{addition}".strip()
            if len(combined) <= MAX_ANSWER_CHARS:
                self._store(session, context, question.id, AnswerStatus.ANSWERED, combined)
                reply.say("added_to_answer", label=question.label)
                return
        reply.say(
            "moved_on",
            label=question.label if question is not None else None,
            command=command_word(text),
        )

    def _prompt(
        self,
        session: Session,
        context: Context,
        reply: Reply,
        *,
        path: list[Question] | None = None,
    ) -> None:
        reflection = context.reflection
        reply.prompted = True
        if reflection.current_question == CONFIRM:
            reply.say("confirm", **self._audience(session, context))
            return
        question = self._current(context)
        if question is None:  # the question set changed under a paused reflection
            reply.say("question_set_changed")
            return
        path = path if path is not None else self._path(context)
        # Themes numbered in the order this reflection reaches them (a repeat starts with the
        # last plan, from the history theme), counting main questions only: follow-ups and
        # confirming questions come under whatever was asked just before them, so the numbers
        # only ever go up.
        mains = [q for q in path if not q.follow_up]
        order = list(dict.fromkeys(q.theme for q in mains))
        theme = self.questions.theme(question.theme)
        answer = context.answers.get(question.id)
        draft = draft_action(context)
        first_of_theme = next((q for q in mains if q.theme == question.theme), None)
        new_theme = first_of_theme is not None and first_of_theme.id == question.id
        data: dict[str, Any] = {
            "case_ref": context.case.ref,
            "question_id": question.id,
            "kind": question.kind,
            "theme_title": theme.title,
            "theme_number": order.index(theme.id) + 1 if theme.id in order else None,
            "theme_total": len(order),
            "new_theme": new_theme,
            "text": self._question_text(context, question),
            "carried": self._carried_shown(context) if question.keeps_carried else [],
            "follow_up": question.follow_up,
            "options": [
                {"number": n, "id": o.id, "label": o.label}
                for n, o in enumerate(question.options, start=1)
            ],
            "previous": display_answer(question, answer),
            "last_time": self._last_time(context, question),
            "step": reflection.current_step,
            "action_number": (draft.position if draft else complete_count(context) + 1),
            "actions_so_far": complete_count(context),
            "draft": action_dict(draft) if draft else None,
            "today": self.today(),
        }
        if question.kind == "review":
            index = int(reflection.current_step or 0)
            earlier = context.earlier_actions[index]
            data["review"] = {
                "number": index + 1,
                "total": len(context.earlier_actions),
                "action": action_dict(earlier),
                "on": context.earlier.last_completed_at if context.earlier else None,
            }
        reply.say("question", **data)

    def _question_text(self, context: Context, question: Question) -> str:
        text = question.text_for.get(context.reflection.question_set or "", question.text)
        if "{" not in text:
            return text
        if "{quote}" in text:
            quote = self.questions.quote(self._states(context.answers), question.id) or ""
            text = text.replace("{quote}", quote)
        if not any(word in text for word in PLAN_WORDS):
            # Only a question holding the plan against the flags needs them: working them out
            # reads every written answer (a case with a baby is heard in any of them).
            return text
        return self._plan_words(context, text)

    def _plan_words(self, context: Context, text: str) -> str:
        """The plan's own words, for a question that holds the plan against the flags."""
        facts = self._facts(context)
        actions = [a for a in context.actions if a.status == ActionStatus.COMPLETE]
        first = next(
            (a for a in actions if self.questions.is_urgent_action(a.what or "")),
            actions[0] if actions else None,
        )
        household = self.questions.household_first(facts)
        warned = next(
            (a.contingency for a in actions if self.questions.warned(facts, a.contingency or "")),
            None,
        )
        due = f" by {first.due_on.strftime('%A %-d %B')}" if first and first.due_on else ""
        words = {
            "{plan_action}": (first.what or "") if first else "",
            "{plan_due}": due,
            "{household_action}": (household or {}).get("what") or "",
            "{warned_contingency}": warned or "",
        }
        for placeholder, value in words.items():
            text = text.replace(placeholder, value)
        return text

    def _last_time(self, context: Context, question: Question) -> str | None:
        """On a repeat reflection, the last reflection's answer to a question carried over."""
        if not (context.earlier and (question.carry or question.kind == "scale")):
            return None
        return display_answer(question, context.earlier_answers.get(question.id))

    def _audience(self, session: Session, context: Context) -> dict[str, Any]:
        with_org = self._organisation(session, context.reflection.practitioner_id)
        return {
            "case_ref": context.case.ref,
            "supervisor_id": with_org["supervisor_id"],
            "lead_ids": with_org["lead_ids"] if with_org["leads_see_summaries"] else [],
            "in_organisation": with_org["in_organisation"],
        }

    def _organisation(self, session: Session, practitioner_id: str) -> dict[str, Any]:
        person = org_queries.get_person(session=session, person_id=practitioner_id)
        if person is None:
            return {
                "in_organisation": False,
                "supervisor_id": None,
                "lead_ids": [],
                "leads_see_summaries": False,
                "agency_name": None,
                "agency_options": {},
                "role": None,
                "is_lead": False,
            }
        agency = org_queries.get_agency(session=session, agency_id=person.agency_id)
        options = dict(agency.options) if agency else {}
        lead_ids = org_queries.leads_of_agency(session=session, agency_id=person.agency_id)
        return {
            "in_organisation": True,
            "supervisor_id": person.supervisor_id,
            "lead_ids": lead_ids,
            "leads_see_summaries": access.leads_see_summaries(options),
            "agency_name": agency.name if agency else None,
            "agency_options": options,
            "role": person.profession or options.get("question_set"),
            "is_lead": person.person_id in lead_ids,
        }

    def _answer(
        self,
        session: Session,
        context: Context,
        text: str,
        reply: Reply,
        person: str | None,
    ) -> None:
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
            self._plan_step(session, context, question, cleaned, reply, person)
            return
        if question.kind == "review":
            self._review_step(session, context, question, cleaned, reply)
            return
        kept = self._still_right(context, question, cleaned)
        if kept is not None:
            value: str | None = kept
        elif question.kind == "scale":
            value = parse_scale(cleaned)
            if value is None:
                reply.say("scale_not_understood")
                return
        elif question.kind == "date":
            reading = self._read_date(cleaned, reply)
            if reading is None:
                return
            value = reading.isoformat()
        elif question.kind in {"choice", "multi"}:
            chosen = parse_choices(question, cleaned)
            if chosen is None and question.hears_words and len(cleaned.split()) > 1:
                # Their own words: kept as written, heard for the options they choose.
                chosen = [self._screen(session, context, cleaned, reply)]
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
        elif question.options and cleaned.isdecimal():
            # A written question's quick answers: its number stands for its words.
            quick = match_option(question, cleaned)
            if quick is None:
                reply.say("choice_not_understood", kind="choice", options=numbered(question))
                return
            value = question.option(quick).label
        else:
            value = self._screen(session, context, cleaned, reply)
        self._store(session, context, question.id, AnswerStatus.ANSWERED, value)
        if question.keeps_carried:
            self._keep_carried(session, context, value)
        self._warn_if_immediate(session, context, question.id, reply)
        if question.alerts_supervisor:
            self._alert_supervisor(session, context, question, reply)
        if question.becomes_action and value and not is_none_answer(value):
            self._add_first_action(session, context, value)
        if question.sets_contingency and value:
            self._set_contingency(context, question.sets_contingency, value)
        if question.pause_on is not None and value == question.pause_on:
            self._stop_for_now(session, context, reply)
            return
        self._advance(session, context, reply)

    def _alert_supervisor(
        self, session: Session, context: Context, question: Question, reply: Reply
    ) -> None:
        """Tell the supervisor now what the practitioner said needs action today: the answers
        given so far under the alerting question's theme."""
        org = self._organisation(session, context.reflection.practitioner_id)
        said = [
            {"question": q.label, "answer": shown}
            for q in self._path(context)
            if q.theme == question.theme
            and (shown := display_answer(q, context.answers.get(q.id))) is not None
        ]
        supervisor = org["supervisor_id"]
        if supervisor:
            reply.alerts.append(
                Alert(
                    reflection_id=context.reflection.id or 0,
                    case_ref=context.case.ref,
                    practitioner_id=context.reflection.practitioner_id,
                    supervisor_id=supervisor,
                    template="today_alert",
                    data={
                        "case_ref": context.case.ref,
                        "practitioner_id": context.reflection.practitioner_id,
                        "said": said,
                    },
                )
            )
        reply.say("today_alerted", supervisor_id=supervisor)

    def _add_first_action(self, session: Session, context: Context, value: str) -> None:
        """What the practitioner will do today, put first in the plan, theirs, due today."""
        action = new_action(session, context)
        self._read_action_line(context, action, value, None)
        action.due_on = action.due_on or self.today()
        action.position = min(a.position for a in context.actions) - 1
        action.status = ActionStatus.COMPLETE
        context.actions.sort(key=lambda a: a.position)
        session.add(action)

    def _set_contingency(self, context: Context, which: str, value: str) -> None:
        """One contingency for every action lacking a real one, or in place of one that falls
        back on what a flag warns against."""
        facts = self._facts(context)
        for action in context.actions:
            if action.status != "complete":
                continue
            current = action.contingency or ""
            if which == "missing":
                lacking = not current or is_vague_contingency(
                    current, action.what or "", self.questions.settings
                )
                if lacking and not (action.due_on and action.due_on <= self.today()):
                    action.contingency = value
            elif self.questions.warned(facts, current):
                action.contingency = value

    def _stop_for_now(self, session: Session, context: Context, reply: Reply) -> None:
        """Stop after the short record for today; the rest waits, resumed where it stopped."""
        reflection = context.reflection
        upcoming = next((q for q in self._path(context) if q.id not in context.answers), None)
        reflection.current_question = upcoming.id if upcoming else CONFIRM
        reflection.current_step = first_step(upcoming) if upcoming else None
        reflection.status = ReflectionStatus.PAUSED
        session.add(reflection)
        reply.say("today_paused", case_ref=context.case.ref)

    def _carried(self, context: Context) -> list[tuple[Question, StoredAnswer]]:
        """On a repeat reflection, the questions this one would ask that carry last time's
        answer, with that answer."""
        carried = []
        for question in self._path(context):
            earlier = context.earlier_answers.get(question.id)
            if question.carry and earlier is not None and earlier.status == AnswerStatus.ANSWERED:
                carried.append((question, earlier))
        return carried

    def _carried_shown(self, context: Context) -> list[dict[str, str | None]]:
        return [
            {"label": question.label, "answer": display_answer(question, earlier)}
            for question, earlier in self._carried(context)
        ]

    def _keep_carried(self, session: Session, context: Context, changed: str | None) -> None:
        """Last time's answers kept, in one step, for every carried question not named as
        changed; those named are asked again, each with its last answer."""
        named = set((changed or "").split(","))
        for question, earlier in self._carried(context):
            if question.id not in named and question.id not in context.answers:
                self._store(session, context, question.id, AnswerStatus.ANSWERED, earlier.value)

    def _still_right(self, context: Context, question: Question, text: str) -> str | None:
        """On a repeat reflection, "yes" or "same" to a carried question keeps the last answer."""
        if not (question.carry and context.earlier):
            return None
        earlier = context.earlier_answers.get(question.id)
        if earlier is None or earlier.status != AnswerStatus.ANSWERED:
            return None
        if text.lower().rstrip("!.") not in STILL_RIGHT_WORDS:
            return None
        return earlier.value

    def _read_date(self, text: str, reply: Reply, *, confirm: bool = True) -> date | None:
        reading = dates.parse_due_date(text, self.today())
        if isinstance(reading, dates.Ambiguous):
            reply.say("date_ambiguous", candidates=list(reading.candidates))
            return None
        if isinstance(reading, dates.InThePast):
            reply.say("date_past", on=reading.on, today=self.today())
            return None
        if isinstance(reading, dates.NotUnderstood):
            reply.say("date_not_understood")
            return None
        if confirm:
            reply.say("date_understood", on=reading.on)
        return reading.on

    def _warn_if_immediate(
        self, session: Session, context: Context, answered: str, reply: Reply
    ) -> None:
        """An answer that describes immediate risk is shown at once: this is for today."""
        facts = self._facts(context)
        fired = self.questions.immediate(facts, answered)
        if not fired:
            return
        before = replace(facts, answers={k: v for k, v in facts.answers.items() if k != answered})
        shown_before = any(
            self.questions.is_immediate(f.rule) for f in self.questions.fired(before)
        )
        options = self._organisation(session, context.reflection.practitioner_id)["agency_options"]
        reply.say(
            "immediate_again" if shown_before else "immediate_risk",
            case_ref=context.case.ref,
            concerns=[f.as_dict() for f in fired],
            procedure_url=options.get("procedure_url"),
            front_door=options.get("front_door"),
        )

    def _review_step(
        self, session: Session, context: Context, question: Question, text: str, reply: Reply
    ) -> None:
        """What happened to one action of the last plan; the statuses are stored in order."""
        reflection = context.reflection
        index = int(reflection.current_step or 0)
        chosen = parse_choices(question, text)
        if chosen is None or len(chosen) != 1:
            reply.say(
                "choice_not_understood",
                kind="choice",
                options=[
                    {"number": n, "label": o.label} for n, o in enumerate(question.options, 1)
                ],
            )
            return
        statuses = review_statuses(context, question)
        statuses[index] = chosen[0]
        self._store_review(session, context, question, statuses)
        if index + 1 < len(context.earlier_actions):
            reflection.current_step = str(index + 1)
            session.add(reflection)
            self._prompt(session, context, reply)
            return
        self._advance(session, context, reply)

    def _store_review(
        self, session: Session, context: Context, question: Question, statuses: list[str]
    ) -> None:
        value = ",".join(status or "skipped" for status in statuses)
        answered = any(status for status in statuses)
        self._store(
            session,
            context,
            question.id,
            AnswerStatus.ANSWERED if answered else AnswerStatus.SKIPPED,
            value,
        )

    def _screen(self, session: Session, context: Context, text: str, reply: Reply) -> str:
        screened = screen_typed(
            session, author_id=context.reflection.practitioner_id, text=text, guard=self.guard
        )
        if screened.withheld:
            reply.say("identifiers_withheld", kinds=list(screened.withheld))
        if screened.warned:
            reply.say("identifiers_warned", kinds=list(screened.warned))
        return screened.text

    def _store(
        self,
        session: Session,
        context: Context,
        question_id: str,
        status: AnswerStatus,
        value: str | None,
    ) -> None:
        question = self.questions.questions.get(question_id)
        written = (
            status == "answered"
            and question is not None
            and (question.kind not in CHOSEN or not question.is_chosen(value))
        )
        context.answers[question_id] = queries.save_answer(
            session=session,
            reflection_id=context.reflection.id or 0,
            question_id=question_id,
            status=status,
            value=value,
            now=self.now(),
            mentions=(
                self.questions.mentions_in(question_id, value)
                if written and not (question is not None and question.says_none(value))
                else ()
            ),
        )

    def _skip(self, session: Session, context: Context, reply: Reply) -> None:
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
        if question.kind == "review":
            index = int(context.reflection.current_step or 0)
            self._store_review(session, context, question, review_statuses(context, question))
            if index + 1 < len(context.earlier_actions):
                context.reflection.current_step = str(index + 1)
                session.add(context.reflection)
                self._prompt(session, context, reply)
                return
            self._advance(session, context, reply)
            return
        existing = context.answers.get(question.id)
        if existing is not None and existing.status == AnswerStatus.ANSWERED:
            reply.say("kept_answer")
        else:
            self._store(session, context, question.id, AnswerStatus.SKIPPED, None)
            first = next(
                (q for q in self._path(context) if q.theme == question.theme and not q.follow_up),
                None,
            )
            why = self.questions.theme(question.theme).why if first is question else None
            reply.say("skipped", why=why)
        self._advance(session, context, reply)

    def _back(self, session: Session, context: Context, reply: Reply) -> None:
        reflection = context.reflection
        question = self._current(context)
        if question is not None and question.kind == "plan" and self._plan_back(context):
            session.add(reflection)
            self._prompt(session, context, reply)
            return
        if question is not None and question.kind == "review" and int(reflection.current_step or 0):
            reflection.current_step = str(int(reflection.current_step or 0) - 1)
            session.add(reflection)
            reply.say("going_back")
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
        if target.kind == "plan":
            reflection.current_step = "what"
        elif target.kind == "review":
            reflection.current_step = str(max(len(context.earlier_actions) - 1, 0))
        else:
            reflection.current_step = None
        session.add(reflection)
        reply.say("going_back")
        self._prompt(session, context, reply)

    def _pause(self, session: Session, context: Context, reply: Reply) -> None:
        context.reflection.status = ReflectionStatus.PAUSED
        session.add(context.reflection)
        reply.say("paused", case_ref=context.case.ref)

    def _cancel(self, session: Session, context: Context, reply: Reply) -> None:
        context.reflection.status = ReflectionStatus.CANCELLED
        session.add(context.reflection)
        reply.say("cancelled", case_ref=context.case.ref)

    # ----------------------------------------------------------------- the plan

    def _plan_step(
        self,
        session: Session,
        context: Context,
        question: Question,
        text: str,
        reply: Reply,
        person: str | None,
    ) -> None:
        """One line of the plan: an action with its owner and date read from it ("ring CSC
        today - me"), then only what it lacks: a date, what happens until then, and its own
        contingency when it is urgent or an escalation."""
        reflection = context.reflection
        step = reflection.current_step or "what"
        draft = draft_action(context)
        lowered = text.lower().rstrip("!.")
        if step == "more":  # a reflection paused mid-plan when the plan asked "another?"
            if lowered in PLAN_MORE_WORDS:
                reflection.current_step = "what"
                session.add(reflection)
                self._prompt(session, context, reply)
            elif lowered in PLAN_DONE_WORDS:
                self._finish_plan(session, context, question, reply)
            else:
                reply.say("plan_more_not_understood")
            return
        if step == "what" and draft is None:
            if lowered in PLAN_DONE_WORDS:
                self._finish_plan(session, context, question, reply)
                return
            if complete_count(context) and lowered in PLAN_MORE_WORDS:
                self._prompt(session, context, reply)
                return
        if step == "due":
            on = self._read_date(text, reply, confirm=False)  # the action is noted with it
            if on is None:
                return
            assert draft is not None
            draft.due_on = on
        else:
            value = self._screen(session, context, text, reply)
            if step == "what":
                draft = draft or new_action(session, context)
                self._read_action_line(context, draft, value, person)
            elif step == "owner":
                assert draft is not None
                draft.owner = value
                draft.owner_person_id = person
            elif step == "meanwhile":
                assert draft is not None
                draft.meanwhile = value
            elif step == "contingency":
                assert draft is not None
                draft.contingency = value
        self._next_plan_step(session, context, draft, reply)

    def _read_action_line(
        self, context: Context, draft: Action, value: str, person: str | None
    ) -> None:
        line = plan_line.read_action(value, self.today())
        draft.what = line.what
        draft.kind = self.questions.action_kind(line.what)
        if person is not None and line.owner not in (None, plan_line.ME):
            draft.owner, draft.owner_person_id = line.owner, person  # "... - <@U…>"
        elif person is not None:
            draft.owner, draft.owner_person_id = value, person
        elif line.owner is None or line.owner == plan_line.ME:
            draft.owner, draft.owner_person_id = "me", context.reflection.practitioner_id
        else:
            draft.owner, draft.owner_person_id = line.owner, None
        draft.due_on = line.due.on if isinstance(line.due, dates.DueDate) else None
        draft.meanwhile = None

    def _needs_meanwhile(self, context: Context, draft: Action | None) -> bool:
        """A safety or escalation action (or any, once something matters today) dated beyond
        the next working day: what happens to the child until then?"""
        if draft is None or draft.due_on is None:
            return False
        hours = WorkingHours(self.zone)
        next_working_day = hours.next_working_day(self.today() + timedelta(days=1))
        if draft.due_on <= next_working_day:
            return False
        if self.questions.is_urgent_action(draft.what or ""):
            return True
        return any(f.matters == "today" for f in self.questions.fired(self._facts(context)))

    def _needs_own_contingency(self, draft: Action) -> bool:
        """An urgent or escalation action not done today gets its own "and if not?"; the rest
        share one contingency, asked once for the plan."""
        if draft.due_on is not None and draft.due_on <= self.today():
            return False
        return draft.kind == ESCALATION or self.questions.is_urgent_action(draft.what or "")

    def _next_plan_step(
        self, session: Session, context: Context, draft: Action | None, reply: Reply
    ) -> None:
        reflection = context.reflection
        step = reflection.current_step or "what"
        needed = {
            "due": draft is not None and draft.due_on is None,
            "meanwhile": self._needs_meanwhile(context, draft),
            "contingency": draft is not None and self._needs_own_contingency(draft),
        }
        later = PLAN_STEPS[PLAN_STEPS.index(step) + 1 :] if step in PLAN_STEPS else ()
        upcoming = next((s for s in later if needed.get(s)), None)
        if upcoming is None:
            if draft is not None:
                draft.status = ActionStatus.COMPLETE
                session.add(draft)
                reply.say("plan_action_noted", action=action_dict(draft))
            # Straight on to the next action, where "done" ends the plan.
            reflection.current_step = "what"
        else:
            reflection.current_step = upcoming
        if draft is not None:
            session.add(draft)
        session.add(reflection)
        session.flush()
        self._prompt(session, context, reply)

    def _plan_skip(
        self, session: Session, context: Context, question: Question, reply: Reply
    ) -> None:
        step = context.reflection.current_step or "what"
        draft = draft_action(context)
        if step in {"what", "more"} and draft is None:
            self._finish_plan(session, context, question, reply)
            return
        self._next_plan_step(session, context, draft, reply)

    def _plan_back(self, context: Context) -> bool:
        """Step back within the plan: to the line of the action being written, or reopening
        the last action; False when the plan's first line is where we are."""
        reflection = context.reflection
        step = reflection.current_step or "what"
        draft = draft_action(context)
        if draft is not None and step != "what":
            reflection.current_step = "what"
            return True
        complete = [a for a in context.actions if a.status == ActionStatus.COMPLETE]
        if step in {"what", "more"} and draft is None and complete:
            complete[-1].status = ActionStatus.DRAFT
            reflection.current_step = "what"
            return True
        return False

    def _finish_plan(
        self, session: Session, context: Context, question: Question, reply: Reply
    ) -> None:
        count = complete_count(context)
        status = AnswerStatus.ANSWERED if count else AnswerStatus.SKIPPED
        self._store(session, context, question.id, status, str(count) if count else None)
        if not count:
            reply.say("skipped")
        self._advance(session, context, reply)

    # ----------------------------------------------------------------- completion

    def _complete(self, session: Session, context: Context, reply: Reply) -> None:
        complete(
            session,
            context,
            reply,
            questions=self.questions,
            facts_of=self._facts,
            org=self._organisation(session, context.reflection.practitioner_id),
            audience=self._audience(session, context),
            now=self.now(),
        )

    # ----------------------------------------------------------------- plumbing

    def _finish(self, session: Session, context: Context, reply: Reply) -> None:
        context.reflection.updated_at = self.now()
        queries.save_progress(session=session, reflection=context.reflection)
        # The session's identity map holds rows weakly: kept here until the transaction ends,
        # the reflection is found there by whatever records the reply (its prompt's stamp),
        # rather than read again.
        session.info.setdefault(KEPT_FOR_THE_STEP, []).append(context.reflection)
        if context.reflection.id is None:  # a new reflection: its id names its prompts
            session.flush()
        reply.reflection_id = context.reflection.id
        reply.status = context.reflection.status
        if reply.prompted and reply.status == ReflectionStatus.IN_PROGRESS:
            reply.asks = self._position(context)

    def _has_paused(self, session: Session, practitioner_id: str) -> bool:
        return any(
            r.status == ReflectionStatus.PAUSED
            for r, _ in queries.open_reflections_of(
                session=session, practitioner_id=practitioner_id
            )
        )
