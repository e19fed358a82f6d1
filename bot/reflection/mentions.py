"""Listening to free text: finding a mention (drinking, an injury, a man nobody has met...) in what
a practitioner wrote, and the words to quote back to them.

A mention is never a flag by itself: it only asks a confirming question. So the detector leans
towards asking, and guards against the two ways keywords mislead: negation ("neither parent
drinks") and reported denial, which is not negation ("mum says she doesn't drink" still asks).
Nothing here assumes who a pronoun means: the confirming questions ask about "an adult in the
home" or "a man in the child's life", never "the mother".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.reflection.words import Reading, Shorthand, read

# A full stop between digits is a time or a number ("at 1.30", "3.5kg"), not a sentence's end.
_SENTENCES = re.compile(r"(?:(?<!\d)\.|\.(?!\d)|[!?;\n])+")
# Clause boundaries: a negation before "but" does not reach past it.
_CLAUSES = re.compile(r",|\b(?:but|although|though|however|whereas|except)\b", re.IGNORECASE)
_NEGATORS = re.compile(
    r"\b(?:no|not|never|neither|nor|without|none|nobody|nothing|no-one|no one|"
    r"\w+n't|(?:do|does|did|is|was|are|were|has|have|had|ca|wo|could|would|should)nt|cannot)\b",
    re.IGNORECASE,
)
# "not sure whether dad drinks" and "don't know if she drinks" are uncertainty, not negation.
_UNCERTAIN_AFTER = re.compile(r"^\s*(?:sure|know|certain|clear|aware|yet known)\b", re.IGNORECASE)
# Someone else's denial is reported, not the practitioner's own finding.
_REPORTED = re.compile(
    r"\b(?:says?|said|claims?|claimed|told me|tells me|reports?|reported|denies|denied|insists?|"
    r"according to)\b",
    re.IGNORECASE,
)
NEGATION_REACH = 5  # words before a match that a negation can govern
QUOTE_WORDS = 14


@dataclass(frozen=True)
class Heard:
    """Where a mention was heard: the words to quote, and how strong the evidence is (the rank
    of the first pattern that matched: patterns are listed strongest first)."""

    quote: str
    rank: int


@dataclass(frozen=True)
class Detector:
    """One mention: its patterns, an optional second pattern needed in the same sentence, and
    whether a negation cancels it. Every pattern is matched against what was written and
    against its reading as base words with shorthand spelled out (``words.read``)."""

    patterns: tuple[str, ...]
    also: tuple[str, ...] = ()
    negatable: bool = True
    unless: tuple[str, ...] = ()
    shorthand: Shorthand = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", _compile_ranked(self.patterns))
        object.__setattr__(self, "_also", _compile(self.also) if self.also else None)
        object.__setattr__(self, "_unless", _compile(self.unless) if self.unless else None)

    def find(self, text: str) -> str | None:
        """The words to quote when ``text`` mentions this, or None."""
        heard = self.hear(text, first=True)
        return heard.quote if heard else None

    def hear(self, text: str, first: bool = False) -> Heard | None:
        """The strongest evidence for this mention in ``text`` (or the first, if ``first``)."""
        text = text.replace("\u2019", "'")
        pattern: re.Pattern[str] = self._pattern  # type: ignore[attr-defined]
        best: Heard | None = None
        for sentence in _SENTENCES.split(text):
            if not sentence.strip() or not self._sentence_counts(sentence):
                continue
            reading = read(sentence, self.shorthand)
            for match, start, end in _matches(pattern, sentence, reading):
                if self.negatable and _negated(sentence, start):
                    continue
                rank = int((match.lastgroup or "p0")[1:])
                if best is None or rank < best.rank:
                    best = Heard(_quote(sentence, start, end), rank)
                if first:
                    return best
        return best

    def _sentence_counts(self, sentence: str) -> bool:
        also: re.Pattern[str] | None = self._also  # type: ignore[attr-defined]
        unless: re.Pattern[str] | None = self._unless  # type: ignore[attr-defined]
        if also is None and unless is None:
            return True
        reading = read(sentence, self.shorthand).text
        if also is not None and not (also.search(sentence) or also.search(reading)):
            return False
        return unless is None or not (unless.search(sentence) or unless.search(reading))


def _matches(
    pattern: re.Pattern[str], sentence: str, reading: Reading
) -> Iterator[tuple[re.Match[str], int, int]]:
    """Matches in what was written, then in the reading, each with where it was written."""
    for match in pattern.finditer(sentence):
        yield match, match.start(), match.end()
    for match in pattern.finditer(reading.text):
        where = reading.written(match.start(), match.end())
        if where is not None:
            yield match, where[0], where[1]


def _compile_ranked(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(rf"\b(?P<p{n}>{p})" for n, p in enumerate(patterns)), re.IGNORECASE)


def _compile(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(rf"\b(?:{p})" for p in patterns), re.IGNORECASE)


def _negated(sentence: str, start: int) -> bool:
    clause_start = 0
    for boundary in _CLAUSES.finditer(sentence, 0, start):
        clause_start = boundary.end()
    before = sentence[clause_start:start]
    words = before.split()
    window = " ".join(words[-NEGATION_REACH:])
    for negator in _NEGATORS.finditer(window):
        if _UNCERTAIN_AFTER.match(window[negator.end() :]):
            continue
        if _REPORTED.search(before[: len(before) - len(window) + negator.start()]):
            continue
        return True
    return False


def _quote(sentence: str, start: int, end: int) -> str:
    """The sentence around the match, shortened to about QUOTE_WORDS words."""
    before = sentence[:start].split()
    matched = sentence[start:end]
    after = sentence[end:].split()
    # The match may end mid-word ("bruis" in "bruises"): keep the rest of that word.
    if after and not sentence[end : end + 1].isspace() and end < len(sentence):
        matched += after.pop(0)
    room = max(QUOTE_WORDS - len(matched.split()), 2)
    keep_before = before[-(room // 2) :] if room // 2 else []
    keep_after = after[: room - len(keep_before)]
    words = [*keep_before, matched, *keep_after]
    text = " ".join(w for w in words if w).strip(" ,:-\"'")
    if len(keep_before) < len(before):
        text = "..." + text
    if len(keep_after) < len(after):
        text += "..."
    return text
