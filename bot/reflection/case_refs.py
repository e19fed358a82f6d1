"""What a case reference may be: a short code with a number in it, never a name or an NHS or
National Insurance number (neither is ever stored)."""

from __future__ import annotations

import re

from bot.protection.identifiers import IdentifierGuard

CASE_REF_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9/_.-]{1,39}$")


def normalise_case_ref(text: str) -> str:
    return text.strip().upper()


def case_ref_problem(ref: str) -> str | None:
    """Why a case reference is refused, as a template name, or None if it is fine."""
    if not CASE_REF_PATTERN.match(ref):
        return "case_ref_invalid"
    if not any(ch.isdigit() for ch in ref):
        # A reference with no number is most likely a name; names are not stored.
        return "case_ref_no_digits"
    if IdentifierGuard().screen(ref, options={}).withheld:
        # An NHS or National Insurance number is not a case reference (and is never stored).
        return "case_ref_identifier"
    return None
