"""`reflect erase` removes a case or a person completely (keeping an audit row with counts);
`reflect export` writes a case's summaries as Markdown for the case record."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from bot import casework
from storage import outbox
from storage.db import SessionFactory, transaction
from storage.models import (
    Action,
    Answer,
    AuditEntry,
    Case,
    ClockPrompt,
    OutboxMessage,
    Reflection,
    SupervisorNote,
)
from tests.protection.conftest import (
    OTHER_PRACTITIONER,
    PRACTITIONER,
    SUPERVISOR,
    RunReflection,
    add_note,
    load_org,
)
from tests.protection.test_encryption import SECRET, SECRET_PARTS

REFLECT = [sys.executable, "-m", "bot"]


def rows(new_session: SessionFactory, model: type) -> int:
    with new_session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _two_cases(new_session: SessionFactory, run_reflection: RunReflection, clock) -> list[int]:
    load_org(new_session)
    ids = [
        run_reflection(case_ref="CSC-1001", first_answer=SECRET),
        run_reflection(case_ref="CSC-10011", practitioner_id=OTHER_PRACTITIONER),
    ]
    for rid in ids:
        assert add_note(
            new_session, author_id=SUPERVISOR, reflection_id=rid, text="Seen", now=clock()
        ).done
    with transaction(new_session) as session:
        for key, recipient, text in (
            ("summary:CSC-1001:supervisor", SUPERVISOR, "Summary of CSC-1001."),
            ("summary:CSC-10011:supervisor", SUPERVISOR, "Summary of CSC-10011."),
            ("reminder:x", OTHER_PRACTITIONER, "Time to reflect on CSC-1001?"),
            ("dm:1", PRACTITIONER, "Welcome"),
        ):
            outbox.enqueue(
                session=session, dedupe_key=key, surface="conversation",
                recipient=recipient, payload={"channel": recipient, "text": text}, now=clock(),
            )  # fmt: skip
        session.add(
            ClockPrompt(job="stale", key="stale:CSC-1001:2026-11-26", recipient_id=PRACTITIONER,
                        decided_at=clock())
        )  # fmt: skip
        session.add(
            ClockPrompt(job="stale", key="stale:CSC-10011:2026-11-26",
                        recipient_id=OTHER_PRACTITIONER, decided_at=clock())
        )  # fmt: skip
    return ids


def test_erasing_a_case_removes_it_and_only_it(
    new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    kept = _two_cases(new_session, run_reflection, clock)[1]
    report = casework.erase_case(new_session, actor="cli:test", case_ref="csc-1001", now=clock())
    assert report.found
    assert report.counts["reflections"] == 1 and report.counts["notes"] == 1
    assert report.counts["outbox"] == 2 and report.counts["clock_prompts"] == 1
    assert report.counts["cases"] == 1 and report.counts["answers"] > 15
    with new_session() as session:
        assert [r.id for r in session.exec(select(Reflection))] == [kept]
        assert {a.reflection_id for a in session.exec(select(Answer))} == {kept}
        assert {a.reflection_id for a in session.exec(select(Action))} == {kept}
        assert session.exec(select(Case.ref)).all() == ["CSC-10011"]
        assert sorted(session.exec(select(OutboxMessage.dedupe_key))) == [
            "dm:1",
            "summary:CSC-10011:supervisor",
        ]
        assert session.exec(select(ClockPrompt.key)).all() == ["stale:CSC-10011:2026-11-26"]
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "erase")).one()
    assert entry.subject == "case:CSC-1001" and entry.detail["reflections"] == 1

    again = casework.erase_case(new_session, actor="cli:test", case_ref="CSC-1001", now=clock())
    assert not again.found


def test_erasing_a_person(
    new_session: SessionFactory, run_reflection: RunReflection, clock
) -> None:
    kept = _two_cases(new_session, run_reflection, clock)[1]
    report = casework.erase_person(
        new_session, actor="cli:test", person_id=PRACTITIONER.lower(), now=clock()
    )
    assert report.found and report.counts["reflections"] == 1 and report.counts["cases"] == 1
    assert report.counts["outbox"] == 1  # the message to them; case messages go with the case
    with new_session() as session:
        assert [r.id for r in session.exec(select(Reflection))] == [kept]
        assert PRACTITIONER not in {o.recipient for o in session.exec(select(OutboxMessage))}
        assert PRACTITIONER not in {p.recipient_id for p in session.exec(select(ClockPrompt))}

    supervisor = casework.erase_person(
        new_session, actor="cli:test", person_id=SUPERVISOR, now=clock()
    )
    assert supervisor.counts["notes_written"] == 1
    assert supervisor.counts["supervisor_links"] == 1
    with new_session() as session:
        remaining = session.exec(select(Reflection)).one()
    assert remaining.supervisor_id is None and rows(new_session, SupervisorNote) == 0

    nobody = casework.erase_person(new_session, actor="cli:test", person_id="U0NOBODY", now=clock())
    assert not nobody.found


def test_erase_command_needs_yes(
    cli_env: dict[str, str], new_session: SessionFactory, run_reflection: RunReflection
) -> None:
    load_org(new_session)
    run_reflection()
    refused = subprocess.run(
        [*REFLECT, "erase", "--case", "CSC-1001"],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert rows(new_session, Reflection) == 1 and rows(new_session, AuditEntry) == 0
    done = subprocess.run(
        [*REFLECT, "erase", "--person", PRACTITIONER, "--yes"],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Erased person U0TESTPRAC" in done.stdout and "reflections: 1" in done.stdout
    assert "org load" in done.stdout
    assert rows(new_session, Reflection) == 0
    both = subprocess.run(
        [*REFLECT, "erase", "--case", "A-1", "--person", "U1"],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_export_writes_markdown_for_the_case_record(
    cli_env: dict[str, str],
    new_session: SessionFactory,
    run_reflection: RunReflection,
    clock,
    tmp_path: Path,
) -> None:
    load_org(new_session)
    hostile = "# Heading <script>alert(1)</script> [link](https://x.invalid) *bold*"
    reflection_id = run_reflection(first_answer=f"{SECRET} {hostile}")
    add_note(
        new_session, author_id=SUPERVISOR, reflection_id=reflection_id, text="Agreed.", now=clock()
    )
    out = tmp_path / "CSC-1001.md"
    done = subprocess.run(
        [*REFLECT, "export", "--case", "CSC-1001", "--out", str(out)],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Wrote 1 summary of CSC-1001" in done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    markdown = out.read_text(encoding="utf-8")
    assert markdown.startswith("# Reflect summaries for CSC-1001\n")
    assert "## Reflection by U0TESTPRAC" in markdown and "### The plan" in markdown
    assert "Quokka-lantern-marmalade" in markdown and "ويكيبيديا" in markdown
    assert "### Supervisor notes" in markdown and "Agreed." in markdown
    assert "<script>" not in markdown and "\\<script\\>" in markdown
    assert "](https" not in markdown and "\\# Heading" in markdown
    assert "\n# Heading" not in markdown

    again = subprocess.run(
        [*REFLECT, "export", "--case", "CSC-1001", "--out", str(out)],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr
    assert out.read_text(encoding="utf-8") == markdown

    with new_session() as session:
        exports = session.exec(select(AuditEntry).where(AuditEntry.action == "export")).all()
    assert [(e.subject, e.detail) for e in exports] == [("case:CSC-1001", {"summaries": 1})]
    for part in SECRET_PARTS:
        assert part not in repr(exports)


def test_export_of_an_unknown_case_says_so(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [*REFLECT, "export", "--case", "CSC-9999"],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    assert "0 completed reflections" in done.stdout
