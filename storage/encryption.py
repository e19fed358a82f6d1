"""Free text is encrypted at rest with Fernet; several keys allow rotation (MultiFernet)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class EncryptionKeyError(RuntimeError):
    """No usable key, or a key that cannot read what is stored."""


class _Keyring:
    def __init__(self) -> None:
        self._fernet: MultiFernet | None = None

    def configure(self, keys: tuple[str, ...] | list[str]) -> None:
        if not keys:
            raise EncryptionKeyError("No encryption key was given.")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:
            raise EncryptionKeyError(
                "REFLECT_ENCRYPTION_KEY is not a valid key; make one with `reflect keys generate`."
            ) from exc

    @property
    def configured(self) -> bool:
        return self._fernet is not None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise EncryptionKeyError("Encryption is not configured in this process.")
        return self._fernet

    def encrypt(self, text: str) -> str:
        # surrogatepass: a lone surrogate (possible in JSON from Slack) is kept, not a crash.
        return self._require().encrypt(text.encode("utf-8", "surrogatepass")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._require().decrypt(token.encode("ascii")).decode("utf-8", "surrogatepass")
        except InvalidToken:
            raise EncryptionKeyError(
                "Stored text cannot be read with the configured keys "
                "(was REFLECT_ENCRYPTION_KEY changed without rotation?)."
            ) from None

    def rotate(self, token: str) -> str:
        return self._require().rotate(token.encode("ascii")).decode("ascii")


keyring = _Keyring()


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def load_or_create_key_file(path: Path) -> tuple[str, bool]:
    """Read the local key file beside a SQLite database, creating it (mode 0600) if missing.

    Returns the key and whether it was created now.
    """
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key, True
