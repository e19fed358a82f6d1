"""How a plan is held to account: against the flags (nothing today when something is for today,
the household told before a referral, a contingency that repeats a warning, closing while
concerns stand, a contingency resting on the parent), and what counts as no contingency."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from bot.reflection.facts import Facts
from bot.reflection.question_file import SettingsModel


@cache
def any_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern matching any of these, each from the start of a word, in any case."""
    if not patterns:
        return re.compile(r"(?!x)x")
    return re.compile("|".join(rf"\b(?:{p})" for p in patterns), re.IGNORECASE)


def plan_check_holds(check: str, facts: Facts, settings: SettingsModel) -> bool:
    """Whether the plan fails the named check (a rule's ``plan_check``)."""
    actions = [a for a in facts.actions if a.get("what")]
    if not actions:
        return False
    if check == "misses_today":
        return bool(facts.flagged & facts.today_rules) and not any(
            acts_today(a, facts.today, settings) for a in actions
        )
    if check == "tells_household":
        first = household_first_action(actions, settings)
        return "disclosure" in facts.flagged and first is not None
    if check == "closes_while_flagged":
        closing = any_pattern(settings.closing_actions)
        return bool(facts.concerns) and any(
            closing.search(a.get("what") or "") or closing.search(a.get("contingency") or "")
            for a in actions
        )
    if check == "rests_on_parent":
        parent = any_pattern(settings.parent_reliance)
        return bool(facts.concerns) and any(
            parent.search(a.get("contingency") or "") for a in actions
        )
    warned = [p for rule in facts.warnings for p in rule]
    if not warned:
        return False
    pattern = any_pattern(tuple(warned))
    return any(pattern.search(a.get("contingency") or "") for a in actions)


def acts_today(action: Mapping[str, Any], today: str, settings: SettingsModel) -> bool:
    """An action that refers or rings today: urgent in its wording, and dated today (or saying
    "today", "now"...)."""
    what = action.get("what") or ""
    if not any_pattern(settings.acts_today).search(what):
        return False
    due = action.get("due_on")
    return bool(due and due <= today) or bool(any_pattern(settings.today_words).search(what))


def household_first_action(
    actions: Sequence[Mapping[str, Any]], settings: SettingsModel
) -> Mapping[str, Any] | None:
    """The action that involves the household before any referral, after a disclosure. Ringing
    children's social care, the police or the safeguarding lead ("ring CSC today") comes first
    as a referral does."""
    household = any_pattern(settings.household_first)
    urgent = any_pattern((*settings.urgent_actions, *settings.acts_today))
    for action in actions:
        what = action.get("what") or ""
        if urgent.search(what) and not household.search(what):
            return None
        if household.search(what):
            return action
    return None


def vague_meanwhile(action: Mapping[str, Any], settings: SettingsModel) -> bool:
    """An answer to "what happens to the child until then?" that is hope, or rests on the
    parent alone."""
    meanwhile = str(action.get("meanwhile") or "").strip()
    if not meanwhile:
        return False
    if any_pattern(settings.parent_only).search(meanwhile):
        return True
    return is_vague_contingency(meanwhile, str(action.get("what") or ""), settings)


def action_lacks(
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
    r"\b(?:and|or|then|the|it|things|situation|closely|will|ill|ll|we|i|to|continue|keep|on|going|"
    r"ongoing|case|child|family)\b|[^\w\s]",
    re.IGNORECASE,
)


def is_vague_contingency(contingency: str, what: str, settings: SettingsModel) -> bool:
    """ "Continue to monitor", "review", "n/a", or the action said again, is no contingency."""
    text = contingency.strip().lower()
    if _normal(text) == _normal(what) or (_normal(text) and _normal(text) in _normal(what)):
        return True
    rest = any_pattern(settings.vague_contingencies).sub(" ", text)
    return not _FILLER.sub(" ", rest).strip()


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
