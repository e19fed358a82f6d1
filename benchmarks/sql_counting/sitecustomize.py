"""Counts the SQL statements and transactions of a process served for the latency benchmark.

benchmarks/latency.py puts this directory first on the served process's PYTHONPATH, so Python
imports this module as it starts, in gunicorn's master and (by the fork) in its workers; it sets
``REFLECT_BENCH_SQL_COUNTS`` to a directory. Every engine the process makes is counted, and a
thread writes the counts to ``<directory>/<pid>.json`` every few tenths of a second, so the
benchmark can read them before and after its load without stopping the process. It works the
same on any commit served, the code before a change too.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

DIRECTORY = os.environ.get("REFLECT_BENCH_SQL_COUNTS")
WRITE_EVERY = 0.2
# Statements that start or end a transaction, counted as transactions, not as statements.
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


class _Counts:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.statements = 0
        self.transactions = 0
        self.commits = 0
        self.pid = 0
        self.written: tuple[int, int, int] | None = None

    def statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(_CONTROL):
            with self.lock:
                self.statements += 1

    def begin(self, _conn: Any) -> None:
        with self.lock:
            self.transactions += 1

    def commit(self, _conn: Any) -> None:
        with self.lock:
            self.commits += 1

    def write(self) -> None:
        with self.lock:
            now = (self.statements, self.transactions, self.commits)
        if now == self.written:
            return
        path = os.path.join(self.directory, f"{os.getpid()}.json")
        with open(path + ".tmp", "w") as file:
            json.dump(dict(zip(("statements", "transactions", "commits"), now, strict=True)), file)
        os.replace(path + ".tmp", path)
        self.written = now

    def keep_writing(self) -> None:
        while True:
            threading.Event().wait(WRITE_EVERY)
            if os.getpid() != self.pid:  # forked: the counts so far were the parent's
                return
            self.write()

    def start_writer(self) -> None:
        self.pid = os.getpid()
        threading.Thread(target=self.keep_writing, name="bench-sql-counts", daemon=True).start()


def _install(directory: str) -> None:
    from sqlalchemy import Engine, event

    counts = _Counts(directory)
    event.listen(Engine, "before_cursor_execute", counts.statement)
    event.listen(Engine, "begin", counts.begin)
    event.listen(Engine, "commit", counts.commit)

    def after_fork() -> None:
        with counts.lock:
            counts.statements = counts.transactions = counts.commits = 0
        counts.written = None
        counts.start_writer()

    os.register_at_fork(after_in_child=after_fork)
    counts.start_writer()


if DIRECTORY:
    _install(DIRECTORY)
