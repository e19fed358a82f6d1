"""The identifier guard: finds details that identify a person in an answer before it is stored.

Reflect keeps case references, not identities. Each detector finds one kind of identifier; the
guard replaces what they find with a marker (``[NHS number removed]``) or, if the agency chose
warn-only, keeps the text and reports what it saw. The words for markers and kinds live in
``prompts/protection/identifiers.yaml``.

Detectors err towards catching: a false alarm costs the practitioner a few words, a miss puts an
identifier in the database. Their limits are written up in SECURITY.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import phonenumbers
import yaml

from bot.protection.screened import Screened

WORDING_FILE = Path(__file__).resolve().parents[2] / "prompts" / "protection" / "identifiers.yaml"
MODES = ("withhold", "warn")
DEFAULT_MODE = "withhold"

_SEP = r"[ \u00a0\t-]{0,3}"  # spaces, non-breaking spaces, tabs or dashes between digit groups


@dataclass(frozen=True, order=True)
class Found:
    """One identifier: where it is in the text, and its kind (a detector name)."""

    start: int
    end: int
    kind: str


Detector = Callable[[str], Iterator[Found]]


# ------------------------------------------------------------------ NHS numbers

# Not part of a longer number, a reference (CP/...) or an amount (£..., 1,234,...).
_NHS = re.compile(
    rf"(?<![\w/£$€])(?<!\d[.,])(\d{{3}}){_SEP}(\d{{3}}){_SEP}(\d{{4}})(?![\w/]|[.,]\d)"
)


def nhs_check_digit_ok(digits: str) -> bool:
    """The NHS number's modulus 11 check: weights 10..2 on the first nine digits."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def find_nhs_numbers(text: str) -> Iterator[Found]:
    for match in _NHS.finditer(text):
        if nhs_check_digit_ok("".join(match.groups())):
            yield Found(match.start(), match.end(), "nhs_number")


# ------------------------------------------------------------------ National Insurance numbers

# HMRC: first letter not D, F, I, Q, U, V; second not D, F, I, O, Q, U, V; suffix A-D.
_NI = re.compile(
    r"\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])[ \u00a0-]?"
    r"(\d{2})[ \u00a0-]?(\d{2})[ \u00a0-]?(\d{2})[ \u00a0-]?([A-D])\b",
    re.IGNORECASE,
)
NI_UNALLOCATED_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def find_ni_numbers(text: str) -> Iterator[Found]:
    for match in _NI.finditer(text):
        if match.group(1).upper() not in NI_UNALLOCATED_PREFIXES:
            yield Found(match.start(), match.end(), "ni_number")


# ------------------------------------------------------------------ postcodes

# BS7666 shapes: A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA, AA9A 9AA, and GIR 0AA.
_POSTCODE = re.compile(
    r"\b(?:GIR[ \u00a0]?0AA|"
    r"(?:[A-PR-UWYZ]\d[A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y]\d[ABEHMNPRV-Y]"
    r"|[A-PR-UWYZ]\d\d?"
    r"|[A-PR-UWYZ][A-HK-Y]\d\d?)"
    r"[ \u00a0]?\d[ABD-HJLNP-UW-Z]{2})\b",
    re.IGNORECASE,
)


def find_postcodes(text: str) -> Iterator[Found]:
    for match in _POSTCODE.finditer(text):
        yield Found(match.start(), match.end(), "postcode")


# ------------------------------------------------------------------ phone numbers


def find_phone_numbers(text: str) -> Iterator[Found]:
    """Valid numbers as the phonenumbers library judges them, UK numbers written nationally."""
    matcher = phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID)
    for match in matcher:
        yield Found(match.start, match.end, "phone")


# ------------------------------------------------------------------ e-mail addresses

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
)


def find_emails(text: str) -> Iterator[Found]:
    for match in _EMAIL.finditer(text):
        yield Found(match.start(), match.end(), "email")


