"""`reflect cases import`: check the whole file and report each bad row by line with its reason,
then upsert the good rows a batch at a time, so the running app can write between batches."""

from __future__ import annotations

import csv
import io
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.admin.organisation import (
    EMAIL,
    MEGABYTE,
    UnreadableText,
    read_text_within,
    shown,
)
from bot.identity import is_person_id, platform_of, teams_person_id
from bot.reflection.case_refs import case_ref_problem, normalise_case_ref
from storage import organisation as org_queries
from storage.db import SessionFactory, transaction
from storage.models import Case

REQUIRED_COLUMNS = ("case_ref", "practitioner", "opened_on")
OPTIONAL_COLUMNS = ("closed_on",)

# Limits on what `reflect cases import` reads; a real cases file is far inside them.
MAX_FILE_BYTES = 32 * MEGABYTE  # 200,000 rows of about 50 characters take 10 MB
MAX_ROWS = 200_000
MAX_PRACTITIONER_CHARS = 320  # an e-mail address (the person.email column)
# An e-mail address not in the organisation is stored as the case's practitioner_id column.
MAX_UNLISTED_EMAIL_CHARS = 64
# Rows upserted per transaction: on SQLite a batch holds the one write lock for 10 to 30 ms,
# so the app's own writes wait that long at most, not for the whole import.
BATCH_ROWS = 1_000
# On SQLite, the pause between batches. A writer in another process waiting for the lock
# retries at most 100 ms apart (SQLite's busy handler); without a pause the import takes the
# lock again within a millisecond of letting it go, and the waiter never gets in.
SQLITE_PAUSE_SECONDS = 0.12
OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "| characters"}


class CasesFileError(ValueError):
    """The file as a whole cannot be imported (missing, too big, not UTF-8 text, not CSV, no
    header, too many rows); nothing has been imported."""


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass(frozen=True)
class GoodRow:
    line: int
    ref: str
    practitioner_id: str
    opened_on: date
    closed_on: date | None


@dataclass(frozen=True)
class _Refused:
    reason: str


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    bad: list[BadRow] = field(default_factory=list)


class ImportInterrupted(Exception):
    """Writing stopped part-way (Ctrl-C, a database error). ``done`` counts the rows in the
    batches committed before it; the rest are not imported. Upserts make a re-run safe."""

    def __init__(self, done: ImportResult, total: int) -> None:
        super().__init__(f"stopped after {done.created + done.updated} of {total} rows")
        self.done = done
        self.total = total


def import_cases(
    path: Path,
    new_session: SessionFactory,
    *,
    today: date,
    now: Callable[[], datetime],
    batch_rows: int = BATCH_ROWS,
) -> ImportResult:
    try:
        text = read_text_within(path, MAX_FILE_BYTES)
    except UnreadableText as exc:
        raise CasesFileError(str(exc)) from None
    with new_session() as session:
        good, bad = check_file(text, _practitioner_lookup(session), today)
        on_sqlite = session.get_bind().dialect.name == "sqlite"
    result = ImportResult(bad=bad)
    pause = SQLITE_PAUSE_SECONDS if on_sqlite else 0.0
    _write(good, new_session, now, batch_rows, pause, result)
    return result


def _practitioner_lookup(session: Session) -> Callable[[str], str | None]:
    """The ID of the person with this e-mail address, asked once per address."""

    @cache
    def person_id_of(email: str) -> str | None:
        person = org_queries.find_person_by_email(session=session, email=email)
        return person.person_id if person else None

    return person_id_of


