"""The blind vignettes, written by practitioners who had not read the rules, scored as
``python -m tests.practice.blind`` scores them: what a good supervisor would raise is raised,
good practice raises nothing, and a child who needs help today is met with the today message
before the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.encryption import keyring
from tests.conftest import TEST_KEY
from tests.practice import blind

# The share of expected concerns the first blind set must raise, and the generalisation set.
RAISED_AT_LEAST = 0.85
GENERALISATION_RAISED_AT_LEAST = 0.95


@pytest.fixture(scope="module")
def first_set(tmp_path_factory: pytest.TempPathFactory) -> list[blind.Score]:
    keyring.configure([TEST_KEY])
    return blind.score_set("blind", Path(tmp_path_factory.mktemp("blind")))


def test_the_set_is_blind_and_covers_every_role(first_set: list[blind.Score]) -> None:
    vignettes = [s.vignette for s in first_set]
    assert len([v for v in vignettes if v.kind == "case"]) >= 30
    assert len([v for v in vignettes if v.kind == "control"]) >= 5
    assert {v.role for v in vignettes} == set(blind.driver.AGENCY_NAMES)


def test_what_a_supervisor_would_raise_is_raised(first_set: list[blind.Score]) -> None:
    totals = blind.totals(first_set)
    missed = {s.vignette.name: s.missed for s in first_set if s.missed}
    assert totals.share >= RAISED_AT_LEAST, (totals, missed)


def test_good_practice_raises_nothing(first_set: list[blind.Score]) -> None:
    alarms = {s.vignette.name: s.false_alarms for s in first_set if s.false_alarms}
    assert not alarms


def test_the_today_message_comes_wherever_it_is_due(first_set: list[blind.Score]) -> None:
    late = [s.vignette.name for s in first_set if s.vignette.today and "today" not in s.raised]
    assert not late


def test_every_reflection_completes(first_set: list[blind.Score]) -> None:
    stuck = [s.vignette.name for s in first_set if s.run.status != 0]
    assert not stuck


@pytest.fixture(scope="module")
def generalisation_set(tmp_path_factory: pytest.TempPathFactory) -> list[blind.Score]:
    keyring.configure([TEST_KEY])
    return blind.score_set("blind2", Path(tmp_path_factory.mktemp("blind2")))


def test_what_a_supervisor_would_raise_is_raised_in_other_words_too(
    generalisation_set: list[blind.Score],
) -> None:
    totals = blind.totals(generalisation_set)
    missed = {s.vignette.name: s.missed for s in generalisation_set if s.missed}
    assert totals.share >= GENERALISATION_RAISED_AT_LEAST, (totals, missed)
    alarms = {s.vignette.name: s.false_alarms for s in generalisation_set if s.false_alarms}
    assert not alarms
    late = [
        s.vignette.name for s in generalisation_set if s.vignette.today and "today" not in s.raised
    ]
    assert not late
