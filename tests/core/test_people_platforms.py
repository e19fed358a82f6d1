"""A person is reached on the platform the organisation file names: ``slack_id:`` or
``teams_id:`` (their Microsoft Entra object ID). Files with only slack_id keep working, one file
may mix the two, and someone named with both is reached where the file's ``platform:`` says
(Slack when it does not)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.admin.organisation import OrganisationFileError, load_organisation
from bot.identity import is_person_id, platform_of
from storage.db import SessionFactory
from storage.models import Person, SafeguardingLead

TEAMS_PRAC = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
TEAMS_SUPV = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
TEAMS_LEAD = "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"

TEAMS_ONLY = f"""\
agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [{TEAMS_LEAD.upper()}]
people:
  - teams_id: {TEAMS_SUPV}
    agency: csc
    role: supervisor
  - teams_id: {TEAMS_PRAC.upper()}
    agency: csc
    role: practitioner
    supervisor: {TEAMS_SUPV}
"""

MIXED = f"""\
agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [U0TESTLEAD, {TEAMS_LEAD}]
people:
  - slack_id: U0TESTSUPV
    agency: csc
    role: supervisor
  - teams_id: {TEAMS_PRAC}
    agency: csc
    role: practitioner
    supervisor: U0TESTSUPV
  - slack_id: U0TESTPRAC
    agency: csc
    role: practitioner
    supervisor: U0TESTSUPV
"""

BOTH = f"""\
agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [{TEAMS_SUPV}]
people:
  - slack_id: U0TESTSUPV
    teams_id: {TEAMS_SUPV}
    agency: csc
    role: supervisor
  - teams_id: {TEAMS_PRAC}
    agency: csc
    role: practitioner
    supervisor: {TEAMS_SUPV}
"""


def load(new_session: SessionFactory, tmp_path: Path, text: str) -> dict[str, Person]:
    path = tmp_path / "org.yaml"
    path.write_text(text)
    load_organisation(path, new_session)
    with new_session() as session:
        return {p.person_id: p for p in session.exec(select(Person)).all()}


def leads(new_session: SessionFactory) -> list[str]:
    with new_session() as session:
        return sorted(lead.person_id for lead in session.exec(select(SafeguardingLead)).all())


def test_each_kind_of_id_says_its_platform() -> None:
    assert platform_of("U0TESTPRAC") == "slack"
    assert platform_of("W0123ABCD") == "slack"
    assert platform_of(TEAMS_PRAC) == platform_of(TEAMS_PRAC.upper()) == "teams"
    for not_an_id in ("", "prac@example.org", TEAMS_PRAC[:-1], "u0testprac"):
        assert not is_person_id(not_an_id)


def test_a_file_of_teams_people_loads(new_session: SessionFactory, tmp_path: Path) -> None:
    people = load(new_session, tmp_path, TEAMS_ONLY)
    # Kept in lower case, however the file wrote them: as the Teams front end calls with them.
    assert set(people) == {TEAMS_SUPV, TEAMS_PRAC}
    assert people[TEAMS_PRAC].supervisor_id == TEAMS_SUPV
    assert leads(new_session) == [TEAMS_LEAD]
    assert {platform_of(p) for p in people} == {"teams"}


def test_a_mixed_file_loads_everyone(new_session: SessionFactory, tmp_path: Path) -> None:
    people = load(new_session, tmp_path, MIXED)
    assert set(people) == {"U0TESTSUPV", TEAMS_PRAC, "U0TESTPRAC"}
    assert people[TEAMS_PRAC].supervisor_id == "U0TESTSUPV"
    assert leads(new_session) == sorted(["U0TESTLEAD", TEAMS_LEAD])


def test_someone_named_with_both_is_reached_on_slack_unless_the_file_says(
    new_session: SessionFactory, tmp_path: Path
) -> None:
    people = load(new_session, tmp_path, BOTH)
    assert set(people) == {"U0TESTSUPV", TEAMS_PRAC}
    # Named by their other ID, they are still the one person.
    assert people[TEAMS_PRAC].supervisor_id == "U0TESTSUPV"
    assert leads(new_session) == ["U0TESTSUPV"]

    people = load(new_session, tmp_path, "platform: teams\n" + BOTH)
    assert set(people) == {TEAMS_SUPV, TEAMS_PRAC}
    assert people[TEAMS_PRAC].supervisor_id == TEAMS_SUPV
    assert leads(new_session) == [TEAMS_SUPV]


@pytest.mark.parametrize(
    ("change", "line", "field", "reason"),
    [
        (("teams_id: " + TEAMS_PRAC, "teams_id: U0TESTPRAC"), 9, "people[1].teams_id", "Entra"),
        (("teams_id: " + TEAMS_PRAC, "slack_id: " + TEAMS_PRAC), 9, "people[1].slack_id", "Slack"),
        (("teams_id: " + TEAMS_PRAC + "\n    agency", "agency"), 9, "people[1]", "or teams_id"),
        (
            ("  - slack_id: U0TESTPRAC", "  - slack_id: U0TESTSUPV"),
            13,
            "people[2].slack_id",
            "dupl",
        ),
        (("agencies:", "platform: skype\nagencies:"), 1, "platform", "slack, teams"),
        (("U0TESTLEAD", "bob"), 4, "agencies[0].safeguarding_leads", "Entra object ID"),
    ],
)
def test_a_wrong_id_is_refused_with_its_line_and_nothing_changes(
    new_session: SessionFactory,
    tmp_path: Path,
    change: tuple[str, str],
    line: int,
    field: str,
    reason: str,
) -> None:
    load(new_session, tmp_path, TEAMS_ONLY)
    with pytest.raises(OrganisationFileError) as refused:
        load(new_session, tmp_path, MIXED.replace(*change))
    problems = [(p.line, p.field) for p in refused.value.problems]
    assert (line, field) in problems, refused.value.problems
    assert any(reason in p.reason for p in refused.value.problems)
    with new_session() as session:
        assert {p.person_id for p in session.exec(select(Person)).all()} == {TEAMS_SUPV, TEAMS_PRAC}
