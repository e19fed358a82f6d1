"""The question set: themes, questions and follow-up rules, loaded from YAML and validated."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

QUESTION_SET_PATH = Path(__file__).resolve().parents[2] / "prompts" / "questions.yaml"
KINDS = {"text", "choice", "multi", "plan"}
ACTION_FIELDS = {"what", "owner", "due_on", "contingency"}


class QuestionSetError(ValueError):
    """The question set file is malformed; the message names the entry at fault."""


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Theme:
    id: str
    title: str
    points: tuple[int, ...]
    gap: str
    number: int


@dataclass(frozen=True)
class Question:
    id: str
    theme: str
    point: int
    kind: str
    label: str
    text: str
    why: str
    options: tuple[Option, ...] = ()
    follow_up: bool = False
    thin_below: int = 0

    def option(self, option_id: str) -> Option:
        return next(o for o in self.options if o.id == option_id)


@dataclass(frozen=True)
class AnswerState:
    """What the rules see of an answer: skipped, free text, or chosen option ids."""

    skipped: bool
    text: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    answer: str | None = None
    is_: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    is_not: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    actions_missing: str | None = None
    all_: tuple[Condition, ...] = ()
    any_: tuple[Condition, ...] = ()

    def holds(self, answers: Mapping[str, AnswerState], actions: list[Mapping[str, Any]]) -> bool:
        if self.all_ and not all(c.holds(answers, actions) for c in self.all_):
            return False
        if self.any_ and not any(c.holds(answers, actions) for c in self.any_):
            return False
        if self.actions_missing is not None and not any(
            not a.get(self.actions_missing) for a in actions
        ):
            return False
        if self.answer is None:
            return True
        state = answers.get(self.answer)
        chosen = () if state is None or state.skipped else state.choices
        if self.is_not:
            return not set(chosen) & set(self.is_not)
        if state is None or state.skipped:
            return False
        if self.is_ and not set(chosen) & set(self.is_):
            return False
        if self.only and not (chosen and set(chosen) <= set(self.only)):
            return False
        return not (self.mentions and not _mentions(state.text, self.mentions))

    def questions(self) -> Iterable[str]:
        if self.answer:
            yield self.answer
        for child in (*self.all_, *self.any_):
            yield from child.questions()


@dataclass(frozen=True)
class Rule:
    id: str
    when: Condition
    ask: tuple[str, ...] = ()
    flag: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class QuestionSet:
    version: str
    themes: tuple[Theme, ...]
    questions: Mapping[str, Question]
    rules: tuple[Rule, ...]
    _rules_after: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)

    @property
    def main(self) -> list[Question]:
        return [q for q in self.questions.values() if not q.follow_up]

    @cached_property
    def consulted(self) -> frozenset[str]:
        """The questions whose answers some rule looks at: all a path or a flag depends on."""
        return frozenset(q for rule in self.rules for q in rule.when.questions())

    def theme(self, theme_id: str) -> Theme:
        return next(t for t in self.themes if t.id == theme_id)

    def path(
        self, answers: Mapping[str, AnswerState], actions: list[Mapping[str, Any]]
    ) -> list[Question]:
        """The questions this reflection asks, in order, given the answers so far."""
        ordered: list[Question] = []
        seen: set[str] = set()

        def visit(question: Question) -> None:
            if question.id in seen:
                return
            seen.add(question.id)
            ordered.append(question)
            for rule in self._rules_after.get(question.id, ()):
                if rule.when.holds(answers, actions):
                    for follow_up in rule.ask:
                        visit(self.questions[follow_up])

        for question in self.main:
            visit(question)
        return ordered

    def flags(
        self, answers: Mapping[str, AnswerState], actions: list[Mapping[str, Any]]
    ) -> list[Rule]:
        return [r for r in self.rules if r.flag and r.when.holds(answers, actions)]


def _mentions(text: str, words: Iterable[str]) -> bool:
    lowered = text.lower()
    return any(re.search(rf"\b{re.escape(w.lower())}", lowered) for w in words)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def _parse_condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, dict):
        raise QuestionSetError(f"{where}: a condition must be a mapping")
    known = {"answer", "is", "only", "is_not", "mentions", "actions_missing", "all", "any"}
    unknown = set(raw) - known
    if unknown:
        raise QuestionSetError(f"{where}: unknown condition key(s) {sorted(unknown)}")
    if raw.get("actions_missing") not in (None, *ACTION_FIELDS):
        raise QuestionSetError(f"{where}: actions_missing must be one of {sorted(ACTION_FIELDS)}")
    return Condition(
        answer=raw.get("answer"),
        is_=_as_tuple(raw.get("is")),
        only=_as_tuple(raw.get("only")),
        is_not=_as_tuple(raw.get("is_not")),
        mentions=_as_tuple(raw.get("mentions")),
        actions_missing=raw.get("actions_missing"),
        all_=tuple(_parse_condition(c, where) for c in raw.get("all") or ()),
        any_=tuple(_parse_condition(c, where) for c in raw.get("any") or ()),
    )


def _require(entry: Mapping[str, Any], key: str, where: str) -> Any:
    value = entry.get(key)
    if value in (None, ""):
        raise QuestionSetError(f"{where}: missing '{key}'")
    return value


def parse_question_set(document: Mapping[str, Any]) -> QuestionSet:
    themes: list[Theme] = []
    for number, raw in enumerate(document.get("themes") or [], start=1):
        where = f"themes[{number - 1}]"
        themes.append(
            Theme(
                id=str(_require(raw, "id", where)),
                title=str(_require(raw, "title", where)),
                points=tuple(int(p) for p in raw.get("points") or ()),
                gap=str(_require(raw, "gap", where)),
                number=number,
            )
        )
    theme_ids = {t.id for t in themes}

    questions: dict[str, Question] = {}
    for index, raw in enumerate(document.get("questions") or []):
        where = f"questions[{index}]"
        qid = str(_require(raw, "id", where))
        where = f"question '{qid}'"
        if qid in questions:
            raise QuestionSetError(f"{where}: duplicate id")
        kind = str(_require(raw, "kind", where))
        if kind not in KINDS:
            raise QuestionSetError(f"{where}: kind must be one of {sorted(KINDS)}")
        theme = str(_require(raw, "theme", where))
        if theme not in theme_ids:
            raise QuestionSetError(f"{where}: unknown theme '{theme}'")
        options = tuple(
            Option(
                id=str(_require(o, "id", where)),
                label=str(_require(o, "label", where)),
                aliases=tuple(str(a).lower() for a in o.get("aliases") or ()),
            )
            for o in raw.get("options") or ()
        )
        if kind in {"choice", "multi"} and len(options) < 2:
            raise QuestionSetError(f"{where}: a {kind} question needs at least two options")
        questions[qid] = Question(
            id=qid,
            theme=theme,
            point=int(_require(raw, "point", where)),
            kind=kind,
            label=str(_require(raw, "label", where)),
            text=str(_require(raw, "text", where)),
            why=str(_require(raw, "why", where)),
            options=options,
            follow_up=bool(raw.get("follow_up", False)),
            thin_below=int(raw.get("thin_below", 0)),
        )

    order = list(questions)
    rules: list[Rule] = []
    for index, raw in enumerate(document.get("rules") or []):
        rid = str(_require(raw, "id", f"rules[{index}]"))
        where = f"rule '{rid}'"
        when = _parse_condition(_require(raw, "when", where), where)
        named = list(when.questions())
        for qid in named:
            if qid not in questions:
                raise QuestionSetError(f"{where}: unknown question '{qid}'")
        _check_options(when, questions, where)
        ask = _as_tuple(raw.get("ask"))
        for qid in ask:
            if qid not in questions or not questions[qid].follow_up:
                raise QuestionSetError(f"{where}: asks '{qid}', which is not a follow-up question")
        after = raw.get("after") or (max(named, key=order.index) if named else None)
        if ask and after is None:
            raise QuestionSetError(f"{where}: a rule that asks needs a question to follow")
        if after is not None and after not in questions:
            raise QuestionSetError(f"{where}: unknown question '{after}' in 'after'")
        if not ask and not raw.get("flag"):
            raise QuestionSetError(f"{where}: a rule needs 'ask', 'flag' or both")
        rules.append(Rule(id=rid, when=when, ask=ask, flag=raw.get("flag"), after=after))

    covered = {q.theme for q in questions.values() if not q.follow_up}
    missing = [t.id for t in themes if t.id not in covered]
    if missing:
        raise QuestionSetError(f"themes with no question: {missing}")
    if sum(1 for q in questions.values() if q.kind == "plan") > 1:
        raise QuestionSetError("only one plan question is allowed")

    rules_after: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.ask and rule.after:
            rules_after.setdefault(rule.after, []).append(rule)
    return QuestionSet(
        version=str(document.get("version") or "1"),
        themes=tuple(themes),
        questions=questions,
        rules=tuple(rules),
        _rules_after={k: tuple(v) for k, v in rules_after.items()},
    )


def _check_options(condition: Condition, questions: Mapping[str, Question], where: str) -> None:
    if condition.answer:
        valid = {o.id for o in questions[condition.answer].options}
        for value in (*condition.is_, *condition.only, *condition.is_not):
            if value not in valid:
                raise QuestionSetError(
                    f"{where}: '{value}' is not an option of question '{condition.answer}'"
                )
    for child in (*condition.all_, *condition.any_):
        _check_options(child, questions, where)


def load_question_set(path: Path = QUESTION_SET_PATH) -> QuestionSet:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QuestionSetError(f"{path.name}: not valid YAML ({exc})") from None
    return parse_question_set(document or {})


@cache
def default_question_set() -> QuestionSet:
    return load_question_set()
