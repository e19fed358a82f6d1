"""Who may see a summary (practitioner, supervisor, leads only if the agency says so; nobody
else), and that every view, note, export and erasure leaves an audit row without answer text."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlmodel import select

from bot import casework
from bot.access import can_view_reflection
from bot.cli.arguments import person_id
from storage import audit
from storage.db import SessionFactory
from storage.models import AuditEntry, Reflection, SupervisorNote
from tests.protection.conftest import (
    LEAD,
    OTHER_PRACTITIONER,
    PRACTITIONER,
    STRANGER,
    SUPERVISOR,
    RunReflection,
    add_note,
    case_history,
    load_org,
    view_summary,
)
from tests.protection.test_encryption import SECRET, SECRET_PARTS

REFLECT = [sys.executable, "-m", "bot"]


@pytest.mark.parametrize(
    ("viewer", "leads_see", "allowed"),
    [
        (PRACTITIONER, False, True),
        (SUPERVISOR, False, True),
        (LEAD, False, False),
        (LEAD, True, True),
        (OTHER_PRACTITIONER, True, False),
        (STRANGER, True, False),
        ("", True, False),
    ],
)
def test_the_access_rule_for_each_role(
    new_session: SessionFactory,
    run_reflection: RunReflection,
    clock,
    viewer: str,
    leads_see: bool,
    allowed: bool,
) -> None:
    load_org(new_session, leads_see=leads_see)
    reflection_id = run_reflection()
    with new_session() as session:
        reflection = session.get(Reflection, reflection_id)
        assert reflection is not None
        assert can_view_reflection(session=session, viewer_id=viewer, reflection=reflection) is (
            allowed
        )
    summary = view_summary(new_session, viewer_id=viewer, reflection_id=reflection_id, now=clock())
    assert (summary is not None) is allowed
    history = case_history(new_session, viewer_id=viewer, case_ref="csc-1001", now=clock())
    assert history.allowed is allowed and len(history.summaries) == (1 if allowed else 0)
    with new_session() as session:
        actions = [
            (e.actor, e.action, e.subject)
            for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))
        ]
    if allowed:
        assert actions == [(viewer, "view", f"reflection:{reflection_id}")] * 2
    else:
        assert actions == [
            (viewer, "view_refused", f"reflection:{reflection_id}"),
            (viewer, "view_refused", "case:CSC-1001"),
        ]


def test_a_practitioner_outside_the_organisation_is_seen_by_themselves_only(
    new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    reflection_id = run_reflection(practitioner_id="U0TESTNEWB")
    load_org(new_session, leads_see=True)
    for viewer, allowed in (("U0TESTNEWB", True), (SUPERVISOR, False), (LEAD, False)):
        shown = view_summary(
            new_session, viewer_id=viewer, reflection_id=reflection_id, now=clock()
        )
        assert (shown is not None) is allowed


def test_a_forged_reflection_id_looks_like_nothing(new_session: SessionFactory, clock) -> None:
    shown = view_summary(new_session, viewer_id=STRANGER, reflection_id=4242, now=clock())
    assert shown is None
    with new_session() as session:
        entry = session.exec(select(AuditEntry)).one()
    assert (entry.action, entry.subject) == ("view_refused", "reflection:4242")


def test_supervisors_may_note_but_practitioners_and_strangers_may_not(
    new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    load_org(new_session)
    reflection_id = run_reflection()
    for author, saved in ((PRACTITIONER, False), (STRANGER, False), (LEAD, False)):
        result = add_note(
            new_session, author_id=author, reflection_id=reflection_id, text="x", now=clock()
        )
        assert result.done is saved
    noted = add_note(
        new_session,
        author_id=SUPERVISOR,
        reflection_id=reflection_id,
        text=f"{SECRET}; ring her on 07911 123456",
        now=clock(),
    )
    assert noted.done and noted.screened is not None
    assert noted.screened.withheld == ("a phone number",)
    with new_session() as session:
        note = session.exec(select(SupervisorNote)).one()
        entries = list(session.exec(select(AuditEntry).order_by(AuditEntry.id)))
    assert "07911" not in note.text and SECRET in note.text
    assert [e.action for e in entries] == ["note_refused"] * 3 + ["note"]
    assert all(part not in repr(e) for e in entries for part in SECRET_PARTS)


def test_reflect_audit_lists_views_exports_and_erasures_in_local_time(
    cli_env: dict[str, str], new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    load_org(new_session)
    reflection_id = run_reflection(first_answer=SECRET)
    view_summary(new_session, viewer_id=SUPERVISOR, reflection_id=reflection_id, now=clock())
    env = {**cli_env, "REFLECT_TIMEZONE": "Asia/Tokyo"}
    for command in (
        ["history", "CSC-1001"],
        ["export", "--case", "CSC-1001"],
        ["erase", "--case", "CSC-1001", "--yes"],
    ):
        done = subprocess.run(
            [*REFLECT, *command], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [*REFLECT, "audit"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("4 audit entries") and "Asia/Tokyo" in lines[0]
    assert [line.split()[3] for line in lines[1:]] == ["erase", "export", "view", "view"]
    assert f"{SUPERVISOR}  view  reflection:{reflection_id}" in listed.stdout
    assert "2026-11-26 19:00" in listed.stdout  # 10:00 UTC shown in Tokyo time
    assert "answers=" in listed.stdout  # erasure counts
    for part in SECRET_PARTS:
        assert part not in listed.stdout

    later = subprocess.run(
        [*REFLECT, "audit", "--since", "2100-01-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "No audit entries since 2100-01-01" in later.stdout
    bad = subprocess.run(
        [*REFLECT, "audit", "--since", "yesterday"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "not a date like" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_audit_detail_never_holds_text(
    new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    load_org(new_session)
    run_reflection(first_answer=SECRET)
    casework.export_case(new_session, actor="cli:test", case_ref="CSC-1001", now=clock())
    casework.erase_person(new_session, actor="cli:test", person_id=PRACTITIONER, now=clock())
    with new_session() as session:
        entries = audit.entries(session=session)
    assert {e.action for e in entries} == {"export", "erase"}
    for entry in entries:
        assert all(isinstance(v, int | bool) for v in entry.detail.values())


@pytest.mark.parametrize("typed", ["Jane Smith", "x" * 500, "<!channel>", ""])
def test_a_reference_typed_in_error_is_never_looked_up_or_audited_as_typed(
    new_session: SessionFactory, run_reflection: RunReflection, clock, typed: str
) -> None:
    load_org(new_session)
    run_reflection()
    history = case_history(new_session, viewer_id=SUPERVISOR, case_ref=typed, now=clock())
    assert not history.allowed and history.summaries == []
    export = casework.export_case(new_session, actor="cli:test", case_ref=typed, now=clock())
    assert export.summaries == 0
    erased = casework.erase_case(new_session, actor="cli:test", case_ref=typed, now=clock())
    assert not erased.found
    nobody = casework.erase_person(
        new_session, actor="cli:test", person_id=person_id(typed), now=clock()
    )
    assert not nobody.found and nobody.counts == {}
    with new_session() as session:
        subjects = [e.subject for e in session.exec(select(AuditEntry))]
        assert session.exec(select(Reflection)).one().status == "completed"
    assert subjects == [
        "case:(not a valid reference)",
        "case:(not a valid reference)",
        "case:(not a valid reference)",
        "person:(not a valid reference)",
    ]
