"""Typed text as it may be kept and shown: without bidirectional controls, which reverse the
rest of a line where they are shown, and empty when nothing in it can be seen.

``as_typed`` is applied once, as text comes in (bot/reflection/service.py's ``respond``, and a
supervisor's note or decision); ``without_bidi`` again as any text is shown (bot/render.py), for
text stored before it was applied on the way in.
"""

from __future__ import annotations

import re
import unicodedata

# Embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Format (zero-width space, joiners, word joiner, BOM...), control, space and separator characters.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})
# Letters and marks that draw nothing: Hangul fillers, the blank Braille pattern, the combining
# grapheme joiner.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")


def without_bidi(text: str) -> str:
    return _BIDI_CONTROLS.sub("", text)


def _visible(char: str) -> bool:
    if char in _BLANK or char.isspace():
        return False
    if "\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef":
        return False  # variation selectors
    return unicodedata.category(char) not in _INVISIBLE_CATEGORIES


def as_typed(text: str) -> str:
    """``text`` without bidirectional controls, or "" when none of it can be seen."""
    text = without_bidi(text)
    return text if any(_visible(char) for char in text) else ""
