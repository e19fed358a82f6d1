"""What is wrong with the database, in an operator's terms, and the checks behind /healthz.

Errors are told apart by the driver's codes (SQLite's result codes, PostgreSQL's SQLSTATE), not
by their text, and never logged with their text: a statement's parameters can hold what a
practitioner typed. A log line names the fault, the code and the exception type only.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc
from sqlalchemy import select as sa_select
from sqlalchemy.engine import URL, make_url
from sqlmodel import Session, col

from storage.models import InboxItem, OutboxMessage
from storage.statuses import UNSENT, InboxStatus

logger = logging.getLogger(__name__)

# The same fault is logged at most this often per process; an outage fails every request.
LOG_EVERY_SECONDS = 30.0
# Less free space than this beside a SQLite database and the next writes may fail.
MIN_FREE_BYTES = 256 * 1024


class Fault(StrEnum):
    UNREACHABLE = "unreachable"
    READ_ONLY = "read-only"
    DISK_FULL = "disk full"
    DISK_ERROR = "disk error"
    LOCKED = "locked"
    TIMED_OUT = "timed out"


class NoAnswer(Exception):
    """Marks the error raised when a connection gave no answer in time and was closed."""


class WriterQueueTimeout(Exception):
    """This process's writers waited too long for their turn at SQLite's single write lock."""


@dataclass(frozen=True)
class Diagnosis:
    fault: Fault
    code: str  # SQLITE_BUSY, 55P03, or what stands for one ("no answer", "pool")
    error: str  # the exception's type, never its text
    detail: str  # what it means, for the log and the CLI

    @property
    def reason(self) -> str:
        """Short, for /healthz and the 503 body; no paths or names."""
        return f"database {self.fault}"

    def log_line(self) -> str:
        return f"database {self.fault}: {self.detail} ({self.error} {self.code})"


# ------------------------------------------------------------------ diagnosis

_SQLITE_FAULTS = {
    sqlite3.SQLITE_BUSY: Fault.LOCKED,
    sqlite3.SQLITE_LOCKED: Fault.LOCKED,
    sqlite3.SQLITE_READONLY: Fault.READ_ONLY,
    sqlite3.SQLITE_PERM: Fault.READ_ONLY,
    sqlite3.SQLITE_FULL: Fault.DISK_FULL,
    sqlite3.SQLITE_IOERR: Fault.DISK_ERROR,
    sqlite3.SQLITE_CORRUPT: Fault.DISK_ERROR,
    sqlite3.SQLITE_NOTADB: Fault.DISK_ERROR,
    sqlite3.SQLITE_CANTOPEN: Fault.UNREACHABLE,
}

# SQLSTATEs by exact code, then by class (the first two characters).
_POSTGRES_CODES = {
    "55P03": Fault.LOCKED,  # lock_not_available: lock_timeout ran out
    "40P01": Fault.LOCKED,  # deadlock_detected
    "57014": Fault.TIMED_OUT,  # query_canceled: statement_timeout ran out
    "25P03": Fault.TIMED_OUT,  # idle_in_transaction_session_timeout
    "25006": Fault.READ_ONLY,  # read_only_sql_transaction
    "53100": Fault.DISK_FULL,
    "58030": Fault.DISK_ERROR,  # io_error
    "57P01": Fault.UNREACHABLE,  # admin_shutdown
    "57P02": Fault.UNREACHABLE,  # crash_shutdown
    "57P03": Fault.UNREACHABLE,  # cannot_connect_now
    "53300": Fault.UNREACHABLE,  # too_many_connections
}
_POSTGRES_CLASSES = {"08": Fault.UNREACHABLE, "28": Fault.UNREACHABLE}
_POSTGRES_DETAILS = {
    "40P01": "two transactions waited on each other's locks (a deadlock); one was ended",
    "25P03": "the server ended a session left idle in a transaction for longer than "
    "idle_in_transaction_session_timeout",
    "53300": "the database server has no free connections; check max_connections against "
    "the processes using it",
    "57P01": "the database server is shutting down or restarting",
    "57P02": "the database server is shutting down or restarting",
    "57P03": "the database server is starting up or shutting down",
}

UNREACHABLE_DETAIL = (
    "check DATABASE_URL, and that the database server is up and reachable from here"
)
_DETAILS = {
    Fault.UNREACHABLE: UNREACHABLE_DETAIL,
    Fault.READ_ONLY: "the database server refuses writes (a standby, or "
    "default_transaction_read_only is on); point DATABASE_URL at the primary",
    Fault.DISK_FULL: "free space on the database server's disk",
    Fault.DISK_ERROR: "a read or write failed on the database's disk, or its files are "
    "damaged; check the disk and the database server's log",
    Fault.LOCKED: "another session held a lock Reflect needed for longer than lock_timeout; "
    "look in pg_stat_activity for a session left idle in transaction",
    Fault.TIMED_OUT: "a statement ran longer than statement_timeout; check the database "
    "server's load",
}
_SQLITE_DETAILS = {
    Fault.LOCKED: "another process holds the SQLite database's write lock (another reflect "
    "command, or a tool with the file open); if this goes on, stop that process",
    Fault.DISK_FULL: "free space on the disk that holds the database file",
    Fault.DISK_ERROR: "a read or write failed on the disk that holds the database file, or "
    "the file is damaged",
    Fault.READ_ONLY: "the database file cannot be written; check its permissions and its folder's",
    Fault.UNREACHABLE: "the database file cannot be opened; check DATABASE_URL and the "
    "permissions of the file and its folder",
}


def unreachable(code: str, error: str) -> Diagnosis:
    return Diagnosis(Fault.UNREACHABLE, code, error, UNREACHABLE_DETAIL)


def diagnose(error: BaseException, sqlite_path: Path | None = None) -> Diagnosis | None:
    """The fault behind ``error``, or None when it is not the database's availability (a
    constraint, a bug). ``sqlite_path`` lets a read-only or unopenable file say where."""
    if isinstance(error, sa_exc.TimeoutError):
        return Diagnosis(
            Fault.TIMED_OUT, "pool", type(error).__name__, "no free database connection in time"
        )
    original = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    kind = type(original).__name__
    if isinstance(original, WriterQueueTimeout):
        detail = "this process's other writers held SQLite's write lock too long"
        return Diagnosis(Fault.LOCKED, "writer queue", kind, detail)
    if isinstance(original, NoAnswer):
        detail = f"{original}; check the network to the database server, and the server"
        return Diagnosis(Fault.TIMED_OUT, "no answer", kind, detail)
    if isinstance(original, sqlite3.Error):
        return _diagnose_sqlite(original, sqlite_path)
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate:
        fault = _POSTGRES_CODES.get(sqlstate) or _POSTGRES_CLASSES.get(sqlstate[:2])
        if fault is None:
            return None
        return Diagnosis(fault, sqlstate, kind, _POSTGRES_DETAILS.get(sqlstate, _DETAILS[fault]))
    if isinstance(error, sa_exc.OperationalError) or kind in {"OperationalError", "InterfaceError"}:
        # A driver's error without a code: the connection failed or was lost.
        return unreachable("connection", kind)
    return None


def _diagnose_sqlite(error: sqlite3.Error, path: Path | None) -> Diagnosis | None:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return None
    fault = _SQLITE_FAULTS.get(code & 0xFF)
    if fault is None:
        return None
    name = getattr(error, "sqlite_errorname", str(code))
    detail = _SQLITE_DETAILS[fault]
    if path is not None and fault in {Fault.DISK_FULL, Fault.DISK_ERROR}:
        # A full disk shows as SQLITE_FULL, or as an I/O error on the shared-memory file.
        low = _low_disk_space(path)
        if low is not None:
            return Diagnosis(Fault.DISK_FULL, name, type(error).__name__, low.detail)
        if fault is Fault.DISK_FULL:
            detail = f"free space on the disk that holds {path}"
    if path is not None and fault in {Fault.READ_ONLY, Fault.UNREACHABLE, Fault.DISK_ERROR}:
        place = SQLiteFile.at(path)
        if place.problem is not None:
            fault, detail = place.problem
    return Diagnosis(fault, name, type(error).__name__, detail)


@dataclass(frozen=True)
class SQLiteFile:
    """Whether a SQLite database and its folder can be written (SQLite writes its journal
    files beside the database, so both must be)."""

    path: Path
    folder_exists: bool
    folder_writable: bool
    file_exists: bool
    file_writable: bool

    @classmethod
    def at(cls, path: Path) -> SQLiteFile:
        folder = path.parent
        return cls(
            path=path,
            folder_exists=folder.is_dir(),
            folder_writable=os.access(folder, os.W_OK),
            file_exists=path.exists(),
            file_writable=os.access(path, os.W_OK),
        )

    @property
    def problem(self) -> tuple[Fault, str] | None:
        folder = self.path.parent
        if not self.folder_exists:
            return Fault.UNREACHABLE, f"the folder {folder} does not exist; check DATABASE_URL"
        if not self.folder_writable:
            return Fault.READ_ONLY, (
                f"the folder {folder} is read-only (SQLite writes files beside the database); "
                "check its permissions, and that its disk is not mounted read-only"
            )
        if self.file_exists and not self.file_writable:
            return Fault.READ_ONLY, (
                f"the database file {self.path} is read-only; check its permissions, and that "
                "its disk is not mounted read-only"
            )
        return None


def sqlite_file(database_url: str | URL) -> Path | None:
    """The file of a SQLite database URL (None for PostgreSQL or in-memory)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser().resolve()


