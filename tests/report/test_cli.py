"""`reflect report` as an administrator runs it on the server: a subprocess on this run's
database. Bad input gets a clear message, exit 2, and nothing written; --output never overwrites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.admin.organisation import OrganisationFileError, load_organisation
from storage.db import SessionFactory
from storage.models import Agency, AuditEntry
from tests.conftest import run_reflect
from tests.report import seed


@pytest.fixture
def seeded(new_session: SessionFactory, cli_env: dict[str, str]) -> dict[str, str]:
    seed.organisation(new_session)
    seed.reflections(new_session, agency="csc", count=7, start=datetime(2026, 9, 8, tzinfo=UTC))
    seed.reflections(new_session, agency="police", count=6, start=datetime(2026, 10, 8, tzinfo=UTC))
    return cli_env


def test_writes_each_format_to_a_new_file_and_audits_the_run(
    seeded: dict[str, str], new_session: SessionFactory, tmp_path: Path
) -> None:
    for form, marker in (("html", "<svg"), ("csv", "period,agency,team"), ("md", "## How to")):
        out = tmp_path / f"report.{form}"
        done = run_reflect(
            seeded, "report", "--from", "2026-09-01", "--to", "2026-10-31",
            "--format", form, "--output", str(out),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"is in {out}" in done.stderr
        text = out.read_text(encoding="utf-8")
        assert marker in text and "CSC-" not in text and "Marigold" not in text
        assert out.stat().st_mode & 0o777 == 0o600
    with new_session() as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "report")).all()
    assert sorted(a.detail["format"] for a in audit) == ["csv", "html", "md"]
    assert all(a.actor.startswith("cli:") and a.subject == "report:all" for a in audit)


def test_the_default_period_is_the_last_full_month_to_standard_output(
    seeded: dict[str, str],
) -> None:
    done = run_reflect(seeded, "report", "--format", "md")
    assert done.returncode == 0, done.stderr
    last = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
    assert f"{last.replace(day=1).isoformat()} to {last.isoformat()}" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--agency", "nope"), "no agency with the id nope"),
        (("--from", "2026-11-01", "--to", "2026-10-01"), "ends (2026-10-01) before it starts"),
        (("--from", "2099-01-01"), "starts in the future"),
        (("--from", "2026-13-01"), "is not a date like"),
        (("--format", "pdf"), "invalid choice"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    seeded: dict[str, str], tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    out = tmp_path / "report.html"
    done = run_reflect(seeded, "report", *args, "--output", str(out))
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() and done.stdout == ""


def test_a_threshold_under_3_is_refused(seeded: dict[str, str]) -> None:
    done = run_reflect({**seeded, "REFLECT_REPORT_SMALL_NUMBER": "2"}, "report")
    assert done.returncode == 2 and done.stdout == ""
    assert "REFLECT_REPORT_SMALL_NUMBER='2'" in done.stderr and "from 3" in done.stderr
    lower = run_reflect({**seeded, "REFLECT_REPORT_SMALL_NUMBER": "3"}, "report", "--format", "md")
    assert lower.returncode == 0 and "fewer than 3" in lower.stdout


def test_output_never_overwrites(seeded: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("keep me")
    done = run_reflect(seeded, "report", "--output", str(out))
    assert done.returncode == 1 and "already exists" in done.stderr
    assert out.read_text() == "keep me"


def test_the_organisation_file_can_turn_the_monthly_send_off(
    new_session: SessionFactory, tmp_path: Path
) -> None:
    text = """agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [U0123LEAD]
    monthly_report: {value}
people:
  - slack_id: U0123PRAC
    agency: csc
    role: practitioner
"""
    path = tmp_path / "org.yaml"
    path.write_text(text.format(value="false"))
    load_organisation(path, new_session)
    with new_session() as session:
        assert session.get(Agency, "csc").options["monthly_report"] is False
    path.write_text(text.format(value="sometimes"))
    with pytest.raises(OrganisationFileError) as refused:
        load_organisation(path, new_session)
    assert "agencies[0].monthly_report" in str(refused.value.problems)
