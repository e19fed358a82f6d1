"""The administrator's loaders: the organisation file and the cases CSV."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select

from bot.admin.cases_import import CasesFileError, import_cases
from bot.admin.organisation import OrganisationFileError, load_organisation
from storage.models import Agency, Case, Person, SafeguardingLead

GOOD = """\
agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [U0TESTLEAD]
  - id: school
    name: Riverside Primary
    safeguarding_leads: [U0TESTDSL1, U0TESTDSL2]
    leads_see_summaries: true
people:
  - slack_id: U0TESTSUPV
    agency: csc
    role: supervisor
  - slack_id: U0TESTPRAC
    agency: csc
    role: practitioner
    supervisor: U0TESTSUPV
    email: Prac@Example.org
"""


def write(tmp_path: Path, text: str, name: str = "org.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def counts(new_session) -> tuple[int, int, int]:
    with new_session() as session:
        return (
            len(session.exec(select(Agency)).all()),
            len(session.exec(select(Person)).all()),
            len(session.exec(select(SafeguardingLead)).all()),
        )


def test_loads_a_good_file(new_session, tmp_path: Path) -> None:
    result = load_organisation(write(tmp_path, GOOD), new_session)
    assert (result.agencies, result.people, result.leads) == (2, 2, 3)
    with new_session() as session:
        person = session.get(Person, "U0TESTPRAC")
        school = session.get(Agency, "school")
    assert person.supervisor_id == "U0TESTSUPV" and person.email == "prac@example.org"
    assert school.options == {"leads_see_summaries": True}


def test_a_second_load_replaces_the_first(new_session, tmp_path: Path) -> None:
    load_organisation(write(tmp_path, GOOD), new_session)
    smaller = GOOD.split("  - id: school")[0] + GOOD.split("    leads_see_summaries: true\n")[1]
    load_organisation(write(tmp_path, smaller, "small.yaml"), new_session)
    assert counts(new_session) == (1, 2, 1)


@pytest.mark.parametrize(
    ("change", "line", "field", "reason"),
    [
        (("    name: Riverside Primary\n", ""), 5, "agencies[1].name", "missing"),
        (
            (
                "    agency: csc\n    role: practitioner",
                "    agency: police\n    role: practitioner",
            ),
            14,
            "people[1].agency",
            "unknown agency 'police'",
        ),
        (
            ("    supervisor: U0TESTSUPV", "    supervisor: U0TESTNOPE"),
            16,
            "people[1].supervisor",
            "'U0TESTNOPE' is not listed under people",
        ),
        (("  - id: school", "  - id: csc"), 5, "agencies[1].id", "duplicate agency 'csc'"),
        (
            ("- slack_id: U0TESTPRAC", "- slack_id: U0TESTSUPV"),
            13,
            "people[1].slack_id",
            "duplicate person 'U0TESTSUPV'",
        ),
        (("    role: supervisor", "    role: boss"), 12, "people[0].role", "must be one of"),
        (("    email: Prac@Example.org", "    emial: x"), 17, "people[1].emial", "unknown field"),
        (
            ("safeguarding_leads: [U0TESTLEAD]", "safeguarding_leads: [Jo Bloggs]"),
            4,
            "agencies[0].safeguarding_leads",
            "is not a Slack user ID",
        ),
        (("people:", "people: [\n"), 0, "(file)", "not valid YAML"),
    ],
)
def test_bad_files_are_refused_with_line_and_field(
    new_session, tmp_path: Path, change, line, field, reason
) -> None:
    load_organisation(write(tmp_path, GOOD), new_session)
    before = counts(new_session)
    bad = write(tmp_path, GOOD.replace(*change), "bad.yaml")
    with pytest.raises(OrganisationFileError) as raised:
        load_organisation(bad, new_session)
    problem = raised.value.problems[0]
    assert problem.field == field and reason in problem.reason
    if line:
        assert problem.line == line
    assert counts(new_session) == before


def test_missing_sections_are_named(new_session, tmp_path: Path) -> None:
    with pytest.raises(OrganisationFileError) as raised:
        load_organisation(write(tmp_path, "agencies: []\n"), new_session)
    assert [p.field for p in raised.value.problems] == ["people"]


CSV_HEADER = "case_ref,practitioner,opened_on,closed_on\n"


def run_import(new_session, clock, path: Path):
    return import_cases(path, new_session, today=date(2026, 11, 26), now=clock)


def test_cases_import_reports_bad_rows_and_imports_the_rest(new_session, clock, tmp_path) -> None:
    load_organisation(write(tmp_path, GOOD), new_session)
    path = write(
        tmp_path,
        CSV_HEADER
        + "CSC-1001,U0TESTPRAC,2026-06-01,\n"
        + "csc-1002,prac@example.org,2026-07-01,\n"
        + "CSC-1003,someone@else.org,2026-07-01,\n"
        + "John Smith,U0TESTPRAC,2026-07-01,\n"
        + "CSC-1004,U0TESTPRAC,01/07/2026,\n"
        + "CSC-1005,Jo,2026-07-01,\n"
        + "CSC-1001,U0TESTPRAC,2026-06-02,\n"
        + "CSC-1006,U0TESTPRAC,2026-07-01,2026-06-01\n"
        + "CSC-1007,U0TESTPRAC,2027-01-01,\n",
        "cases.csv",
    )
    result = run_import(new_session, clock, path)
    assert (result.created, result.updated) == (3, 0)
    assert [(b.line, b.reason.split(" ")[0]) for b in result.bad] == [
        (5, "case_ref"),
        (6, "opened_on"),
        (7, "practitioner"),
        (8, "case_ref"),
        (9, "closed_on"),
        (10, "opened_on"),
    ]
    with new_session() as session:
        by_ref = {c.ref: c for c in session.exec(select(Case))}
    assert by_ref["CSC-1002"].practitioner_id == "U0TESTPRAC"
    assert by_ref["CSC-1003"].practitioner_id == "someone@else.org"


def test_cases_import_updates_and_closes(new_session, clock, tmp_path) -> None:
    first = write(tmp_path, CSV_HEADER + "CSC-1001,U0TESTPRAC,2026-06-01,\n", "a.csv")
    run_import(new_session, clock, first)
    second = write(tmp_path, CSV_HEADER + "CSC-1001,U0TESTPRAC,2026-06-01,2026-11-01\n", "b.csv")
    result = run_import(new_session, clock, second)
    assert (result.created, result.updated, result.bad) == (0, 1, [])
    with new_session() as session:
        assert session.exec(select(Case)).one().closed_on == date(2026, 11, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ref,who\nCSC-1,U0TESTPRAC\n", "missing: case_ref, practitioner, opened_on"),
        (b"case_ref,practitioner,opened_on\n\xff\xfe,\n", "not UTF-8"),
    ],
)
def test_unreadable_cases_files_are_refused(new_session, clock, tmp_path, content, message) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(content)
    with pytest.raises(CasesFileError, match=message):
        run_import(new_session, clock, path)


def test_missing_cases_file(new_session, clock, tmp_path) -> None:
    with pytest.raises(CasesFileError, match="does not exist"):
        run_import(new_session, clock, tmp_path / "nope.csv")