# ------------------------------------------------------------------ what this thread saw

_seen = threading.local()
_logged_at: dict[tuple[Fault, str], float] = {}
_logged_lock = threading.Lock()


def note(error: BaseException, sqlite_path: Path | None = None, *, log: bool) -> Diagnosis | None:
    """Diagnose ``error`` and remember it for this thread (see noted()); if ``log``, log it,
    once in a while for the same fault. None for an error that is no fault of availability."""
    diagnosis = diagnose(error, sqlite_path)
    if diagnosis is None:
        return None
    _seen.diagnosis = diagnosis
    if log:
        _log_now_and_then(diagnosis)
    return diagnosis


def noted() -> Diagnosis | None:
    """The last fault this thread met since forget_noted()."""
    return getattr(_seen, "diagnosis", None)


def forget_noted() -> None:
    _seen.diagnosis = None


def _log_now_and_then(diagnosis: Diagnosis) -> None:
    key = (diagnosis.fault, diagnosis.code)
    now = time.monotonic()
    with _logged_lock:
        last = _logged_at.get(key)
        if last is not None and now - last < LOG_EVERY_SECONDS:
            return
        _logged_at[key] = now
    logger.error("%s", diagnosis.log_line())


# ------------------------------------------------------------------ probes for /healthz


def probe_sqlite(path: Path, busy_timeout: float) -> Diagnosis | None:
    """Can the database be written now? Looks at the free space beside it, then takes the
    write lock (BEGIN IMMEDIATE), writes the header's user_version back unchanged, and rolls
    back: that fails on a lock held elsewhere and on a read-only file or folder."""
    if path.parent.is_dir():
        low = _low_disk_space(path)
        if low is not None:
            return low
    uri = f"file:{quote(str(path))}?mode=rw"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as error:
        return _failed_probe(error, path)
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(f"PRAGMA user_version = {int(version)}")
    except sqlite3.Error as error:
        return _failed_probe(error, path)
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()
    return None


