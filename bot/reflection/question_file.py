"""The question set file's shape: pydantic models that check prompts/questions.yaml as written.

Cross-references (a rule naming a question or an option that does not exist) are checked when the
parts are built, in bot/reflection/questions.py; either way the error names the line and field.
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["text", "choice", "multi", "scale", "date", "plan", "review"]
Matters = Literal["today", "visit", "supervision"]
Trend = Literal["flat", "falling", "rising"]


class QuestionSetError(ValueError):
    """The question set file is malformed; the message names the line and field at fault."""


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
    # Those words answer it only when they choose one of these (a "nothing" said to a wider
    # question does not answer this narrower one).
    answered_only_with: tuple[str, ...] = ()
    # An option chosen for that earlier question that answers this one, and how: a parent's
    # illness, chosen among identity and needs, says there is a medical condition.
    answered_by_choices: dict[str, str] = Field(default_factory=dict)
    # On a repeat reflection: the carried questions not chosen here keep last time's answers.
    keeps_carried: bool = False
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
