"""The question set: themes, roles, questions, mentions and rules, loaded from YAML and validated.

The file's shape is checked by pydantic models; cross-references (a rule naming a question or an
option that does not exist) are checked after. Either way the error names the line and field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.reflection.mentions import Detector, Heard
from bot.yaml_lines import LinedDict, load_with_lines

QUESTION_SET_PATH = Path(__file__).resolve().parents[2] / "prompts" / "questions.yaml"
ACTION_FIELDS = ("what", "owner", "due_on", "contingency")
WHEN_IT_MATTERS = ("today", "visit", "supervision")
DEFAULT_ROLE = "social_worker"
# The one kind of action the question set recognises (Action.kind): a disagreement escalated.
ESCALATION = "escalation"
# A written answer this long already gives the detail a follow-up would ask for.
DETAIL_WORDS = 4

Kind = Literal["text", "choice", "multi", "scale", "date", "plan", "review"]
Matters = Literal["today", "visit", "supervision"]
Trend = Literal["flat", "falling", "rising"]


class QuestionSetError(ValueError):
    """The question set file is malformed; the message names the line and field at fault."""


# ---------------------------------------------------------------------- the file's shape


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionModel(_Strict):
    id: str = Field(min_length=1)
    label: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    # Words that choose this option when the answer is typed in the practitioner's own words.
    hears: tuple[str, ...] = ()


class ThemeModel(_Strict):
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    why: str = Field(min_length=1)
    gap: str = Field(min_length=1)


class RoleModel(_Strict):
    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    lead: bool = False
    leave_out: tuple[str, ...] = ()


class QuestionModel(_Strict):
    id: str = Field(min_length=1, max_length=64)
    theme: str
    kind: Kind
    label: str = Field(min_length=1)
    text: str = Field(min_length=1)
    options: tuple[OptionModel, ...] = ()
    follow_up: bool = False
    first: bool = False
    repeat: bool = False
    carry: bool = False
    core: bool = False
    not_for_leads: bool = False
    thin_below: int = Field(default=0, ge=0)
    unknown: str | None = None  # for a core question: what the supervisor might ask if skipped
    # The question's words for a role whose route differs (a social worker's is their manager).
    text_for: dict[str, str] = Field(default_factory=dict)
    # Answering it tells the practitioner's supervisor at once, not at the end.
    alerts_supervisor: bool = False
    # The option that stops the reflection here for now (saved, to be resumed later).
    pause_on: str | None = None
    # Not asked when the practitioner's words to this earlier question already answer it.
    answered_by: str | None = None
    # The option chosen when the practitioner's words choose none (for safety, "not sure").
    unheard: str | None = None
    # The answer becomes an action due today, put first in the plan.
    becomes_action: Literal["first"] | None = None
    # The answer is the contingency of every action lacking one, or replaces one a flag warns of.
    sets_contingency: Literal["missing", "warned"] | None = None


class MentionModel(_Strict):
    id: str = Field(min_length=1)
    confirm: str
    patterns: tuple[str, ...] = Field(min_length=1)
    also: tuple[str, ...] = ()
    negatable: bool = True
    unless: tuple[str, ...] = ()
    in_: tuple[str, ...] = Field(default=(), alias="in")
    not_in: tuple[str, ...] = ()
    needs: Literal["baby"] | None = None


class BabyModel(_Strict):
    """What makes a case one with a baby: the practitioner's role, or words in any answer."""

    roles: tuple[str, ...] = ()
    words: tuple[str, ...] = ()


# How a plan is held against the flags: it does not act today when something is for today; it
# involves the household first after a disclosure; a contingency repeats what a flag warns of.
PlanCheck = Literal[
    "misses_today", "tells_household", "repeats_warning", "closes_while_flagged", "rests_on_parent"
]


class ConditionModel(_Strict):
    answer: str | None = None
    is_: tuple[str, ...] = Field(default=(), alias="is")
    only: tuple[str, ...] = ()
    is_not: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    skipped: str | None = None
    skipped_at_least: int | None = Field(default=None, ge=1)
    meanwhile_vague: bool = False
    actions_missing: Literal["what", "owner", "due_on", "contingency"] | None = None
    actions_mention: tuple[str, ...] = ()
    case_open_days: int | None = Field(default=None, ge=0)
    earlier_reflections: int | None = Field(default=None, ge=1)
    earlier: ConditionModel | None = None
    scale_trend: tuple[Trend, ...] = ()
    role: tuple[str, ...] = ()
    plan_check: PlanCheck | None = None
    baby: bool | None = None
    all: tuple[ConditionModel, ...] = ()
    any: tuple[ConditionModel, ...] = ()
    not_: ConditionModel | None = Field(default=None, alias="not")


