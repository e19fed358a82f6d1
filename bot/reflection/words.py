"""Words as people type them in Slack, read as base words: "bf" is "boyfriend", "pushed" is
"push", "told" is "tell", "bottles" is "bottle". Mentions match their patterns against this
reading as well as against what was written, so a pattern names a base word once instead of
listing every way it is inflected or abbreviated.

Word forms come from simplemma (a lemmatiser whose English dictionary ships with it: nothing is
downloaded); shorthand from the question set's `shorthand:` table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import simplemma

# Letters and digits apart ("5yo" is "5" and "yo"), apostrophes and hyphens inside a word kept.
_TOKEN = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*|\d+", re.UNICODE)
_POSSESSIVE = re.compile(r"['\u2019]s$")
# Where the lemmatiser's dictionary is wrong for how practitioners write.
_OVERRIDES = {"gone": "go", "lying": "lie", "left": "leave", "shook": "shake", "bit": "bit"}


@dataclass(frozen=True)
class Reading:
    """A sentence read as base words: ``text`` is the words joined by single spaces, and
    ``spans`` maps each word's place in ``text`` to where it was written."""

    text: str
    spans: tuple[tuple[int, int, int, int], ...]  # start, end in text; start, end as written

    def written(self, start: int, end: int) -> tuple[int, int] | None:
        """Where the words at ``text[start:end]`` were written, or None."""
        covered = [s for s in self.spans if s[1] > start and s[0] < end]
        if not covered:
            return None
        return covered[0][2], covered[-1][3]


Shorthand = tuple[tuple[str, str], ...]


def read(sentence: str, shorthand: Shorthand = ()) -> Reading:
    parts: list[str] = []
    spans: list[tuple[int, int, int, int]] = []
    at = 0
    for token in _TOKEN.finditer(sentence):
        word = token.group(0).lower().replace("\u2019", "'")
        for base in _base_words(word, shorthand):
            start = at
            parts.append(base)
            at += len(base) + 1
            spans.append((start, start + len(base), token.start(), token.end()))
    return Reading(" ".join(parts), tuple(spans))


@lru_cache(maxsize=16384)
def _base_words(word: str, shorthand: Shorthand) -> tuple[str, ...]:
    expanded = _table(shorthand).get(word)
    if expanded is not None:
        return tuple(_lemma(w) for w in expanded.split())
    return (_lemma(word),)


@lru_cache(maxsize=8)
def _table(shorthand: Shorthand) -> Mapping[str, str]:
    return {short.lower(): long.lower() for short, long in shorthand}


def _lemma(word: str) -> str:
    if word in _OVERRIDES:
        return _OVERRIDES[word]
    if "'" in word:
        # "mum's" is mum; "doesn't" stays as written (negation is read from the words written).
        return _POSSESSIVE.sub("", word) if _POSSESSIVE.search(word) else word
    if word.isdigit() or len(word) < 3:
        return word
    return str(simplemma.lemmatize(word, lang="en")).lower()
