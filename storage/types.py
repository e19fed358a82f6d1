"""Column types: UTC timestamps on every database, statuses, and encrypted free text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, String, Text
from sqlalchemy.types import TypeDecorator

from storage.encryption import keyring


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC, returned as aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Status(TypeDecorator[str]):
    """A StrEnum stored as its value in a plain string column, returned as the enum member. A
    value the enum does not name (written by a newer release) is returned as it was stored."""

    impl = String
    cache_ok = True

    def __init__(self, statuses: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.statuses = statuses

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        try:
            return self.statuses(value)
        except ValueError:
            return value


class EncryptedText(TypeDecorator[str]):
    """Free text a person typed: a Fernet token in the database, plain text in Python."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring.decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document holding free text, encrypted as a whole."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else keyring.encrypt(json.dumps(value, ensure_ascii=False))

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else json.loads(keyring.decrypt(value))