def check_file(
    text: str, person_id_of: Callable[[str], str | None], today: date
) -> tuple[list[GoodRow], list[BadRow]]:
    """Every row checked before anything is written, so every bad row is reported."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    good: list[GoodRow] = []
    bad: list[BadRow] = []
    seen: dict[str, int] = {}
    try:
        _check_header(reader)
        for row in reader:
            if len(good) + len(bad) == MAX_ROWS:
                raise CasesFileError(
                    f"more than {MAX_ROWS:,} rows; split it into files of at most "
                    f"{MAX_ROWS:,} rows and import each"
                )
            checked = _check_row(row, reader.line_num, seen, person_id_of, today)
            if isinstance(checked, BadRow):
                bad.append(checked)
            else:
                good.append(checked)
                seen[checked.ref] = checked.line
    except csv.Error as exc:
        # The DictReader's own line_num moves only when a row is complete; its reader's counts
        # the line being read when the error came.
        raise CasesFileError(_csv_problem(exc, reader.reader.line_num)) from None
    return good, bad


def _check_header(reader: csv.DictReader[str]) -> None:
    if reader.fieldnames is None:
        raise CasesFileError(
            f"the file is empty; its first line must name the columns {','.join(REQUIRED_COLUMNS)}"
        )
    header = [h.strip() for h in reader.fieldnames]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CasesFileError(
            f"the file needs the columns {', '.join(REQUIRED_COLUMNS)}; "
            f"missing: {', '.join(missing)}{_separator_hint(header)}"
        )
    reader.fieldnames = header


def _separator_hint(header: list[str]) -> str:
    """Why a header reads as one column, when the file is separated by something else."""
    for separator, name in OTHER_SEPARATORS.items():
        if len(header) == 1 and separator in header[0]:
            return f" (its values are separated by {name}: save it as CSV, comma separated)"
    return ""


def _csv_problem(exc: csv.Error, line: int) -> str:
    if "field larger than field limit" in str(exc):
        return (
            f"line {line}: a value longer than {csv.field_size_limit():,} characters, where a "
            "cases file has only case references, people's IDs or e-mail addresses and dates; "
            "is it the right file?"
        )
    return f"line {line}: not valid CSV ({exc})"


# ------------------------------------------------------------------ one row, as a pydantic model


# A row's check that fails says why, naming its column; the whole reason is the message.
def _refusal(reason: str) -> PydanticCustomError:
    return PydanticCustomError("cases_row", "{reason}", {"reason": reason})


def _case_ref(text: str) -> str:
    ref = normalise_case_ref(text)
    if not ref:
        raise _refusal("case_ref is empty")
    if case_ref_problem(ref):
        raise _refusal(f"case_ref '{shown(ref)}' is not a case reference with a number")
    return ref


def _practitioner(text: str) -> str:
    """A person's ID (a Teams one in lower case), or an e-mail address in lower case."""
    if len(text) > MAX_PRACTITIONER_CHARS:
        raise _refusal(
            f"practitioner is {len(text):,} characters long; a person's ID or e-mail address "
            f"has at most {MAX_PRACTITIONER_CHARS}"
        )
    if is_person_id(text):
        return teams_person_id(text) if platform_of(text) == "teams" else text
    if not EMAIL.match(text):
        raise _refusal(
            "practitioner must be a Slack user ID (U…), a Microsoft Entra object ID or an "
            "e-mail address"
        )
    return text.lower()


