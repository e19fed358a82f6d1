"""`reflect cases import`: upsert good rows, report each bad row by line with its reason."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from bot.admin.organisation import EMAIL, SLACK_ID
from bot.reflection.service import case_ref_problem, normalise_case_ref
from storage import cases as case_queries
from storage import organisation as org_queries
from storage.db import SessionFactory, transaction

REQUIRED_COLUMNS = ("case_ref", "practitioner", "opened_on")
OPTIONAL_COLUMNS = ("closed_on",)


class CasesFileError(ValueError):
    """The file as a whole cannot be read (missing, not UTF-8, no header)."""


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    bad: list[BadRow] = field(default_factory=list)


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def import_cases(
    path: Path, new_session: SessionFactory, *, today: date, now: Callable[[], datetime]
) -> ImportResult:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CasesFileError(f"{path} does not exist") from None
    except OSError as exc:
        raise CasesFileError(f"{path} cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CasesFileError(f"{path} is not UTF-8 text; save it as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CasesFileError(
            f"{path.name} needs the columns {', '.join(REQUIRED_COLUMNS)}; "
            f"missing: {', '.join(missing)}"
        )
    reader.fieldnames = header
    result = ImportResult()
    seen: dict[str, int] = {}
    with transaction(new_session) as session:
        for row in reader:
            line = reader.line_num
            values = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if None in row:
                result.bad.append(BadRow(line, "more values than columns"))
                continue
            ref = normalise_case_ref(values.get("case_ref", ""))
            if not ref:
                result.bad.append(BadRow(line, "case_ref is empty"))
                continue
            if case_ref_problem(ref):
                result.bad.append(
                    BadRow(line, f"case_ref '{ref[:40]}' is not a case reference with a number")
                )
                continue
            if ref in seen:
                result.bad.append(
                    BadRow(line, f"case_ref {ref} already appears on line {seen[ref]}")
                )
                continue
            practitioner = values.get("practitioner", "")
            if SLACK_ID.match(practitioner):
                practitioner_id = practitioner
            elif EMAIL.match(practitioner):
                person = org_queries.find_person_by_email(session=session, email=practitioner)
                # An e-mail not in the organisation is kept and looked up in Slack when needed.
                practitioner_id = person.slack_id if person else practitioner.lower()
            else:
                result.bad.append(
                    BadRow(line, "practitioner must be a Slack user ID (U…) or an e-mail address")
                )
                continue
            opened_on = _parse_date(values.get("opened_on", ""))
            if opened_on is None:
                result.bad.append(BadRow(line, "opened_on must be a date like 2026-09-01"))
                continue
            if opened_on > today:
                result.bad.append(BadRow(line, f"opened_on {opened_on} is in the future"))
                continue
            closed_text = values.get("closed_on", "")
            closed_on = _parse_date(closed_text) if closed_text else None
            if closed_text and closed_on is None:
                result.bad.append(BadRow(line, "closed_on must be a date like 2026-10-01"))
                continue
            if closed_on is not None and closed_on < opened_on:
                result.bad.append(BadRow(line, "closed_on is before opened_on"))
                continue
            seen[ref] = line
            created = case_queries.upsert_case(
                session=session,
                ref=ref,
                practitioner_id=practitioner_id,
                opened_on=opened_on,
                closed_on=closed_on,
                now=now(),
            )
            if created:
                result.created += 1
            else:
                result.updated += 1
    return result
