"""docs/practice.md is what a partnership's practice lead reviews: it must name every role,
question, mention and flag the question set has, so a change to prompts/questions.yaml that
the page does not yet describe is noticed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.reflection.questions import default_question_set

PAGE = Path(__file__).resolve().parents[2] / "docs" / "practice.md"
QUESTIONS = default_question_set()
NAMED = {
    "role": sorted(QUESTIONS.roles),
    "question": sorted(
        q.id for q in QUESTIONS.questions.values() if not q.id.startswith("confirm_")
    ),
    "mention": sorted(m.id for m in QUESTIONS.mentions),
    "flag": sorted(r.id for r in QUESTIONS.rules if r.flag),
}


@pytest.mark.parametrize("kind", sorted(NAMED))
def test_the_practice_page_names_every(kind: str) -> None:
    page = PAGE.read_text(encoding="utf-8")
    missing = [name for name in NAMED[kind] if f"`{name}`" not in page]
    assert not missing, f"docs/practice.md does not describe these {kind}s: {missing}"


def test_the_practice_page_names_every_vignette() -> None:
    page = PAGE.read_text(encoding="utf-8")
    stems = sorted(p.stem for p in (Path(__file__).parent / "vignettes").glob("*.yaml"))
    assert [s for s in stems if f"`{s}`" not in page] == []
