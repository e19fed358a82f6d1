"""Small-number suppression, with the secondary suppression that keeps it from being undone.

A report's counts are tied together by sums: a total is the sum of its parts (outcomes of the
reflections started, teams within an agency, agencies within the partnership, months within the
period). Hiding one small part is not enough when the total and the other parts are shown, so:

- every count under the threshold is hidden ("fewer than 5"): primary suppression;
- then, until nothing changes, another count is withheld wherever a hidden one could still be
  worked out: a sum with exactly one hidden count, a sum whose hidden counts can only take one
  value each within their bounds (fewer than the threshold, or at least it), or a hidden count
  that the sums together pin down (found from the null space of the sums over the hidden counts).

The count withheld is the smallest shown one in the sum at fault, so as little as possible goes.
Percentages are only ever shown for two shown counts, so they reveal nothing more.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

Key = Hashable


class Shown(Enum):
    SHOWN = "shown"
    SMALL = "small"  # under the threshold
    WITHHELD = "withheld"  # at or over it, hidden so a small one cannot be worked back


@dataclass(frozen=True)
class Sum:
    """``total`` is the sum of ``parts``."""

    total: Key
    parts: tuple[Key, ...]

    @property
    def cells(self) -> tuple[Key, ...]:
        return (self.total, *self.parts)


def suppress(values: Mapping[Key, int], sums: Sequence[Sum], *, threshold: int) -> dict[Key, Shown]:
    state = {
        key: Shown.SMALL if value < threshold else Shown.SHOWN for key, value in values.items()
    }
    sums = [s for s in sums if all(c in values for c in s.cells)]
    changed = True
    while changed:
        changed = False
        for each in sums:
            if _exposed(each, values, state, threshold) and _withhold_one(each, values, state):
                changed = True
        if not changed:
            for key in _pinned_by_all(sums, state):
                for each in sums:
                    if key in each.cells and _withhold_one(each, values, state):
                        changed = True
                        break
                if changed:
                    break
    return state


def bounds(shown: Shown, value: int, threshold: int) -> tuple[int, float]:
    """What a reader knows of a count from how it is shown."""
    if shown is Shown.SMALL:
        return 0, threshold - 1
    if shown is Shown.WITHHELD:
        return threshold, float("inf")
    return value, value


def _exposed(each: Sum, values: Mapping[Key, int], state: Mapping[Key, Shown], k: int) -> bool:
    """Could a reader work out a hidden count of this sum from the sum alone?"""
    hidden = [c for c in each.cells if state[c] is not Shown.SHOWN]
    if not hidden:
        return False
    if len(hidden) == 1:
        return True
    # total - sum(parts) = 0, over hidden cells with signs; the shown ones move to the constant.
    sign = {c: -1 for c in each.parts}
    sign[each.total] = 1
    constant = -sum(sign[c] * values[c] for c in each.cells if state[c] is Shown.SHOWN)
    spans = {c: bounds(state[c], values[c], k) for c in hidden}
    for key in hidden:
        low = high = 0.0
        for other in hidden:
            if other == key:
                continue
            a, b = spans[other]
            low += min(sign[other] * a, sign[other] * b)
            high += max(sign[other] * a, sign[other] * b)
        # sign[key] * x = constant - rest, rest in [low, high]
        ends = sorted((sign[key] * (constant - high), sign[key] * (constant - low)))
        lo = max(ends[0], spans[key][0])
        hi = min(ends[1], spans[key][1])
        if hi - lo < 1:
            return True
    return False


def _withhold_one(each: Sum, values: Mapping[Key, int], state: dict[Key, Shown]) -> bool:
    shown = [c for c in each.cells if state[c] is Shown.SHOWN]
    if not shown:
        return False
    parts = [c for c in shown if c != each.total] or shown
    chosen = min(parts, key=lambda c: values[c])
    state[chosen] = Shown.WITHHELD
    return True


def _pinned_by_all(sums: Sequence[Sum], state: Mapping[Key, Shown]) -> list[Key]:
    """Hidden counts that the sums together determine: those every solution of the sums over
    the hidden counts leaves fixed (a zero in that column of every null-space vector)."""
    hidden = sorted({c for s in sums for c in s.cells if state[c] is not Shown.SHOWN}, key=repr)
    if not hidden:
        return []
    column = {key: i for i, key in enumerate(hidden)}
    rows = []
    for each in sums:
        row = np.zeros(len(hidden))
        touched = False
        for key, sign in [(each.total, 1.0), *[(p, -1.0) for p in each.parts]]:
            if key in column:
                row[column[key]] += sign
                touched = True
        if touched:
            rows.append(row)
    if not rows:
        return []
    matrix = np.array(rows)
    _, singular, vt = np.linalg.svd(matrix)
    rank = int((singular > 1e-9).sum())
    null = vt[rank:]
    if null.shape[0] == 0:
        return hidden
    return [key for key in hidden if np.all(np.abs(null[:, column[key]]) < 1e-9)]