class RuleModel(_Strict):
    id: str = Field(min_length=1)
    when: ConditionModel
    ask: tuple[str, ...] = ()
    after: str | None = None
    flag: str | None = None
    matters: Matters | None = None
    title: str | None = None
    quotes: str | None = None
    immediate: bool = False
    see_alone: str | None = None
    look_for: str | None = None  # what to look for on the visit, in the summary's first screen
    warns: tuple[str, ...] = ()  # what the flag warns against, should a plan or contingency say it


class SettingsModel(_Strict):
    vague_contingencies: tuple[str, ...] = ()
    urgent_actions: tuple[str, ...] = ()
    escalation_actions: tuple[str, ...] = ()
    scale_flat_over: int = Field(default=3, ge=2)
    parent_only: tuple[str, ...] = ()
    acts_today: tuple[str, ...] = ()
    closing_actions: tuple[str, ...] = ()
    parent_reliance: tuple[str, ...] = ()
    today_words: tuple[str, ...] = ()
    household_first: tuple[str, ...] = ()
    lead_action: str = "Talk the case through with the safeguarding lead"
    lead_action_contingency: str = "Talk it through with my supervisor instead"


class DocumentModel(_Strict):
    version: str = "1"
    settings: SettingsModel = SettingsModel()
    themes: tuple[ThemeModel, ...] = Field(min_length=1)
    roles: tuple[RoleModel, ...] = ()
    questions: tuple[QuestionModel, ...] = Field(min_length=1)
    shorthand: dict[str, str] = Field(default_factory=dict)
    baby: BabyModel = field(default_factory=BabyModel)
    mentions: tuple[MentionModel, ...] = ()
    rules: tuple[RuleModel, ...] = ()


# ---------------------------------------------------------------------- what the rules see


@dataclass(frozen=True)
class AnswerState:
    """What the rules see of an answer: skipped, free text, or chosen option ids."""

    skipped: bool
    text: str = ""
    choices: tuple[str, ...] = ()
    # The ids of the mentions found in the text when it was written; None: not known, so the
    # text is scanned.
    mentions: frozenset[str] | None = None
    # A choice nobody was asked: the words written to the question it is ``answered_by``
    # already chose it, so rules read it as answered and the question is not asked.
    said: bool = False


@dataclass(frozen=True)
class Facts:
    """Everything a rule may look at: this reflection's answers and plan, and the case."""

    answers: Mapping[str, AnswerState]
    actions: Sequence[Mapping[str, Any]] = ()
    role: str = DEFAULT_ROLE
    is_lead: bool = False
    repeat: bool = False
    earlier_actions: int = 0  # actions of the last plan, reviewed in this one
    case_open_days: int = 0
    earlier_count: int = 0
    earlier: Mapping[str, AnswerState] = field(default_factory=dict)
    scales: Sequence[int] = ()  # the scale in earlier reflections, oldest first
    today: str = ""  # the practitioner's today, as an ISO date
    # The rules whose flags hold before the plan is held against them (plan checks read them).
    flagged: frozenset[str] = frozenset()
    today_rules: frozenset[str] = frozenset()  # of those, the ones for today
    concerns: frozenset[str] = frozenset()  # of those, the ones for today or the visit
    warnings: tuple[tuple[str, ...], ...] = ()  # what those flags warn against


@dataclass(frozen=True)
class Found:
    """A mention found in an answer: where, and the words to quote."""

    mention: str
    question: str
    quote: str


# ---------------------------------------------------------------------- the parts


_BUT = re.compile(r"\b(but|except|apart from|although)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    aliases: tuple[str, ...] = ()
    hears: Detector | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True)
class Theme:
    id: str
    title: str
    why: str
    gap: str
    number: int


@dataclass(frozen=True)
class Role:
    id: str
    title: str
    lead: bool
    leave_out: frozenset[str]


@dataclass(frozen=True)
class Question:
    id: str
    theme: str
    kind: str
    label: str
    text: str
    options: tuple[Option, ...] = ()
    follow_up: bool = False
    first: bool = False
    repeat: bool = False
    carry: bool = False
    core: bool = False
    not_for_leads: bool = False
    thin_below: int = 0
    unknown: str | None = None
    text_for: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    alerts_supervisor: bool = False
    pause_on: str | None = None
    becomes_action: str | None = None
    sets_contingency: str | None = None
    answered_by: str | None = None
    unheard: str | None = None

    @property
    def hears_words(self) -> bool:
        """Whether a choice can be answered in the practitioner's own words."""
        return self.kind in {"choice", "multi"} and any(o.hears for o in self.options)

    def is_chosen(self, value: str | None) -> bool:
        """Whether a stored value is option ids (chosen) rather than words typed."""
        ids = {o.id for o in self.options}
        return bool(value) and all(part in ids for part in (value or "").split(","))

    def heard(self, text: str) -> tuple[str, ...]:
        """The options the words choose: one for a choice, any for a multi."""
        found = tuple(o.id for o in self.options if o.hears and o.hears.find(text) is not None)
        # "None, asked about drink and drugs" is none: an answer that opens with none stands
        # alone, unless it goes on with a "but".
        alone = [o for o in found if o.startswith("none") or o == "nobody"]
        if alone and not _BUT.search(text):
            return (alone[0],)
        if not found and self.unheard is not None:
            return (self.unheard,)
        return found[:1] if self.kind == "choice" else found

    def says_none(self, text: str | None) -> bool:
        """Words to a choice that choose "none" alone: nothing there to listen for."""
        heard = self.heard(text or "") if self.hears_words else ()
        return len(heard) == 1 and (heard[0].startswith("none") or heard[0] == "nobody")

    def option(self, option_id: str) -> Option:
        return next(o for o in self.options if o.id == option_id)


