"""Blind vignettes: cases written by practitioners who never read the question set or its rules,
typed topic by topic as they would type in Slack, and what a good supervisor would raise.

A blind vignette (``tests/practice/blind/*.yaml``, the generalisation set in ``blind2/`` and
the held-out set in ``blind3/``)
says nothing about Reflect's questions: it has a line per topic (``today``, ``purpose``,
``household``, ``risks``, ``plan``...) and the concerns expected, from the labels in
``concepts.yaml``. This module answers whatever the conversation asks from those topics, the
way the practitioner would (a confirming question is answered "yes" when its concern is one the
vignette expects, "no" otherwise), and scores what was raised:

    python -m tests.practice.blind            # the first set, vignette by vignette
    python -m tests.practice.blind --set blind2
    python -m tests.practice.blind --set blind3

``concepts.yaml`` is the scorer's, not the product's: which topic answers which question, which
rules raise which concern, and which confirming question asks about which concern.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import SQLModel

from bot.reflection.messages import Reply
from bot.reflection.service import CONFIRM
from storage import db
from storage.db import SessionFactory
from storage.encryption import generate_key, keyring
from tests.practice import driver

HERE = Path(__file__).resolve().parent
SETS = ("blind", "blind2", "blind3")
CONCEPTS = yaml.safe_load((HERE / "concepts.yaml").read_text(encoding="utf-8"))

BLIND_KEYS = {
    "name",
    "kind",
    "role",
    "safeguarding_lead",
    "case_ref",
    "child",
    "situation",
    "typed",
    "expect",
}


@dataclass(frozen=True)
class BlindVignette:
    name: str
    kind: str
    role: str
    case_ref: str
    child: str
    typed: Mapping[str, Any]
    today: bool
    concerns: tuple[str, ...]
    plan_queried: bool
    safeguarding_lead: bool = False

    def as_vignette(self) -> driver.Vignette:
        """The driver's view: the organisation and case; the answers come from ``typed``."""
        return driver.Vignette(
            name=self.name,
            kind="control" if self.kind == "control" else "case",
            role=self.role,
            case_ref=self.case_ref,
            answers={},
            expect=driver.Expect(flags={}),
            safeguarding_lead=self.safeguarding_lead,
        )

    @property
    def baby(self) -> bool:
        return bool(re.search(r"\b(baby|newborn|\d+\s*(m|mo|months?|wks?|weeks?)\b)", self.child))

    @property
    def under_four(self) -> bool:
        years = re.findall(r"\b(\d{1,2})\b(?!\s*(m|mo|months?|wks?|weeks?)\b)", self.child)
        return self.baby or any(int(y[0]) < 4 for y in years)


def load_set(name: str) -> list[BlindVignette]:
    return [load(path) for path in sorted((HERE / name).glob("*.yaml"))]


def load(path: Path) -> BlindVignette:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.name
    if not isinstance(raw, dict) or set(raw) - BLIND_KEYS:
        raise driver.VignetteError(f"{where}: unknown keys {sorted(set(raw) - BLIND_KEYS)}")
    if raw.get("role") not in driver.AGENCY_NAMES:
        raise driver.VignetteError(f"{where}: unknown role {raw.get('role')!r}")
    expect = raw.get("expect") or {}
    concerns = tuple(expect.get("concerns") or ())
    unknown = set(concerns) - set(CONCEPTS["concepts"])
    if unknown:
        raise driver.VignetteError(f"{where}: unknown concerns {sorted(unknown)}")
    return BlindVignette(
        name=raw["name"],
        kind=raw.get("kind", "case"),
        role=raw["role"],
        case_ref=str(raw["case_ref"]),
        child=str(raw.get("child") or ""),
        typed=raw.get("typed") or {},
        today=bool(expect.get("today")),
        concerns=concerns,
        plan_queried=bool(expect.get("plan_queried")),
        safeguarding_lead=bool(raw.get("safeguarding_lead", False)),
    )


# ----------------------------------------------------------------- answering

DATE_WORDS = re.compile(
    r"\b(today|tonight|tomorrow|asap|now|this (morning|afternoon|evening)|"
    r"(next|this) (wk|week|mon|tues?|wed|thurs?|fri)\w*|"
    r"(mon|tue|tues|wed|thu|thur|thurs|fri)(day)?( next (wk|week))?|"
    r"\d{1,2}(st|nd|rd|th)|end of (the )?(month|week|wk)|by (\w+ )?\d{1,2}(st|nd|rd|th)?)\b",
    re.IGNORECASE,
)