def _iso_date(column: str, example: str) -> Callable[[str], date]:
    def parse(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise _refusal(f"{column} must be a date like {example}") from None

    return parse


def _optional(parse: Callable[[str], date]) -> Callable[[str], date | None]:
    return lambda text: parse(text) if text else None


class CaseRow(BaseModel):
    """One row of a cases file, its values stripped of spaces. Validate with
    ``context={"today": date}``: a case cannot have been opened in the future."""

    model_config = ConfigDict(frozen=True)

    case_ref: Annotated[str, BeforeValidator(_case_ref)]
    practitioner: Annotated[str, BeforeValidator(_practitioner)]
    opened_on: Annotated[date, BeforeValidator(_iso_date("opened_on", "2026-09-01"))]
    closed_on: Annotated[
        date | None, BeforeValidator(_optional(_iso_date("closed_on", "2026-10-01")))
    ] = None

    @field_validator("opened_on")
    @classmethod
    def _not_in_the_future(cls, opened_on: date, info: ValidationInfo) -> date:
        if info.context is not None and opened_on > info.context["today"]:
            raise _refusal(f"opened_on {opened_on} is in the future")
        return opened_on

    @model_validator(mode="after")
    def _closed_after_opened(self) -> CaseRow:
        if self.closed_on is not None and self.closed_on < self.opened_on:
            raise _refusal("closed_on is before opened_on")
        return self


def _check_row(
    row: dict[str | None, str | list[str] | None],
    line: int,
    seen: dict[str, int],
    person_id_of: Callable[[str], str | None],
    today: date,
) -> GoodRow | BadRow:
    if None in row:
        return BadRow(line, "more values than columns")
    values = {k: str(v or "").strip() for k, v in row.items() if k is not None}
    try:
        checked = CaseRow.model_validate(values, context={"today": today})
    except ValidationError as error:
        return BadRow(line, "; ".join(detail["msg"] for detail in error.errors()))
    if checked.case_ref in seen:
        return BadRow(
            line, f"case_ref {checked.case_ref} already appears on line {seen[checked.case_ref]}"
        )
    practitioner = _practitioner_id(checked.practitioner, person_id_of)
    if isinstance(practitioner, _Refused):
        return BadRow(line, practitioner.reason)
    return GoodRow(line, checked.case_ref, practitioner, checked.opened_on, checked.closed_on)


def _practitioner_id(text: str, person_id_of: Callable[[str], str | None]) -> str | _Refused:
    """The person's ID (or e-mail address) to store for a checked practitioner column, or why it
    is refused: an e-mail address not in the organisation is stored as it is, if it fits."""
    if is_person_id(text):
        return text
    listed = person_id_of(text)
    if listed is not None:
        return listed
    if len(text) > MAX_UNLISTED_EMAIL_CHARS:
        return _Refused(
            f"practitioner {shown(text)} is not in the organisation file, and an e-mail "
            f"address that is not can have at most {MAX_UNLISTED_EMAIL_CHARS} characters",
        )
    # An e-mail not in the organisation is kept and looked up in Slack when needed.
    return text


def _write(
    rows: list[GoodRow],
    new_session: SessionFactory,
    now: Callable[[], datetime],
    batch_rows: int,
    pause: float,
    result: ImportResult,
) -> None:
    try:
        for start in range(0, len(rows), batch_rows):
            if start and pause:
                time.sleep(pause)
            batch = rows[start : start + batch_rows]
            with _ctrl_c_after_the_batch():
                with transaction(new_session) as session:
                    created = _upsert_batch(session, batch, now())
                result.created += created
                result.updated += len(batch) - created
    except (KeyboardInterrupt, SQLAlchemyError) as exc:
        raise ImportInterrupted(result, len(rows)) from exc


@contextmanager
def _ctrl_c_after_the_batch() -> Iterator[None]:
    """Hold back Ctrl-C until the batch is committed (or rolled back) and counted, so a stopped
    import reports exactly the rows it wrote. The command runs on one thread, the one whose
    signal mask this sets."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _upsert_batch(session: Session, batch: list[GoodRow], now: datetime) -> int:
    """Add or update each row's case (refs are unique within the file); returns how many are
    new. One query finds the batch's existing cases and one statement each writes the new and
    the changed ones: row by row through the ORM held the write lock several times as long."""
    connection = session.connection()
    refs = [row.ref for row in batch]
    existing: dict[str, int] = {
        ref: case_id for ref, case_id in connection.execute(_IDS_OF_REFS, {"refs": refs})
    }
    new = [
        _values(row) | {"ref": row.ref, "created_at": now}
        for row in batch
        if row.ref not in existing
    ]
    changed = [
        _values(row) | {"case_id": existing[row.ref]} for row in batch if row.ref in existing
    ]
    if new:
        connection.execute(_INSERT_CASE, new)
    if changed:
        connection.execute(_UPDATE_CASE, changed)
    return len(new)


def _values(row: GoodRow) -> dict[str, object]:
    return {
        "practitioner_id": row.practitioner_id,
        "opened_on": row.opened_on,
        "closed_on": row.closed_on,
    }


_CASES = Case.__table__  # type: ignore[attr-defined]
_IDS_OF_REFS = select(_CASES.c.ref, _CASES.c.id).where(
    _CASES.c.ref.in_(bindparam("refs", expanding=True))
)
_INSERT_CASE = insert(_CASES)
_UPDATE_CASE = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("case_id"))
    .values(
        practitioner_id=bindparam("practitioner_id"),
        opened_on=bindparam("opened_on"),
        closed_on=bindparam("closed_on"),
    )
)
