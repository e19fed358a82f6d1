"""Practice vignettes: realistic, invented cases, each answered as an honest practitioner types
before a visit, and driven through the terminal conversation (``TerminalConversation.converse``)
on a real database. The vignette tests and ``python -m benchmarks.reflection_length`` both use
this one driver.

A vignette is a YAML file under ``tests/practice/vignettes/``:

```yaml
name: hv-drinking-unmet-partner      # the file's stem
kind: case                           # case | control (nothing may fire) | probe (skips everything)
role: health_visitor                 # the person's profession in the organisation file
case_ref: HV-2101                    # invented; never a name
safeguarding_lead: false             # true: the practitioner is their agency's lead
opened_days_ago: 240                 # optional: the case was opened this long ago
outweighs: [other-vignette]          # probe only: what the supervisor gets is never less
earlier:                             # optional: a first reflection on the case, then
  days_later: 42                     #   this many days later the reflection under test
  answers: {...}
answers:
  purpose: "..."                     # question id -> the line typed
  child_seen: seen_too_young         # an option id is typed as its number, as a button would
  risks: [alcohol, domestic_abuse]   # several options
  last_plan: [done, not_done]        # a repeat reflection: one status per earlier action
  plan:                              # one mapping per action; a missing step is skipped
    - {what: ..., owner: ..., due: ..., meanwhile: ..., contingency: ...}
expect:
  flags:                             # exactly the rules whose flags fire; a mapping gives the
    - baby_sleep                     #   words the flag must quote
    - {rule: alcohol_mentioned, quote: "couple of glasses"}
  silent: [unmet_man]                # must not fire (traps)
  immediate: false                   # an immediate-risk message shown mid-conversation
  asked: [confirm_alcohol, "plan:meanwhile"]   # question ids, or question:step
  not_asked: [lead_contact]
  unknowns: [child_seen, plan]       # core questions skipped, shown to the supervisor
known_gaps:                          # words of problems Reflect is known to have here, until
  - "immediate-risk message"         #   fixed; a gap no longer seen fails too
```

A question the vignette does not script is answered ``skip`` and reported as unscripted.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import select

from bot.admin.organisation import load_organisation
from bot.reflection import length
from bot.reflection.messages import Reply
from bot.reflection.questions import default_question_set
from bot.reflection.service import CONFIRM
from bot.render import Renderer
from bot.requests import Requests
from bot.terminal.conversation import TerminalConversation
from bot.terminal.dialect import TERMINAL
from storage import cases as case_queries
from storage.db import SessionFactory, transaction
from storage.models import Case, Reflection

VIGNETTES = Path(__file__).resolve().parent / "vignettes"

# A Tuesday at half past nine: "Friday" is three days away, the next working day is Wednesday.
STARTS_AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)

PRACTITIONER = "U0PRAC0001"
SUPERVISOR = "U0SUPV0001"
LEAD = "U0LEAD0001"

AGENCY_NAMES = {
    "social_worker": "Children's Social Care",
    "health_visitor": "Health Visiting",
    "school": "Primary School",
    "police": "Police",
    "gp": "GP Practice",
    "early_help": "Early Help",
}

KINDS = ("case", "control", "probe")
VIGNETTE_KEYS = {
    "name",
    "kind",
    "role",
    "case_ref",
    "safeguarding_lead",
    "opened_days_ago",
    "outweighs",
    "earlier",
    "answers",
    "expect",
    "known_gaps",
}
EXPECT_KEYS = {"flags", "silent", "immediate", "asked", "not_asked", "unknowns"}

# Replies the service gives when it did not understand a line: a vignette must be understood.
NOT_UNDERSTOOD = {
    "choice_not_understood",
    "confirm_not_understood",
    "date_ambiguous",
    "date_not_understood",
    "date_past",
    "empty_answer",
    "plan_more_not_understood",
    "scale_not_understood",
    "too_long",
    "question_set_changed",
}


class VignetteError(ValueError):
    """A vignette file is malformed, or a line it types is not understood."""


@dataclass(frozen=True)
class Expect:
    # rule id -> words its quote must contain (or None); None: not checked (a probe)
    flags: Mapping[str, str | None] | None
    silent: tuple[str, ...] = ()
    immediate: bool | None = None
    asked: tuple[str, ...] = ()
    not_asked: tuple[str, ...] = ()
    unknowns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Earlier:
    days_later: int
    answers: Mapping[str, Any]


@dataclass(frozen=True)
class Vignette:
    name: str
    kind: str
    role: str
    case_ref: str
    answers: Mapping[str, Any]
    expect: Expect
    safeguarding_lead: bool = False
    opened_days_ago: int | None = None
    outweighs: tuple[str, ...] = ()
    earlier: Earlier | None = None
    # Words of the problems Reflect is known to have with this vignette, still to be fixed.
    known_gaps: tuple[str, ...] = ()


@dataclass
class Turn:
    """One line typed: under which question and step, and whether the vignette scripted it."""

    question: str | None
    step: str | None
    text: str
    scripted: bool

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def short(self) -> bool:
        return self.words <= length.SHORT_REPLY_WORDS

    @property
    def think_seconds(self) -> int:
        return length.think_seconds(self.text)


@dataclass
class Run:
    """One reflection driven to its end."""

    status: int = 1
    turns: list[Turn] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    transcript: str = ""
    words_read: int = 0
    words_read_summary: int = 0
    immediate_after: list[str] = field(default_factory=list)  # questions answered just before
    reflection: Reflection | None = None

    @property
    def asked(self) -> list[str]:
        """Question ids, and question:step for the steps of a plan or review, in order."""
        seen: list[str] = []
        for reply in self.replies:
            if reply.asks is None or reply.asks.question is None:
                continue
            for key in (reply.asks.question, f"{reply.asks.question}:{reply.asks.step}"):
                if key not in seen and not key.endswith(":None"):
                    seen.append(key)
        return seen

    @property
    def unscripted(self) -> list[str]:
        keys: list[str] = []
        for turn in self.turns:
            if not turn.scripted:
                key = f"{turn.question}:{turn.step}" if turn.step else str(turn.question)
                if key not in keys:
                    keys.append(key)
        return keys

    @property
    def summary(self) -> dict[str, Any]:
        for reply in reversed(self.replies):
            if reply.completion is not None:
                return reply.completion.summary
        raise VignetteError("the reflection did not complete")

    @property
    def flags(self) -> list[dict[str, Any]]:
        return list(self.summary.get("flags") or [])

    @property
    def fired(self) -> set[str]:
        return {f["rule"] for f in self.flags}

    @property
    def immediate(self) -> bool:
        return bool(self.immediate_after)

    @property
    def promised_minutes(self) -> int | None:
        """The minutes the welcome said the reflection would take."""
        for reply in self.replies[:1]:
            for message in reply.messages:
                if message.template == "welcome" and "minutes" in message.data:
                    return int(message.data["minutes"])
        return None

    @property
    def words_typed(self) -> int:
        return sum(t.words for t in self.turns)

    @property
    def minutes(self) -> float:
        """Estimated by the model the welcome's promise uses (bot/reflection/length.py)."""
        return length.minutes(
            words_read=self.words_read,
            words_typed=self.words_typed,
            thinking_seconds=sum(t.think_seconds for t in self.turns),
        )

    def typed_text(self) -> str:
        return "\n".join(t.text for t in self.turns)