@dataclass(frozen=True)
class Mention:
    id: str
    confirm: str
    detector: Detector
    in_: frozenset[str] = frozenset()
    not_in: frozenset[str] = frozenset()
    needs_baby: bool = False

    def applies_to(self, question_id: str) -> bool:
        if question_id in self.not_in:
            return False
        return not self.in_ or question_id in self.in_


@dataclass(frozen=True)
class Condition:
    model: ConditionModel
    settings: SettingsModel
    baby: BabyModel = field(default_factory=BabyModel)

    def holds(self, facts: Facts) -> bool:
        return _holds(self.model, facts, Context(self.settings, self.baby), facts.answers)

    def questions(self) -> Iterable[str]:
        return _named(self.model)


@dataclass(frozen=True)
class Rule:
    id: str
    when: Condition
    ask: tuple[str, ...] = ()
    flag: str | None = None
    after: str | None = None
    matters: str = "supervision"
    title: str | None = None
    quotes: str | None = None
    immediate: bool = False
    see_alone: str | None = None
    look_for: str | None = None
    warns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fired:
    """A rule whose flag fired, worded for the summary, with the words it quotes."""

    rule: str
    text: str
    matters: str
    title: str | None
    quote: str | None
    see_alone: str | None
    look_for: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "text": self.text,
            "matters": self.matters,
            "title": self.title,
            "quote": self.quote,
        }