class BlindAnswerer:
    """Answers each question from the topic that fits it; anything Reflect did not understand
    is skipped, as a practitioner gives up on a question after one try."""

    def __init__(self, vignette: BlindVignette, run: driver.Run) -> None:
        self.vignette = vignette
        self.run = run
        self.plan_lines = [str(line) for line in vignette.typed.get("plan") or []]
        self.given_up: list[str] = []
        self.tapped: set[str] = set()
        self.typed_topics: set[str] = set()

    def __call__(self, reply: Reply) -> str | None:
        confused = [m.template for m in reply.messages if m.template in driver.NOT_UNDERSTOOD]
        if confused and self.run.turns:
            last = self.run.turns[-1]
            question, step = last.question, last.step
            tapped = self.tap(question, last.text, reply) if last.scripted else None
            if tapped is not None:
                text, scripted = tapped, True
            else:
                self.given_up.append(f"{question}:{step}" if step else str(question))
                text, scripted = "skip", False
        elif reply.asks is None:
            shown = [m.template for m in reply.messages]
            raise driver.VignetteError(f"{self.vignette.name}: a reply asks nothing ({shown})")
        else:
            question, step = reply.asks.question, reply.asks.step
            text, scripted = self.line(question, step, reply)
        if len(self.run.turns) > 200:
            raise driver.VignetteError(f"{self.vignette.name}: the conversation does not end")
        self.run.turns.append(driver.Turn(question, step, text, scripted))
        return text

    def line(self, question: str | None, step: str | None, reply: Reply) -> tuple[str, bool]:
        if question == CONFIRM:
            return "send", True
        if question is None:
            return "skip", False
        options = driver._options(reply, question)
        if question in CONCEPTS["confirms"]:
            return self.confirm(question, options), True
        topic = CONCEPTS["topics"].get(question)
        if question == "plan" or topic == "plan":
            return self.plan_step(step, reply)
        if topic is None:
            return "skip", False
        value = self.vignette.typed.get(topic)
        if value is None or value == "":
            return "skip", False
        if topic in self.typed_topics:  # said once already: nothing new to add
            return "skip", True
        self.typed_topics.add(topic)
        return str(value), True

    def tap(self, question: str | None, typed: str, reply: Reply) -> str | None:
        """After Reflect did not follow their words, the option buttons the practitioner taps
        for what they meant, or None: they give up and skip."""
        hints = CONCEPTS["choices"].get(question)
        if hints is None or typed in self.tapped:
            return None
        self.tapped.add(typed)
        options = driver._options(reply, question)
        chosen = _choose(typed, hints)
        if chosen and _kind(reply, question or "") == "choice":
            chosen = chosen[:1]
        if not chosen:
            return None
        return ", ".join(driver._typed(c, options) for c in chosen)

    def confirm(self, question: str, options: Sequence[Mapping[str, Any]]) -> str:
        concept = CONCEPTS["confirms"][question]
        meant = (concept == "today" and self.vignette.today) or concept in self.vignette.concerns
        if question == "confirm_injury":
            if not meant:
                return driver._typed("no", options)
            age = "baby" if self.vignette.baby else "young" if self.vignette.under_four else "older"
            return driver._typed(age, options)
        if question == "confirm_self_harm":
            return driver._typed("child" if meant else "no", options)
        return driver._typed("yes" if meant else "no", options)

    def plan_step(self, step: str | None, reply: Reply) -> tuple[str, bool]:
        so_far = driver._actions_so_far(reply)
        step = step or "what"
        if step == "more":
            return ("yes" if so_far < len(self.plan_lines) else "done"), True
        if step in {"what", "action"}:
            if so_far >= len(self.plan_lines):
                return "done", True
            return self.plan_lines[so_far], True
        line = self.plan_lines[min(so_far, len(self.plan_lines) - 1)] if self.plan_lines else ""
        if step == "owner":
            return "me", True
        if step == "due":
            found = DATE_WORDS.search(line)
            return (found.group(0) if found else "skip"), found is not None
        if step == "contingency":
            contingency = self.vignette.typed.get("contingency")
            return (str(contingency) if contingency else "skip"), bool(contingency)
        if step == "meanwhile":
            meanwhile = self.vignette.typed.get("next_hour")
            return (str(meanwhile) if meanwhile else "skip"), bool(meanwhile)
        return "skip", False