@dataclass
class Outcome:
    vignette: Vignette
    final: Run
    earlier: Run | None = None


# ----------------------------------------------------------------- reading vignettes


def vignette_paths() -> list[Path]:
    return sorted(VIGNETTES.glob("*.yaml"))


def load_all() -> list[Vignette]:
    return [load_vignette(path) for path in vignette_paths()]


def load_vignette(path: Path) -> Vignette:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.name
    if not isinstance(raw, dict):
        raise VignetteError(f"{where}: expected a mapping")
    unknown = set(raw) - VIGNETTE_KEYS
    if unknown:
        raise VignetteError(f"{where}: unknown keys {sorted(unknown)}")
    if raw.get("name") != path.stem:
        raise VignetteError(f"{where}: name must be the file's stem, {path.stem!r}")
    kind = raw.get("kind", "case")
    if kind not in KINDS:
        raise VignetteError(f"{where}: kind must be one of {KINDS}")
    if kind != "probe" and "flags" not in (raw.get("expect") or {}):
        raise VignetteError(f"{where}: expect.flags lists every flag that fires ([] for none)")
    if raw.get("role") not in AGENCY_NAMES:
        raise VignetteError(f"{where}: role must be one of {sorted(AGENCY_NAMES)}")
    answers = raw.get("answers") or {}
    if not isinstance(answers, dict):
        raise VignetteError(f"{where}: answers must be a mapping")
    earlier = None
    if "earlier" in raw:
        part = raw["earlier"]
        if not isinstance(part, dict) or set(part) != {"days_later", "answers"}:
            raise VignetteError(f"{where}: earlier needs days_later and answers")
        earlier = Earlier(int(part["days_later"]), part["answers"])
    return Vignette(
        name=raw["name"],
        kind=kind,
        role=raw["role"],
        case_ref=str(raw["case_ref"]),
        answers=answers,
        expect=_expect(raw.get("expect") or {}, where),
        safeguarding_lead=bool(raw.get("safeguarding_lead", False)),
        opened_days_ago=raw.get("opened_days_ago"),
        outweighs=tuple(raw.get("outweighs") or ()),
        earlier=earlier,
        known_gaps=tuple(raw.get("known_gaps") or ()),
    )