@dataclass(frozen=True)
class QuestionSet:
    version: str
    settings: SettingsModel
    themes: tuple[Theme, ...]
    roles: Mapping[str, Role]
    questions: Mapping[str, Question]
    mentions: tuple[Mention, ...]
    rules: tuple[Rule, ...]
    _rules_after: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    baby: BabyModel = field(default_factory=BabyModel)

    @property
    def main(self) -> list[Question]:
        return [q for q in self.questions.values() if not q.follow_up]

    def role(self, role_id: str | None) -> Role:
        return self.roles.get(role_id or "") or self.roles[DEFAULT_ROLE]

    def theme(self, theme_id: str) -> Theme:
        return next(t for t in self.themes if t.id == theme_id)

    def main_for(self, facts: Facts) -> list[Question]:
        """The main questions this practitioner is asked: their role's set, first or repeat."""
        role = self.role(facts.role)
        return [
            q
            for q in self.main
            if q.id not in role.leave_out
            and not (q.first and facts.repeat)
            and not (q.repeat and not facts.repeat)
            and not (q.kind == "review" and not facts.earlier_actions)
            and not (q.not_for_leads and (facts.is_lead or role.lead))
        ]

    def mentions_in(self, question_id: str, text: str | None) -> tuple[str, ...]:
        """The ids of the mentions ``text``, written in answer to ``question_id``, makes."""
        if not text:
            return ()
        return tuple(
            m.id
            for m in self.mentions
            if m.applies_to(question_id) and m.detector.find(text) is not None
        )

    def mention_places(
        self, answers: Mapping[str, AnswerState], facts: Facts | None = None
    ) -> dict[str, str]:
        """Each mention's first appearance in the written answers, in question order, as the
        question it appears in; from the mentions recorded with each answer where known, so
        no answer's text is read. Given the facts, a mention that needs a case with a baby
        counts only in one."""
        places: dict[str, str] = {}
        baby: bool | None = None if facts is not None else True
        for question in self.questions.values():
            state = answers.get(question.id)
            if state is None or state.skipped:
                continue
            made = state.mentions
            if made is None:
                made = frozenset(self.mentions_in(question.id, state.text))
            for mention in self.mentions:
                if mention.id not in made or not mention.applies_to(question.id):
                    continue
                if mention.needs_baby:
                    if baby is None:  # read the answers for a baby only when it matters
                        assert facts is not None
                        baby = has_baby(facts, self.baby, answers)
                    if not baby:
                        continue
                places.setdefault(mention.id, question.id)
        return places

    def strongest(self, mention_id: str, answers: Mapping[str, AnswerState]) -> str | None:
        """The strongest words for a mention across the written answers (the first of equals,
        in question order): a later account of drinking rather than an earlier passing word."""
        mention = next(m for m in self.mentions if m.id == mention_id)
        best: Heard | None = None
        for question in self.questions.values():
            state = answers.get(question.id)
            if state is None or state.skipped or not mention.applies_to(question.id):
                continue
            if state.mentions is not None and mention_id not in state.mentions:
                continue
            heard = mention.detector.hear(state.text)
            if heard is not None and (best is None or heard.rank < best.rank):
                best = heard
        return best.quote if best else None

    def found_mentions(self, answers: Mapping[str, AnswerState]) -> dict[str, Found]:
        """Each mention's first appearance in the written answers, in question order, with
        the words to quote (read from that answer's text)."""
        by_id = {m.id: m for m in self.mentions}
        found = {}
        for mention_id, question_id in self.mention_places(answers).items():
            quote = by_id[mention_id].detector.find(answers[question_id].text)
            found[mention_id] = Found(mention_id, question_id, quote or "")
        return found

    def path(self, facts: Facts) -> list[Question]:
        """The questions this reflection asks, in order, given the answers so far."""
        confirms_after: dict[str, list[str]] = {}
        by_id = {m.id: m for m in self.mentions}
        for mention_id, question_id in self.mention_places(facts.answers, facts).items():
            confirms_after.setdefault(question_id, []).append(by_id[mention_id].confirm)
        ordered: list[Question] = []
        seen: set[str] = set()

        def visit(question: Question) -> None:
            if question.id in seen:
                return
            seen.add(question.id)
            state = facts.answers.get(question.id)
            if (state is not None and not state.said) or not self.already_said(
                question, facts.answers
            ):
                ordered.append(question)
            for confirm in confirms_after.get(question.id, ()):
                visit(self.questions[confirm])
            for rule in self._rules_after.get(question.id, ()):
                if rule.when.holds(facts):
                    for follow_up in rule.ask:
                        visit(self.questions[follow_up])

        for question in self.main_for(facts):
            visit(question)
        return ordered

    def already_said(self, question: Question, answers: Mapping[str, AnswerState]) -> bool:
        """Whether what was written to the question it is ``answered_by`` already answers it:
        a choice the words choose, or the detail a written answer already gives."""
        source = answers.get(question.answered_by or "")
        if source is None or source.skipped or not source.text.strip():
            return False
        if question.kind in {"choice", "multi"}:
            return bool(question.heard(source.text))
        return len(source.text.split()) >= DETAIL_WORDS

    def with_said(self, answers: Mapping[str, AnswerState]) -> dict[str, AnswerState]:
        """The answers, with the choices that earlier words already made."""
        said = dict(answers)
        for question in self.questions.values():
            if question.id in said or question.kind not in {"choice", "multi"}:
                continue
            if question.answered_by and self.already_said(question, answers):
                source = answers[question.answered_by]
                said[question.id] = AnswerState(
                    skipped=False, text=source.text, choices=question.heard(source.text), said=True
                )
        return said

    def fired(self, facts: Facts) -> list[Fired]:
        """Every flag that holds, with its quote filled in."""
        places = self.mention_places(facts.answers, facts)
        result = []
        for rule in self.rules:
            if not rule.flag or not rule.when.holds(facts):
                continue
            quote = None
            if rule.quotes in places:  # only now are the answers that made the mention read
                quote = self.strongest(rule.quotes, facts.answers)
            text = rule.flag.replace("{quote}", quote) if quote else _unquoted(rule.flag)
            fired = Fired(
                rule.id, text, rule.matters, rule.title, quote, rule.see_alone, rule.look_for
            )
            result.append((rule.quotes, fired))
        return _one_flag_per_quote(result)

    def immediate(self, facts: Facts, answered: str) -> list[Fired]:
        """Immediate-risk rules that an answer to ``answered`` has just made hold."""
        return [
            f
            for f in self.fired(facts)
            if (rule := self._rule(f.rule)).immediate and answered in set(rule.when.questions())
        ]

    def warned(self, facts: Facts, contingency: str) -> bool:
        """Whether a contingency falls back on what a flag that holds warns against."""
        warned = [p for rule in facts.warnings for p in rule]
        return bool(warned) and bool(_any_pattern(tuple(warned)).search(contingency))

    def household_first(self, facts: Facts) -> Mapping[str, Any] | None:
        return _household_first([a for a in facts.actions if a.get("what")], self.settings)

    def holding_plan(self, facts: Facts) -> Facts:
        """The facts with the flags that hold before the plan is checked against them, so
        plan checks can read them (a plan check never feeds another)."""
        if not facts.actions:
            return facts
        fired = [self._rule(f.rule) for f in self.fired(facts)]
        return replace(
            facts,
            flagged=frozenset(r.id for r in fired),
            today_rules=frozenset(r.id for r in fired if r.immediate and r.matters == "today"),
            concerns=frozenset(r.id for r in fired if r.matters in {"today", "visit"}),
            warnings=tuple(r.warns for r in fired if r.warns),
        )

    def is_immediate(self, rule_id: str) -> bool:
        return self._rule(rule_id).immediate

    def _rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def quote(self, answers: Mapping[str, AnswerState], confirm_question: str) -> str | None:
        """The words that made a confirming question be asked."""
        for mention in self.mentions:
            if mention.confirm == confirm_question:
                place = self.mention_places(answers).get(mention.id)
                heard = mention.detector.hear(answers[place].text) if place else None
                return heard.quote if heard else None
        return None

    def is_urgent_action(self, what: str) -> bool:
        return bool(_any_pattern(self.settings.urgent_actions).search(what or ""))

    def action_kind(self, what: str | None) -> str | None:
        """The kind of step an action's wording describes, kept as a plain code beside it:
        ESCALATION when it names one that is not negated ("no need to escalate" is none)."""
        detector = _detector(self.settings.escalation_actions)
        if detector is not None and detector.find(what or "") is not None:
            return ESCALATION
        return None


