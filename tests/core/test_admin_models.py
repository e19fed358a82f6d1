"""The organisation file's and the cases file's models: each wrong value is named by its line
and field in the administrator's terms, every problem is reported at once, and only what the
file sets reaches the database."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select

from bot.admin.cases_import import CaseRow, check_file
from bot.admin.organisation import OrganisationFileError, load_organisation, parse_organisation
from storage.db import SessionFactory
from storage.models import Agency, Case, Person
from tests.conftest import run_reflect

ORGANISATION = """\
agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [U0TESTLEAD]
    identifiers: {mode: warn, detectors: [nhs_number]}
    clock: {long_open_days: 60}
    question_set: social_worker
    procedure_url: https://example.org/procedures
    front_door: 0300 123 4567
  - id: school
    name: Riverside Primary
people:
  - slack_id: U0TESTSUPV
    agency: csc
    role: supervisor
  - slack_id: U0TESTPRAC
    agency: csc
    role: practitioner
    supervisor: U0TESTSUPV
    email: prac@example.org
    profession: health_visitor
"""


def refused(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(OrganisationFileError) as raised:
        parse_organisation(text)
    return [(p.line, p.field, p.reason) for p in raised.value.problems]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "    name: Riverside Primary\n",
            "    name: Riverside Primary\n    leads_see_summaries: sometimes\n",
            (12, "agencies[1].leads_see_summaries", "must be true or false"),
        ),
        (
            "{mode: warn, detectors: [nhs_number]}",
            "{mode: loud}",
            (5, "agencies[0].identifiers.mode", "must be one of withhold, warn"),
        ),
        (
            "{mode: warn, detectors: [nhs_number]}",
            "{detectors: [nhs_number, shoe_size]}",
            (
                5,
                "agencies[0].identifiers.detectors",
                "'shoe_size' is not a detector; choose from ",
            ),
        ),
        (
            "{mode: warn, detectors: [nhs_number]}",
            "{mode: warn, colour: red}",
            (5, "agencies[0].identifiers.colour", "unknown field"),
        ),
        (
            "identifiers: {mode: warn, detectors: [nhs_number]}",
            "identifiers: warn",
            (5, "agencies[0].identifiers", "must be a mapping with mode, detectors"),
        ),
        (
            "clock: {long_open_days: 60}",
            "clock: 60",
            (6, "agencies[0].clock", "must be a mapping, e.g. long_open_days: 60"),
        ),
        (
            "clock: {long_open_days: 60}",
            "clock: {long_open_days: true}",
            (6, "agencies[0].clock.long_open_days", "must be a whole number from 1 to 3650"),
        ),
        (
            "question_set: social_worker",
            "question_set: astronaut",
            (7, "agencies[0].question_set", "must be one of "),
        ),
        (
            "procedure_url: https://example.org/procedures",
            "procedure_url: example.org",
            (8, "agencies[0].procedure_url", "must be a web address (https://...)"),
        ),
        (
            "front_door: 0300 123 4567",
            "front_door: ring the office",
            (9, "agencies[0].front_door", "must be a phone number, e.g. 0300 123 4567"),
        ),
        (
            "    name: Riverside Primary\n",
            "    name: [Riverside, Primary]\n",
            (11, "agencies[1].name", "must be text"),
        ),
        (
            "safeguarding_leads: [U0TESTLEAD]",
            "safeguarding_leads: U0TESTLEAD",
            (4, "agencies[0].safeguarding_leads", "must be a list of Slack user IDs"),
        ),
        (
            "    supervisor: U0TESTSUPV\n",
            "    supervisor: U0TESTPRAC\n",
            (19, "people[1].supervisor", "a person cannot supervise themselves"),
        ),
        (
            "    role: supervisor\n",
            "    role: supervisor\n    email: PRAC@example.org\n",
            (21, "people[1].email", "duplicate e-mail address"),
        ),
        (
            "    email: prac@example.org\n",
            "    email: prac at example dot org\n",
            (20, "people[1].email", "not an e-mail address"),
        ),
        (
            "  - slack_id: U0TESTSUPV\n    agency: csc\n    role: supervisor\n",
            "  - U0TESTSUPV\n",
            (12, "people[0]", "must be a mapping"),
        ),
        ("people:\n", "staff: []\npeople:\n", (12, "staff", "unknown section")),
    ],
)
def test_each_wrong_value_is_named_by_line_and_field(
    old: str, new: str, problem: tuple[int, str, str]
) -> None:
    text = ORGANISATION.replace(old, new)
    assert text != ORGANISATION
    [(line, field, reason)] = [p for p in refused(text) if p[1] == problem[1]]
    assert (line, field) == problem[:2] and reason.startswith(problem[2])


def test_every_problem_in_a_file_is_reported_at_once_in_line_order() -> None:
    text = (
        ORGANISATION.replace("  - id: school", "  - id: School")
        .replace("    role: supervisor\n", "    role: boss\n")
        .replace("agency: csc\n    role: practitioner", "agency: police\n    role: practitioner")
    )
    assert refused(text) == [
        (10, "agencies[1].id", "use lower-case letters, digits, - and _ (e.g. csc)"),
        (15, "people[0].role", "must be one of practitioner, supervisor, lead, administrator"),
        (17, "people[1].agency", "unknown agency 'police'"),
    ]


def test_only_what_the_file_sets_is_kept(new_session: SessionFactory, tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(ORGANISATION.replace("front_door: 0300 123 4567", "front_door: 999"))
    load_organisation(path, new_session)
    with new_session() as session:
        csc, school = session.get(Agency, "csc"), session.get(Agency, "school")
        practitioner = session.get(Person, "U0TESTPRAC")
    assert csc is not None and school is not None and practitioner is not None
    assert csc.options == {
        "identifiers": {"mode": "warn", "detectors": ["nhs_number"]},
        "clock": {"long_open_days": 60},
        "question_set": "social_worker",
        "procedure_url": "https://example.org/procedures",
        "front_door": "999",
    }
    assert school.options == {}
    assert (practitioner.profession, practitioner.email) == ("health_visitor", "prac@example.org")


def test_a_refused_file_changes_nothing_from_the_command_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    good = tmp_path / "org.yaml"
    good.write_text(ORGANISATION)
    assert run_reflect(cli_env, "org", "load", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(ORGANISATION.replace("clock: {long_open_days: 60}", "clock: {nag: 5}"))
    done = run_reflect(cli_env, "org", "load", str(bad))
    assert done.returncode == 1
    assert "was not loaded, and nothing has changed" in done.stderr
    assert "line 6: agencies[0].clock.nag: unknown setting; use long_open_days" in done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------ the cases file

TODAY = date(2026, 11, 26)


def test_a_row_with_several_problems_names_them_all() -> None:
    good, bad = check_file(
        "case_ref,practitioner,opened_on,closed_on\n"
        ",Jo,yesterday,\n"
        "CSC-1001,U0TESTPRAC,2026-06-01,2026-05-01\n"
        "CSC-1002,Prac@Example.org,2026-06-01,\n",
        lambda email: None,
        TODAY,
    )
    assert [(row.line, row.reason) for row in bad] == [
        (
            2,
            "case_ref is empty; practitioner must be a Slack user ID (U…), a Microsoft Entra "
            "object ID or an e-mail address; opened_on must be a date like 2026-09-01",
        ),
        (3, "closed_on is before opened_on"),
    ]
    assert [(row.ref, row.practitioner_id) for row in good] == [("CSC-1002", "prac@example.org")]


def test_the_row_model_normalises_what_it_accepts() -> None:
    row = CaseRow.model_validate(
        {"case_ref": "csc-7", "practitioner": "A@B.ORG", "opened_on": "2026-01-02"},
        context={"today": TODAY},
    )
    assert (row.case_ref, row.practitioner, row.opened_on, row.closed_on) == (
        "CSC-7",
        "a@b.org",
        date(2026, 1, 2),
        None,
    )


def test_bad_rows_are_reported_by_line_and_good_ones_imported(
    cli_env: dict[str, str], tmp_path: Path, new_session: SessionFactory
) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(
        "case_ref,practitioner,opened_on\n"
        "CSC-2001,U0TESTPRAC,2026-06-01\n"
        "CSC-2002,U0TESTPRAC,2099-01-01\n"
        "CSC-2003,U0TESTPRAC,2026-06-01\n"
    )
    done = run_reflect(cli_env, "cases", "import", str(path))
    assert done.returncode == 1, done.stderr
    assert "Cases imported: 2 new, 0 updated, 1 row left out." in done.stdout
    assert "line 3: opened_on 2099-01-01 is in the future" in done.stdout
    with new_session() as session:
        assert sorted(case.ref for case in session.exec(select(Case))) == ["CSC-2001", "CSC-2003"]