def _expect(raw: Mapping[str, Any], where: str) -> Expect:
    unknown = set(raw) - EXPECT_KEYS
    if unknown:
        raise VignetteError(f"{where}: unknown expect keys {sorted(unknown)}")
    flags: dict[str, str | None] | None = None if "flags" not in raw else {}
    for entry in raw.get("flags") or []:
        assert flags is not None
        if isinstance(entry, str):
            flags[entry] = None
        elif isinstance(entry, dict) and set(entry) <= {"rule", "quote"} and "rule" in entry:
            flags[entry["rule"]] = entry.get("quote")
        else:
            raise VignetteError(f"{where}: a flag is a rule id or {{rule, quote}}: {entry!r}")
    unknowns = raw.get("unknowns")
    return Expect(
        flags=flags,
        silent=tuple(raw.get("silent") or ()),
        immediate=raw.get("immediate"),
        asked=tuple(raw.get("asked") or ()),
        not_asked=tuple(raw.get("not_asked") or ()),
        unknowns=tuple(unknowns) if unknowns is not None else None,
    )


# ----------------------------------------------------------------- answering


class Answerer:
    """Answers whatever the conversation asks from a vignette's answers, as a practitioner
    types: an option id becomes the number shown beside it; a question not scripted is
    skipped (and noted)."""

    def __init__(self, answers: Mapping[str, Any], run: Run, name: str) -> None:
        self.answers = answers
        self.run = run
        self.name = name
        self.last: tuple[str | None, str | None] | None = None
        self.repeats = 0

    def __call__(self, reply: Reply) -> str | None:
        confused = [m.template for m in reply.messages if m.template in NOT_UNDERSTOOD]
        if confused and self.run.turns:
            turn = self.run.turns[-1]
            raise VignetteError(
                f"{self.name}: {turn.text!r} typed under {turn.question}"
                f"{':' + turn.step if turn.step else ''} was not understood ({confused[0]})"
            )
        if reply.asks is None:
            shown = [m.template for m in reply.messages]
            raise VignetteError(f"{self.name}: a reply asks nothing ({shown})")
        question, step = reply.asks.question, reply.asks.step
        position = (question, step)
        self.repeats = self.repeats + 1 if position == self.last else 0
        self.last = position
        if self.repeats > 3:
            raise VignetteError(f"{self.name}: {question}:{step} asked again and again")
        text, scripted = self.line(question, step, reply)
        self.run.turns.append(Turn(question, step, text, scripted))
        return text

    def line(self, question: str | None, step: str | None, reply: Reply) -> tuple[str, bool]:
        if question == CONFIRM:
            return "send", True
        plan = self.answers.get("plan")
        if question == "plan_contingency" and question not in self.answers and plan:
            # The plan's one contingency: the first the vignette gives for an action.
            given = [a.get("contingency") for a in plan if a.get("contingency")]
            return (str(given[0]), True) if given else ("skip", False)
        if question is None or question not in self.answers:
            return "skip", False
        value = self.answers[question]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return self.plan_step(step, value, _actions_so_far(reply))
        if isinstance(value, list) and step is not None and step.isdigit():  # a review
            index = int(step)
            if index >= len(value):
                return "skip", False
            return _typed(str(value[index]), _options(reply, question)), True
        if isinstance(value, list):
            options = _options(reply, question)
            return ", ".join(_typed(str(v), options) for v in value), True
        if value is None:
            return "skip", True
        return _typed(str(value), _options(reply, question)), True

    def plan_step(
        self, step: str | None, actions: Sequence[Mapping[str, Any]], so_far: int
    ) -> tuple[str, bool]:
        """One step of the plan: an action's what, who, due, meanwhile or contingency, then
        "done" once every scripted action is in."""
        step = step or "what"
        if step == "more":
            return ("yes" if so_far < len(actions) else "done"), True
        if step == "what" and so_far >= len(actions):
            return "done", True
        action = actions[min(so_far, len(actions) - 1)]
        if step == "what" and action.get("owner"):
            # One line, as practitioners type it: the action, then who after a dash.
            return f"{action['what']} - {action['owner']}", True
        if step not in action:
            return "skip", False
        return str(action[step]), True