def _one_flag_per_quote(fired: list[tuple[str | None, Fired]]) -> list[Fired]:
    """Two flags quoting the same words for the same mention are one concern said twice: keep
    the one that matters soonest (the first of equals)."""
    urgency = {m: n for n, m in enumerate(WHEN_IT_MATTERS)}
    kept: dict[tuple[str | None, str], Fired] = {}
    for mention, f in fired:
        if f.quote is None:
            continue
        held = kept.get((mention, f.quote))
        if held is None or urgency[f.matters] < urgency[held.matters]:
            kept[(mention, f.quote)] = f
    return [f for m, f in fired if f.quote is None or kept[(m, f.quote)] is f]


def _unquoted(flag: str) -> str:
    # A quoting flag fired without its mention (e.g. ticked rather than written): drop the quote.
    return re.sub(r'[:,]?\s*you wrote "\{quote\}"\.?', ".", flag).replace("..", ".")


def _option_detector(
    patterns: tuple[str, ...], document: Mapping[str, Any], loc: Sequence[Any]
) -> Detector | None:
    if not patterns:
        return None
    try:
        return Detector(patterns)
    except re.error as exc:
        raise QuestionSetError(f"{_where(document, loc)}: not a valid pattern ({exc})") from None


@cache
def _detector(patterns: tuple[str, ...]) -> Detector | None:
    return Detector(patterns) if patterns else None


@cache
def _any_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    if not patterns:
        return re.compile(r"(?!x)x")
    return re.compile("|".join(rf"\b(?:{p})" for p in patterns), re.IGNORECASE)


# ---------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Context:
    """What a condition is read against besides the facts: the settings, and what makes a case
    one with a baby."""

    settings: SettingsModel
    baby: BabyModel = field(default_factory=BabyModel)


def has_baby(facts: Facts, baby: BabyModel, answers: Mapping[str, AnswerState]) -> bool:
    """A case with a baby: the practitioner's role is one that works with babies, or an answer
    says so (a baby, an age in weeks or months, a pregnancy)."""
    if facts.role in baby.roles:
        return True
    pattern = _any_pattern(baby.words)
    return bool(baby.words) and any(
        not a.skipped
        and (pattern.search(a.text) or any(pattern.search(f"{q}:{c}") for c in a.choices))
        for q, a in answers.items()
    )


def _holds(
    model: ConditionModel, facts: Facts, context: Context, answers: Mapping[str, AnswerState]
) -> bool:
    settings = context.settings
    checks = [
        all(_holds(c, facts, context, answers) for c in model.all),
        not model.any or any(_holds(c, facts, context, answers) for c in model.any),
        model.not_ is None or not _holds(model.not_, facts, context, answers),
        model.skipped is None or _skipped(model.skipped, answers),
        model.skipped_at_least is None
        or sum(1 for a in answers.values() if a.skipped) >= model.skipped_at_least,
        not model.meanwhile_vague or any(_vague_meanwhile(a, settings) for a in facts.actions),
        model.actions_missing is None
        or any(_missing(a, model.actions_missing, settings, facts.today) for a in facts.actions),
        not model.actions_mention
        or any(
            _any_pattern(model.actions_mention).search(a.get("what") or "") for a in facts.actions
        ),
        model.case_open_days is None or facts.case_open_days >= model.case_open_days,
        model.earlier_reflections is None or facts.earlier_count >= model.earlier_reflections,
        model.earlier is None
        or (bool(facts.earlier) and _holds(model.earlier, facts, context, facts.earlier)),
        not model.scale_trend or _trend(answers, facts, settings) in model.scale_trend,
        not model.role or facts.role in model.role,
        model.plan_check is None or _plan_check(model.plan_check, facts, settings),
        model.baby is None or has_baby(facts, context.baby, answers) is model.baby,
    ]
    if not all(checks):
        return False
    if model.answer is None:
        return True
    state = answers.get(model.answer)
    chosen = () if state is None or state.skipped else state.choices
    if model.is_not:
        return not set(chosen) & set(model.is_not)
    if state is None or state.skipped:
        return False
    if model.is_ and not set(chosen) & set(model.is_):
        return False
    if model.only and not (chosen and set(chosen) <= set(model.only)):
        return False
    return not (model.mentions and not _any_pattern(model.mentions).search(state.text))


