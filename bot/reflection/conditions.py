"""Whether a rule's condition holds: the answers, the plan, the case, and a case with a baby."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.reflection.facts import AnswerState, Facts
from bot.reflection.plan_checks import action_lacks, any_pattern, plan_check_holds, vague_meanwhile
from bot.reflection.question_file import BabyModel, ConditionModel, SettingsModel


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
    pattern = any_pattern(baby.words)
    return bool(baby.words) and any(
        not a.skipped
        and (pattern.search(a.text) or any(pattern.search(f"{q}:{c}") for c in a.choices))
        for q, a in answers.items()
    )


def holds(
    model: ConditionModel, facts: Facts, context: Context, answers: Mapping[str, AnswerState]
) -> bool:
    settings = context.settings
    checks = [
        all(holds(c, facts, context, answers) for c in model.all),
        not model.any or any(holds(c, facts, context, answers) for c in model.any),
        model.not_ is None or not holds(model.not_, facts, context, answers),
        model.skipped is None or was_skipped(model.skipped, answers),
        model.skipped_at_least is None
        or sum(1 for a in answers.values() if a.skipped) >= model.skipped_at_least,
        not model.meanwhile_vague or any(vague_meanwhile(a, settings) for a in facts.actions),
        model.actions_missing is None
        or any(
            action_lacks(a, model.actions_missing, settings, facts.today) for a in facts.actions
        ),
        not model.actions_mention
        or any(
            any_pattern(model.actions_mention).search(a.get("what") or "") for a in facts.actions
        ),
        model.case_open_days is None or facts.case_open_days >= model.case_open_days,
        model.earlier_reflections is None or facts.earlier_count >= model.earlier_reflections,
        model.earlier is None
        or (bool(facts.earlier) and holds(model.earlier, facts, context, facts.earlier)),
        not model.scale_trend or scale_trend_of(answers, facts, settings) in model.scale_trend,
        not model.role or facts.role in model.role,
        model.plan_check is None or plan_check_holds(model.plan_check, facts, settings),
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
    return not (model.mentions and not any_pattern(model.mentions).search(state.text))


def was_skipped(question_id: str, answers: Mapping[str, AnswerState]) -> bool:
    state = answers.get(question_id)
    return state is not None and state.skipped


def scale_trend_of(
    answers: Mapping[str, AnswerState], facts: Facts, settings: SettingsModel
) -> str | None:
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


def named_in(model: ConditionModel) -> Iterable[str]:
    if model.answer:
        yield model.answer
    if model.skipped:
        yield model.skipped
    for child in (*model.all, *model.any):
        yield from named_in(child)
    if model.not_ is not None:
        yield from named_in(model.not_)