def _actions_so_far(reply: Reply) -> int:
    """How many actions the plan holds, as the question on screen says."""
    asked = [m for m in reply.messages if m.template == "question"]
    return int(asked[-1].data.get("actions_so_far") or 0) if asked else 0


def _options(reply: Reply, question: str | None) -> list[Mapping[str, Any]]:
    for message in reversed(reply.messages):
        data = message.data
        if data.get("question_id") == question and data.get("options"):
            return list(data["options"])
    return []


def _typed(value: str, options: Sequence[Mapping[str, Any]]) -> str:
    """An option id as the practitioner picks it (its number); anything else as written."""
    for option in options:
        if option.get("id") == value and option.get("number") is not None:
            return str(option["number"])
    return value


# ----------------------------------------------------------------- driving


class RecordingConversation(TerminalConversation):
    """The terminal conversation, keeping every reply it shows."""

    def __init__(self, *args: Any, run: Run, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run = run

    def show(self, reply: Reply) -> None:
        self.run.replies.append(reply)
        for message in reply.messages:
            words = len(self.render(message).split())
            self.run.words_read += words
            if message.template == "summary":
                self.run.words_read_summary += words
            if message.template == "immediate_risk":
                last = self.run.turns[-1] if self.run.turns else None
                self.run.immediate_after.append(last.question if last else "(start)")
        super().show(reply)


class Clock:
    """The service's clock: moved on by the time each line is estimated to take."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current


def organisation_file(vignette: Vignette) -> str:
    agency = {
        "id": "agency",
        "name": AGENCY_NAMES[vignette.role],
        "safeguarding_leads": [PRACTITIONER if vignette.safeguarding_lead else LEAD],
    }
    people = [
        {"slack_id": SUPERVISOR, "agency": "agency", "role": "supervisor"},
        {
            "slack_id": PRACTITIONER,
            "agency": "agency",
            "role": "lead" if vignette.safeguarding_lead else "practitioner",
            "supervisor": SUPERVISOR,
            "profession": vignette.role,
        },
    ]
    if not vignette.safeguarding_lead:
        people.append({"slack_id": LEAD, "agency": "agency", "role": "lead"})
    return yaml.safe_dump({"agencies": [agency], "people": people}, sort_keys=False)


def drive(
    vignette: Vignette,
    new_session: SessionFactory,
    *,
    workdir: Path,
    starts_at: datetime = STARTS_AT,
    renderer: Renderer | None = None,
    answerer_for: Callable[[Run], Callable[[Reply], str | None]] | None = None,
) -> Outcome:
    """Load the vignette's organisation, then drive its reflections through the terminal."""
    org = workdir / f"{vignette.name}-organisation.yaml"
    org.write_text(organisation_file(vignette), encoding="utf-8")
    load_organisation(org, new_session)
    renderer = renderer or Renderer(TERMINAL)
    earlier_at = starts_at - timedelta(days=vignette.earlier.days_later if vignette.earlier else 0)
    clock = Clock(earlier_at)
    service = Requests(new_session, now=clock, records=False)
    if vignette.opened_days_ago is not None:
        with transaction(new_session) as session:
            case_queries.create_case(
                session=session,
                ref=vignette.case_ref,
                practitioner_id=PRACTITIONER,
                opened_on=_date(starts_at) - timedelta(days=vignette.opened_days_ago),
                now=earlier_at,
            )
    earlier = None
    if vignette.earlier is not None:
        earlier = _one(vignette, vignette.earlier.answers, service, renderer, clock, new_session)
        clock.current = starts_at
    final = _one(vignette, vignette.answers, service, renderer, clock, new_session, answerer_for)
    return Outcome(vignette, final, earlier)


def _one(
    vignette: Vignette,
    answers: Mapping[str, Any],
    service: Requests,
    renderer: Renderer,
    clock: Clock,
    new_session: SessionFactory,
    answerer_for: Callable[[Run], Callable[[Reply], str | None]] | None = None,
) -> Run:
    run = Run()
    out = io.StringIO()
    conversation = RecordingConversation(
        service, renderer, practitioner_id=PRACTITIONER, out=out, run=run
    )
    answerer = (
        answerer_for(run) if answerer_for is not None else Answerer(answers, run, vignette.name)
    )
    read_so_far = 0

    def timed(reply: Reply) -> str | None:
        # The service's clock moves on by the time the line is estimated to take, so what
        # it records about time (the minutes a reflection took) follows the same model.
        nonlocal read_so_far
        text = answerer(reply)
        turn = run.turns[-1]
        seconds = 60 * length.minutes(
            words_read=run.words_read - read_so_far,
            words_typed=turn.words,
            thinking_seconds=turn.think_seconds,
        )
        read_so_far = run.words_read
        clock.current += timedelta(seconds=round(seconds))
        return text

    run.status = conversation.converse(vignette.case_ref, timed)
    run.transcript = out.getvalue()
    with new_session() as session:
        case = session.exec(select(Case).where(Case.ref == vignette.case_ref)).one()
        run.reflection = session.exec(
            select(Reflection).where(Reflection.case_id == case.id).order_by(Reflection.id.desc())  # type: ignore[union-attr]
        ).first()
    return run


def _date(moment: datetime) -> date:
    return moment.date()


# ----------------------------------------------------------------- checking


def normalised(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2026", "...")
    return re.sub(r"\s+", " ", text).strip().lower()


def quote_problems(run: Run, expect: Expect) -> list[str]:
    """Each flag that quotes must quote the practitioner's own words, inside its text; a flag
    the vignette names with words must quote them."""
    problems = []
    typed = normalised(run.typed_text())
    for flag in run.flags:
        quote = flag.get("quote")
        wanted = (expect.flags or {}).get(flag["rule"])
        if wanted is not None and (not quote or normalised(wanted) not in normalised(quote)):
            problems.append(f"{flag['rule']}: expected a quote with {wanted!r}, got {quote!r}")
        if not quote:
            continue
        bare = normalised(quote).strip(".").strip()
        for part in (p.strip() for p in bare.split("...")):
            if part and part not in typed:
                problems.append(f"{flag['rule']}: {quote!r} is not what was typed")
        if normalised(quote) not in normalised(flag.get("text") or ""):
            problems.append(f"{flag['rule']}: its text does not show the quote {quote!r}")
    return problems


def unknown_ids(run: Run) -> list[str]:
    """The question ids of the summary's unknowns (which name each question as it is shown)."""
    ids = {q.label: q.id for q in default_question_set().questions.values()}
    return [
        str(u.get("id") or ids.get(u.get("question"), u.get("question")))
        for u in run.summary.get("unknowns") or []
    ]


def expectation_problems(outcome: Outcome) -> list[str]:
    """Everything about the outcome that differs from the vignette's expectations."""
    vignette, run, expect = outcome.vignette, outcome.final, outcome.vignette.expect
    problems = []
    if outcome.earlier is not None and outcome.earlier.status != 0:
        problems.append("the earlier reflection did not complete")
    if run.status != 0:
        return [*problems, "the reflection did not complete"]
    fired = run.fired
    if vignette.kind == "control":
        wanted = set()
    else:
        wanted = fired if expect.flags is None else set(expect.flags)
    if fired != wanted:
        if wanted - fired:
            problems.append(f"expected flags that did not fire: {sorted(wanted - fired)}")
        if fired - wanted:
            problems.append(f"flags that fired unexpectedly: {sorted(fired - wanted)}")
    if fired & set(expect.silent):
        problems.append(f"traps that fired: {sorted(fired & set(expect.silent))}")
    immediate = expect.immediate if vignette.kind != "control" else False
    if immediate is not None and run.immediate != immediate:
        where = f" (after {', '.join(run.immediate_after)})" if run.immediate_after else ""
        problems.append(
            f"immediate-risk message: expected {immediate}, shown {run.immediate}{where}"
        )
    asked = set(run.asked)
    missing = [q for q in expect.asked if q not in asked]
    if missing:
        problems.append(f"not asked: {missing}")
    extra = [q for q in expect.not_asked if q in asked]
    if extra:
        problems.append(f"asked, but should not be: {extra}")
    if expect.unknowns is not None and sorted(unknown_ids(run)) != sorted(expect.unknowns):
        problems.append(f"unknowns: expected {sorted(expect.unknowns)}, got {unknown_ids(run)}")
    problems.extend(quote_problems(run, expect))
    stored = run.reflection.rules_fired if run.reflection is not None else None
    if {r for r in (stored or "").split(",") if r} != fired:
        problems.append(f"rules_fired stored as {stored!r}, the summary has {sorted(fired)}")
    return problems


def outweighing_problems(skipped: Run, honest: Mapping[str, Run]) -> list[str]:
    """Skipping must never show the supervisor fewer things to ask about than candour."""
    shown = for_the_supervisor(skipped)
    return [
        f"skipping everything shows the supervisor fewer things to ask about than the honest "
        f"{name}: {shown} ({sorted(skipped.fired)}, unknowns {unknown_ids(skipped)}) against "
        f"{for_the_supervisor(run)} ({sorted(run.fired)})"
        for name, run in honest.items()
        if shown < for_the_supervisor(run)
    ]


def unexplained(vignette: Vignette, problems: Sequence[str]) -> list[str]:
    """The problems no known gap of the vignette explains, and the known gaps no problem shows
    any more (fixed: take them out of the vignette)."""
    gaps = vignette.known_gaps
    left = [p for p in problems if not any(gap in p for gap in gaps)]
    fixed = [
        f"known gap no longer seen: {gap!r}" for gap in gaps if not any(gap in p for p in problems)
    ]
    return left + fixed


def for_the_supervisor(run: Run) -> int:
    """How many things a supervisor is shown to ask about: flags and unknowns."""
    return len(run.flags) + len(run.summary.get("unknowns") or [])