def _plan_check(check: str, facts: Facts, settings: SettingsModel) -> bool:
    actions = [a for a in facts.actions if a.get("what")]
    if not actions:
        return False
    if check == "misses_today":
        return bool(facts.flagged & facts.today_rules) and not any(
            _acts_today(a, facts.today, settings) for a in actions
        )
    if check == "tells_household":
        first = _household_first(actions, settings)
        return "disclosure" in facts.flagged and first is not None
    if check == "closes_while_flagged":
        closing = _any_pattern(settings.closing_actions)
        return bool(facts.concerns) and any(
            closing.search(a.get("what") or "") or closing.search(a.get("contingency") or "")
            for a in actions
        )
    if check == "rests_on_parent":
        parent = _any_pattern(settings.parent_reliance)
        return bool(facts.concerns) and any(
            parent.search(a.get("contingency") or "") for a in actions
        )
    warned = [p for rule in facts.warnings for p in rule]
    if not warned:
        return False
    pattern = _any_pattern(tuple(warned))
    return any(pattern.search(a.get("contingency") or "") for a in actions)


def _acts_today(action: Mapping[str, Any], today: str, settings: SettingsModel) -> bool:
    """An action that refers or rings today: urgent in its wording, and dated today (or saying
    "today", "now"...)."""
    what = action.get("what") or ""
    if not _any_pattern(settings.acts_today).search(what):
        return False
    due = action.get("due_on")
    return bool(due and due <= today) or bool(_any_pattern(settings.today_words).search(what))


def _household_first(
    actions: Sequence[Mapping[str, Any]], settings: SettingsModel
) -> Mapping[str, Any] | None:
    """The action that involves the household before any referral, after a disclosure. Ringing
    children's social care, the police or the safeguarding lead ("ring CSC today") comes first
    as a referral does."""
    household = _any_pattern(settings.household_first)
    urgent = _any_pattern((*settings.urgent_actions, *settings.acts_today))
    for action in actions:
        what = action.get("what") or ""
        if urgent.search(what) and not household.search(what):
            return None
        if household.search(what):
            return action
    return None


def _skipped(question_id: str, answers: Mapping[str, AnswerState]) -> bool:
    state = answers.get(question_id)
    return state is not None and state.skipped


def _vague_meanwhile(action: Mapping[str, Any], settings: SettingsModel) -> bool:
    """An answer to "what happens to the child until then?" that is hope, or rests on the
    parent alone."""
    meanwhile = str(action.get("meanwhile") or "").strip()
    if not meanwhile:
        return False
    if _any_pattern(settings.parent_only).search(meanwhile):
        return True
    return is_vague_contingency(meanwhile, str(action.get("what") or ""), settings)


def _missing(
    action: Mapping[str, Any], name: str, settings: SettingsModel, today: str = ""
) -> bool:
    if name == "contingency" and today and (action.get("due_on") or "9999") <= today:
        return False  # done today: if it isn't, that is for the manager today, not a plan B
    value = action.get(name)
    if not value:
        return True
    if name != "contingency":
        return False
    return is_vague_contingency(str(value), str(action.get("what") or ""), settings)


_FILLER = re.compile(
    r"\b(?:and|or|then|the|it|things|situation|closely|will|we|i|to|continue|keep|on|going|"
    r"ongoing|case|child|family)\b|[^\w\s]",
    re.IGNORECASE,
)


def is_vague_contingency(contingency: str, what: str, settings: SettingsModel) -> bool:
    """ "Continue to monitor", "review", "n/a", or the action said again, is no contingency."""
    text = contingency.strip().lower()
    if _normal(text) == _normal(what) or (_normal(text) and _normal(text) in _normal(what)):
        return True
    rest = _any_pattern(settings.vague_contingencies).sub(" ", text)
    return not _FILLER.sub(" ", rest).strip()


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _trend(answers: Mapping[str, AnswerState], facts: Facts, settings: SettingsModel) -> str | None:
    state = answers.get("scale")
    if state is None or state.skipped or not state.text.isdigit() or not facts.scales:
        return None
    values = [*facts.scales, int(state.text)]
    if values[-1] < values[-2]:
        return "falling"
    if values[-1] > values[-2]:
        return "rising"
    window = values[-settings.scale_flat_over :]
    if len(window) >= settings.scale_flat_over and len(set(window)) == 1:
        return "flat"
    return None


