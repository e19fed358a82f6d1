"""Key rotation: re-encrypt every encrypted column under the first key in REFLECT_ENCRYPTION_KEY.

Rotation runs in batches, each its own transaction, and only rewrites values not yet under the
new key, so it can be stopped and run again (it carries on where it stopped) and a second run
changes nothing. Each value is replaced only if it is still the one read, so an answer saved by
the running app during rotation is never overwritten with an older one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine, Table, Text, column, select, table, update
from sqlmodel import SQLModel

from storage.encryption import EncryptionKeyError, keyring
from storage.types import EncryptedJSON, EncryptedText

BATCH_SIZE = 500


@dataclass
class ColumnReport:
    rotated: int = 0
    already_current: int = 0
    unreadable: int = 0


@dataclass
class RotationReport:
    columns: dict[str, ColumnReport] = field(default_factory=dict)
    batches: int = 0

    @property
    def rotated(self) -> int:
        return sum(c.rotated for c in self.columns.values())

    @property
    def already_current(self) -> int:
        return sum(c.already_current for c in self.columns.values())

    @property
    def unreadable(self) -> int:
        return sum(c.unreadable for c in self.columns.values())


def encrypted_columns() -> list[tuple[Table, list[str]]]:
    """Every table with encrypted columns, and those columns' names, from the models."""
    found: list[tuple[Table, list[str]]] = []
    for model_table in SQLModel.metadata.sorted_tables:
        names = [
            c.name for c in model_table.columns if isinstance(c.type, EncryptedText | EncryptedJSON)
        ]
        if names:
            found.append((model_table, names))
    return found


# How many of each table's newest rows the start-up check looks through for a value to read:
# enough to find one (most columns are rarely empty), few enough to cost nothing at any size.
CHECKED_ROWS = 50


def check_stored_text_readable(engine: Engine) -> None:
    """Refuse, with EncryptionKeyError, keys that cannot read what is stored: the newest value in
    each encrypted column (among each table's newest rows) is decrypted. A changed key is caught
    when a command starts, not in the middle of a reflection (a step decrypts only the answers
    its rules look at, so it might not notice)."""
    for model_table, names in encrypted_columns():
        raw = table(model_table.name, column("id"), *(column(name, Text) for name in names))
        with engine.connect() as connection:
            rows = connection.execute(
                select(*(raw.c[name] for name in names))
                .order_by(raw.c.id.desc())
                .limit(CHECKED_ROWS)
            ).all()
        for position in range(len(names)):
            token = next((row[position] for row in rows if row[position] is not None), None)
            if token is not None:
                keyring.decrypt(token)


def _fernets(keys: Sequence[str]) -> tuple[Fernet, MultiFernet]:
    if not keys:
        raise EncryptionKeyError(
            "Set REFLECT_ENCRYPTION_KEY to NEWKEY,OLDKEY (new key first) to rotate."
        )
    try:
        fernets = [Fernet(k.encode()) for k in keys]
    except ValueError as exc:
        raise EncryptionKeyError(
            "REFLECT_ENCRYPTION_KEY holds a value that is not a key; make one with "
            "`reflect keys generate`."
        ) from exc
    return fernets[0], MultiFernet(fernets)


def rotate_keys(
    engine: Engine, keys: Sequence[str], *, batch_size: int = BATCH_SIZE
) -> RotationReport:
    """Re-encrypt every encrypted value under ``keys[0]``; the other keys are only read."""
    newest, every = _fernets(keys)
    report = RotationReport()
    for model_table, names in encrypted_columns():
        raw = table(
            model_table.name, column("id"), *(column(name, Text) for name in names)
        )  # plain text columns: the stored tokens, not the decrypted values
        for name in names:
            report.columns[f"{model_table.name}.{name}"] = ColumnReport()
        last_id = 0
        while True:
            with engine.begin() as connection:
                rows = connection.execute(
                    select(raw).where(raw.c.id > last_id).order_by(raw.c.id).limit(batch_size)
                ).all()
                for row in rows:
                    for name in names:
                        token = getattr(row, name)
                        if token is None:
                            continue
                        counts = report.columns[f"{model_table.name}.{name}"]
                        fresh = _rotated(token, newest, every, counts)
                        if fresh is not None:
                            connection.execute(
                                update(raw)
                                .where(raw.c.id == row.id, raw.c[name] == token)
                                .values({name: fresh})
                            )
            report.batches += 1
            if len(rows) < batch_size:
                break
            last_id = rows[-1].id
    return report


def replace_key_file(path: Path, key: str) -> None:
    """Write the new key over a SQLite database's key file, atomically, readable only by its
    owner, so the file and the re-encrypted database stay together."""
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(fresh, path)


def _rotated(token: str, newest: Fernet, every: MultiFernet, counts: ColumnReport) -> str | None:
    encoded = token.encode("ascii")
    try:
        newest.decrypt(encoded)
        counts.already_current += 1
        return None
    except InvalidToken:
        pass
    try:
        fresh = every.rotate(encoded).decode("ascii")
    except InvalidToken:
        counts.unreadable += 1
        return None
    counts.rotated += 1
    return fresh