# ------------------------------------------------------------------ dates of birth

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
_DATE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})(?!\d)"
    r"|\d{4}-\d{1,2}-\d{1,2}(?!\d)"
    rf"|\d{{1,2}}{_ORDINAL}(?:\s+of)?\s+{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}\s+(?:the\s+)?\d{{1,2}}{_ORDINAL},?\s+\d{{4}})"
)
# A date counts as a date of birth only when it is given as one: "DOB", "born on", "date of birth".
_DOB = re.compile(
    r"\b(?:d\.?\s?o\.?\s?b\b\.?|date\s+of\s+birth|birth\s?date|birthday|born)"
    r"(?:\s*(?:is|was|:|=|-|–)\s*|\s+)?(?:on\s+)?(?:the\s+)?"
    rf"(?P<date>{_DATE})",
    re.IGNORECASE,
)


def find_dates_of_birth(text: str) -> Iterator[Found]:
    for match in _DOB.finditer(text):
        yield Found(match.start("date"), match.end("date"), "date_of_birth")


# ------------------------------------------------------------------ the guard

DETECTORS: dict[str, Detector] = {
    "nhs_number": find_nhs_numbers,
    "ni_number": find_ni_numbers,
    "postcode": find_postcodes,
    "phone": find_phone_numbers,
    "email": find_emails,
    "date_of_birth": find_dates_of_birth,
}


@dataclass(frozen=True)
class Wording:
    described: str
    marker: str


@cache
def wording() -> dict[str, Wording]:
    raw = yaml.safe_load(WORDING_FILE.read_text(encoding="utf-8"))
    return {kind: Wording(**raw[kind]) for kind in DETECTORS}


@dataclass(frozen=True)
class GuardSettings:
    """An agency's choice, from `identifiers:` in the organisation file."""

    mode: str = DEFAULT_MODE
    detectors: tuple[str, ...] = tuple(DETECTORS)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> GuardSettings:
        """Read agency options; anything unreadable falls back to the safest choice (withhold
        everything). The organisation loader refuses such files, so this is belt and braces."""
        chosen = options.get("identifiers")
        if not isinstance(chosen, Mapping):
            return cls()
        mode = chosen.get("mode", DEFAULT_MODE)
        detectors = chosen.get("detectors", list(DETECTORS))
        if mode not in MODES or not isinstance(detectors, list):
            return cls()
        if any(d not in DETECTORS for d in detectors):
            return cls()
        return cls(mode=mode, detectors=tuple(d for d in DETECTORS if d in detectors))


def find_identifiers(text: str, detectors: Sequence[str] = tuple(DETECTORS)) -> list[Found]:
    """Every identifier found, left to right, overlaps resolved in favour of the longest."""
    found = sorted(
        (f for name in detectors for f in DETECTORS[name](text)),
        key=lambda f: (f.start, -(f.end - f.start)),
    )
    kept: list[Found] = []
    for item in found:
        if kept and item.start < kept[-1].end:
            continue
        kept.append(item)
    return kept


def withhold(text: str, found: Sequence[Found]) -> str:
    words = wording()
    pieces: list[str] = []
    position = 0
    for item in found:
        pieces.append(text[position : item.start])
        pieces.append(words[item.kind].marker)
        position = item.end
    pieces.append(text[position:])
    return "".join(pieces)


def described_kinds(found: Sequence[Found]) -> tuple[str, ...]:
    """What was found, in words, each kind once, in detector order."""
    kinds = {f.kind for f in found}
    words = wording()
    return tuple(words[k].described for k in DETECTORS if k in kinds)


class IdentifierGuard:
    """The Guard the reflection service screens every free-text answer with."""

    def screen(self, text: str, *, options: Mapping[str, Any]) -> Screened:
        settings = GuardSettings.from_options(options)
        found = find_identifiers(text, settings.detectors)
        if not found:
            return Screened(text)
        if settings.mode == "warn":
            return Screened(text, warned=described_kinds(found))
        return Screened(withhold(text, found), withheld=described_kinds(found))