def _kind(reply: Reply, question: str) -> str | None:
    for message in reversed(reply.messages):
        if message.data.get("question_id") == question:
            return str(message.data.get("kind"))
    return None


def _choose(text: str, hints: Mapping[str, Sequence[str]]) -> list[str]:
    """The options whose hint words the text contains, in the question's order."""
    lowered = text.lower().replace("\u2019", "'")
    return [
        option for option, patterns in hints.items() if any(re.search(p, lowered) for p in patterns)
    ]


# ----------------------------------------------------------------- scoring


@dataclass
class Score:
    vignette: BlindVignette
    run: driver.Run
    raised: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return len(self.raised) + len(self.missed)


def drive(vignette: BlindVignette, new_session: SessionFactory, workdir: Path) -> Score:
    answerers: list[BlindAnswerer] = []

    def answerer_for(run: driver.Run) -> BlindAnswerer:
        answerers.append(BlindAnswerer(vignette, run))
        return answerers[-1]

    outcome = driver.drive(
        vignette.as_vignette(), new_session, workdir=workdir, answerer_for=answerer_for
    )
    return score(vignette, outcome.final, answerers[-1].given_up)


def score(vignette: BlindVignette, run: driver.Run, given_up: list[str]) -> Score:
    result = Score(vignette, run, given_up=given_up)
    if run.status != 0:
        result.missed.append("(did not complete)")
        return result
    fired = run.fired
    plan_rules = set(CONCEPTS["plan_rules"])
    plan_questions = set(CONCEPTS.get("plan_questions") or [])
    if vignette.kind == "control":
        result.false_alarms = sorted(fired)
        if run.immediate:
            result.false_alarms.append("(today message)")
        return result
    for concern in vignette.concerns:
        rules = set(CONCEPTS["concepts"][concern])
        (result.raised if fired & rules else result.missed).append(concern)
    if vignette.today:
        (result.raised if run.immediate else result.missed).append("today")
    if vignette.plan_queried:
        queried = fired & plan_rules or plan_questions & set(run.asked)
        (result.raised if queried else result.missed).append("plan")
    return result


@dataclass(frozen=True)
class Totals:
    expected: int
    raised: int
    controls: int
    false_alarms: int
    today_due: int
    today_shown: int

    @property
    def share(self) -> float:
        return self.raised / self.expected if self.expected else 1.0


def totals(scores: Sequence[Score]) -> Totals:
    return Totals(
        expected=sum(s.expected for s in scores),
        raised=sum(len(s.raised) for s in scores),
        controls=sum(1 for s in scores if s.vignette.kind == "control"),
        false_alarms=sum(1 for s in scores if s.false_alarms),
        today_due=sum(1 for s in scores if s.vignette.today),
        today_shown=sum(1 for s in scores if s.vignette.today and "today" in s.raised),
    )


def score_set(name: str, directory: Path) -> list[Score]:
    """Every vignette of a set, each on a fresh SQLite database under ``directory``, with the
    encryption keys the caller has configured."""
    scores = []
    engine = db.make_engine(f"sqlite:///{directory}/{name}.db")
    db.upgrade(engine)
    try:
        for vignette in load_set(name):
            scores.append(drive(vignette, db.session_factory(engine), directory))
            with engine.begin() as connection:
                for table in reversed(SQLModel.metadata.sorted_tables):
                    connection.execute(table.delete())
    finally:
        engine.dispose()
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="blind", choices=SETS)
    parser.add_argument("--quiet", action="store_true", help="the totals only")
    args = parser.parse_args(argv)
    keyring.configure([generate_key()])
    with tempfile.TemporaryDirectory() as directory:
        scores = score_set(args.set, Path(directory))
    if not args.quiet:
        for s in scores:
            mark = "control" if s.vignette.kind == "control" else f"{len(s.raised)}/{s.expected}"
            print(f"{s.vignette.name:50} {mark:>8}  {s.run.minutes:5.1f} min")
            if s.missed:
                print(f"    missed: {', '.join(s.missed)}")
            if s.false_alarms:
                print(f"    false alarms: {', '.join(s.false_alarms)}")
            if s.given_up:
                print(f"    not understood: {', '.join(s.given_up)}")
    t = totals(scores)
    print(
        f"{args.set}: {t.raised}/{t.expected} expected concerns raised ({t.share:.0%}); "
        f"today message on {t.today_shown}/{t.today_due} due; "
        f"false alarms on {t.false_alarms}/{t.controls} controls"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
