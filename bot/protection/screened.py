"""The identifier guard's interface: what screening free text gives back, and what screens it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Screened:
    """An answer after the identifier guard: the text to keep, and what was found."""

    text: str
    withheld: tuple[str, ...] = ()
    warned: tuple[str, ...] = ()


class Guard(Protocol):
    """Screens free text for identifiers under an agency's ``options``, which only ever narrow
    what is looked for: text left alone under no options is left alone under any."""

    def screen(self, text: str, *, options: Mapping[str, Any]) -> Screened: ...


class NoGuard:
    def screen(self, text: str, *, options: Mapping[str, Any]) -> Screened:
        return Screened(text)
