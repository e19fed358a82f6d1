"""Counting the SQL a block of code sends: how many statements, in how many transactions.

    with counted(engine) as sql:
        ...
    assert sql.transactions == 1 and len(sql.statements) <= 8

Every statement sent through ``engine`` while the block runs is counted (SQLAlchemy's
``before_cursor_execute``), apart from those that only begin or end a transaction (SQLite's
``BEGIN IMMEDIATE``, savepoints, pragmas); ``transactions`` counts the transactions connections
began (a read's too). ``after_commits(n)`` is what was sent after the first ``n`` commits, for a
block whose first work (storing a request, say) is not what is being counted. With
``this_thread_only``, what other threads send meanwhile (a sender's) is not counted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

BEGIN, COMMIT = "<begin>", "<commit>"
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


@dataclass
class Counted:
    """What was sent, in order: statements, and the BEGIN and COMMIT markers."""

    sent: list[str] = field(default_factory=list)
    thread: int | None = None  # count only this thread's, if given
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def statements(self) -> list[str]:
        return [s for s in self.sent if s not in (BEGIN, COMMIT)]

    @property
    def transactions(self) -> int:
        return self.sent.count(BEGIN)

    def after_commits(self, commits: int) -> Counted:
        """What was sent after the first ``commits`` commits."""
        seen = 0
        for at, sent in enumerate(self.sent):
            if seen == commits:
                return Counted(self.sent[at:])
            seen += sent == COMMIT
        return Counted([] if seen == commits else self.sent[:0])

    def shown(self) -> str:
        """One line each, shortened, for an assertion's message."""
        return "\n".join(f"  {s[:150]}" for s in self.sent)

    def _note(self, sent: str) -> None:
        if self.thread is None or self.thread == threading.get_ident():
            with self.lock:
                self.sent.append(sent)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(_CONTROL):
            self._note(" ".join(statement.split()))

    def _begin(self, _conn: Any) -> None:
        self._note(BEGIN)

    def _commit(self, _conn: Any) -> None:
        self._note(COMMIT)


@contextmanager
def counted(engine: Engine, *, this_thread_only: bool = False) -> Iterator[Counted]:
    sql = Counted(thread=threading.get_ident() if this_thread_only else None)
    listeners = [
        ("before_cursor_execute", sql._statement),
        ("begin", sql._begin),
        ("commit", sql._commit),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield sql
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