def _named(model: ConditionModel) -> Iterable[str]:
    if model.answer:
        yield model.answer
    if model.skipped:
        yield model.skipped
    for child in (*model.all, *model.any):
        yield from _named(child)
    if model.not_ is not None:
        yield from _named(model.not_)


# ---------------------------------------------------------------------- loading


def parse_question_set(document: Mapping[str, Any]) -> QuestionSet:
    try:
        model = DocumentModel.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise QuestionSetError(_where(document, error["loc"]) + f": {error['msg']}") from None
    return _build(model, document)


def _where(document: Any, loc: Sequence[Any]) -> str:
    """'line N, questions[3].kind' for a pydantic location, reading lines from the YAML."""
    node, line = document, 0
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            parts.append(f"[{part}]")
            node = node[part]
            line = getattr(node, "line", line)
        elif isinstance(part, str) and isinstance(node, dict):
            key = {"is_": "is", "not_": "not", "in_": "in"}.get(part, part)
            parts.append(("." if parts else "") + key)
            if isinstance(node, LinedDict):
                line = node.key_lines.get(key, node.line)
            node = node.get(key)
        elif isinstance(part, str) and part not in {"function-after", "tagged-union"}:
            parts.append(("." if parts else "") + part)
    named = "".join(parts)
    ident = node.get("id") if isinstance(node, dict) else None
    label = f"{named} ({ident})" if ident else named
    return f"line {line}, {label}" if line else label