def _failed_probe(error: sqlite3.Error, path: Path) -> Diagnosis:
    diagnosis = diagnose(error, path)
    if diagnosis is not None:
        return diagnosis
    return unreachable(getattr(error, "sqlite_errorname", "unknown"), type(error).__name__)


def _low_disk_space(path: Path) -> Diagnosis | None:
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return None
    free = stats.f_bavail * stats.f_frsize
    if free >= MIN_FREE_BYTES:
        return None
    detail = f"the disk that holds {path} has {free // 1024} KiB free; free some space on it"
    return Diagnosis(Fault.DISK_FULL, "free space", "statvfs", detail)


def probe_postgresql(connection: Connection) -> Diagnosis | None:
    """Answers, and would accept a write: not a standby, not read-only by default."""
    standby, read_only = connection.execute(
        text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
    ).one()
    if standby or read_only == "on":
        place = "a standby" if standby else "read-only (default_transaction_read_only)"
        detail = f"the database server is {place}; point DATABASE_URL at the primary"
        return Diagnosis(Fault.READ_ONLY, "read only", "probe", detail)
    return None


# ------------------------------------------------------------------ the backlog


@dataclass(frozen=True)
class Oldest:
    """The oldest answer still to be handled, or message still to be sent: no content."""

    id: int
    since: datetime  # received, or recorded
    owner: str | None  # the process holding it, if any
    held_until: datetime  # its claim's end, or when it is next due
    tries: int
    last_error: str | None


def oldest_waiting_answer(session: Session) -> Oldest | None:
    """The answer or /reflect waiting longest to be handled (items set aside for an operator
    are not waiting). Reads only; the inbox holds only what is not handled yet, so it stays
    small."""
    row = session.execute(
        sa_select(
            col(InboxItem.id),
            col(InboxItem.received_at),
            col(InboxItem.owner),
            col(InboxItem.claimed_until),
            col(InboxItem.attempts),
            col(InboxItem.last_error),
        )
        .where(col(InboxItem.status) == InboxStatus.WAITING)
        .order_by(col(InboxItem.received_at), col(InboxItem.id))
        .limit(1)
    ).first()
    return None if row is None else Oldest(*row)


def oldest_unsent_message(session: Session) -> Oldest | None:
    """The message waiting longest to be sent (pending or being sent; not one set aside)."""
    row = session.execute(
        sa_select(
            col(OutboxMessage.id),
            col(OutboxMessage.created_at),
            col(OutboxMessage.owner),
            col(OutboxMessage.next_attempt_at),
            col(OutboxMessage.attempts),
            col(OutboxMessage.last_error),
        )
        .where(col(OutboxMessage.status).in_(UNSENT))
        .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
        .limit(1)
    ).first()
    return None if row is None else Oldest(*row)