def _build(model: DocumentModel, document: Mapping[str, Any]) -> QuestionSet:
    def refuse(loc: Sequence[Any], message: str) -> QuestionSetError:
        return QuestionSetError(f"{_where(document, loc)}: {message}")

    themes = tuple(
        Theme(t.id, t.title, t.why, t.gap, number) for number, t in enumerate(model.themes, 1)
    )
    theme_ids = {t.id for t in themes}
    questions: dict[str, Question] = {}
    for index, q in enumerate(model.questions):
        loc = ("questions", index)
        if q.id in questions:
            raise refuse((*loc, "id"), f"duplicate question id '{q.id}'")
        if q.theme not in theme_ids:
            raise refuse((*loc, "theme"), f"unknown theme '{q.theme}'")
        if q.core and not q.unknown:
            raise refuse((*loc, "core"), "a core question needs 'unknown': what to ask if skipped")
        if q.kind in {"choice", "multi", "review"} and len(q.options) < 2:
            raise refuse((*loc, "options"), f"a {q.kind} question needs at least two options")
        questions[q.id] = Question(
            id=q.id,
            theme=q.theme,
            kind=q.kind,
            label=q.label,
            text=q.text,
            options=tuple(
                Option(
                    o.id,
                    o.label,
                    tuple(a.lower() for a in o.aliases),
                    _option_detector(o.hears, document, (*loc, "options")),
                )
                for o in q.options
            ),
            follow_up=q.follow_up,
            first=q.first,
            repeat=q.repeat,
            carry=q.carry,
            core=q.core,
            not_for_leads=q.not_for_leads,
            thin_below=q.thin_below,
            unknown=q.unknown,
            text_for=dict(q.text_for),
            alerts_supervisor=q.alerts_supervisor,
            pause_on=q.pause_on,
            becomes_action=q.becomes_action,
            answered_by=q.answered_by,
            unheard=q.unheard,
            sets_contingency=q.sets_contingency,
        )
    order = list(questions)
    for index, q in enumerate(model.questions):
        source = q.answered_by
        if source is not None and (
            source not in questions or order.index(source) >= order.index(q.id)
        ):
            raise refuse(
                ("questions", index, "answered_by"), f"'{source}' is not a question asked before"
            )
    if sum(1 for q in questions.values() if q.kind == "plan") != 1:
        raise QuestionSetError("questions: exactly one plan question is needed")
    covered = {q.theme for q in questions.values() if not q.follow_up}
    missing = [t.id for t in themes if t.id not in covered]
    if missing:
        raise refuse(("themes",), f"themes with no question: {missing}")

    roles: dict[str, Role] = {}
    for index, role in enumerate(model.roles):
        for qid in role.leave_out:
            if qid not in questions:
                raise refuse(("roles", index, "leave_out"), f"unknown question '{qid}'")
        roles[role.id] = Role(role.id, role.title, role.lead, frozenset(role.leave_out))
    roles.setdefault(DEFAULT_ROLE, Role(DEFAULT_ROLE, "Practitioner", False, frozenset()))

    mentions: list[Mention] = []
    confirms: set[str] = set()
    for index, m in enumerate(model.mentions):
        loc = ("mentions", index)
        question = questions.get(m.confirm)
        if question is None or not question.follow_up or question.kind != "choice":
            raise refuse((*loc, "confirm"), f"'{m.confirm}' is not a follow-up choice question")
        for qid in (*m.in_, *m.not_in):
            if qid not in questions:
                raise refuse((*loc, "in"), f"unknown question '{qid}'")
        try:
            detector = Detector(
                m.patterns, m.also, m.negatable, m.unless, tuple(model.shorthand.items())
            )
        except re.error as exc:
            raise refuse((*loc, "patterns"), f"not a valid pattern ({exc})") from None
        confirms.add(m.confirm)
        mentions.append(
            Mention(
                m.id,
                m.confirm,
                detector,
                frozenset(m.in_),
                frozenset(m.not_in),
                needs_baby=m.needs == "baby",
            )
        )
    mention_ids = {m.id for m in mentions}
    try:
        _any_pattern(model.baby.words)
    except re.error as exc:
        raise refuse(("baby", "words"), f"not a valid pattern ({exc})") from None
    for key in ("vague_contingencies", "urgent_actions", "escalation_actions", "parent_only"):
        try:
            _any_pattern(getattr(model.settings, key))
        except re.error as exc:
            raise refuse(("settings", key), f"not a valid pattern ({exc})") from None

    order = list(questions)
    rules: list[Rule] = []
    for index, r in enumerate(model.rules):
        loc = ("rules", index)
        named = list(_named(r.when))
        for qid in named:
            if qid not in questions:
                raise refuse((*loc, "when"), f"unknown question '{qid}'")
        _check_options(r.when, questions, lambda m, loc=loc: refuse((*loc, "when"), m))
        for qid in r.ask:
            if qid not in questions or not questions[qid].follow_up:
                raise refuse((*loc, "ask"), f"'{qid}' is not a follow-up question")
        placed = [q for q in named if q not in confirms] or named
        after = r.after or (max(placed, key=order.index) if placed else None)
        if r.ask and after is None:
            raise refuse(loc, "a rule that asks needs a question to follow ('after')")
        if after is not None and after not in questions:
            raise refuse((*loc, "after"), f"unknown question '{after}'")
        if not r.ask and not r.flag:
            raise refuse(loc, "a rule needs 'ask', 'flag' or both")
        if r.flag and r.matters is None:
            raise refuse((*loc, "flag"), f"a flag needs 'matters': one of {list(WHEN_IT_MATTERS)}")
        if r.quotes is not None and r.quotes not in mention_ids:
            raise refuse((*loc, "quotes"), f"unknown mention '{r.quotes}'")
        if r.flag and "{quote}" in r.flag and r.quotes is None:
            raise refuse((*loc, "flag"), "a flag with {quote} needs 'quotes'")
        rules.append(
            Rule(
                id=r.id,
                when=Condition(r.when, model.settings, model.baby),
                ask=r.ask,
                flag=r.flag,
                after=after,
                matters=r.matters or "supervision",
                title=r.title,
                quotes=r.quotes,
                immediate=r.immediate,
                see_alone=r.see_alone,
                look_for=r.look_for,
                warns=r.warns,
            )
        )
    rules_after: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.ask and rule.after:
            rules_after.setdefault(rule.after, []).append(rule)
    return QuestionSet(
        version=model.version,
        settings=model.settings,
        themes=themes,
        roles=roles,
        questions=questions,
        mentions=tuple(mentions),
        rules=tuple(rules),
        _rules_after={k: tuple(v) for k, v in rules_after.items()},
        baby=model.baby,
    )


def _check_options(
    condition: ConditionModel,
    questions: Mapping[str, Question],
    refuse: Any,
) -> None:
    if condition.answer and condition.answer not in questions:
        raise refuse(f"unknown question '{condition.answer}'")
    if condition.answer:
        valid = {o.id for o in questions[condition.answer].options}
        for value in (*condition.is_, *condition.only, *condition.is_not):
            if value not in valid:
                raise refuse(f"'{value}' is not an option of question '{condition.answer}'")
    for child in (*condition.all, *condition.any):
        _check_options(child, questions, refuse)
    for maybe in (condition.not_, condition.earlier):
        if maybe is not None:
            _check_options(maybe, questions, refuse)


def load_question_set(path: Path = QUESTION_SET_PATH) -> QuestionSet:
    try:
        document = load_with_lines(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else path.name
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise QuestionSetError(f"{path.name}, {where}: {problem}") from None
    if not isinstance(document, dict):
        raise QuestionSetError(f"{path.name}: expected a mapping with themes and questions")
    try:
        return parse_question_set(document)
    except QuestionSetError as exc:
        raise QuestionSetError(f"{path.name}, {exc}") from None


@cache
def default_question_set() -> QuestionSet:
    return load_question_set()
