"""Small-number suppression, with the secondary suppression that keeps it from being undone.

A report's counts are tied together by sums: a total is the sum of its parts (outcomes of the
reflections started, teams within an agency, agencies within the partnership, months within the
period). Hiding one small part is not enough when the total and the other parts are shown, so:

- every count under the threshold, zero included, is hidden ("fewer than 5"): primary
  suppression, so a reader knows a hidden small count only as 0 to threshold-1;
- then, until nothing changes, another count is given up wherever a hidden one could still be
  worked out: by narrowing each count's bounds through every sum until nothing moves (which
  finds a sum with one hidden count, and small counts that can only add up one way), or by
  linear algebra over the sums (a hidden count every solution agrees on: a zero in its column of
  the null space of the sums over the hidden counts).

The count given up ("withheld": a reader who knows these rules learns only that it is at least
the threshold) is the nearest that frees the one at risk, in the caller's order, so the counts
that matter most stay shown. A hidden zero may still be worked out as zero (when 22 reflections
started and 22 were completed, none was abandoned): that is about no one, and protecting it
would hide the headline figures, so it is allowed.
Percentages are only ever shown for two shown counts, so they reveal nothing more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

# A count's place in the report: (measure, agency, team, month, category).
Key = tuple[str, str, str, str, str]


# Stands for "no upper bound" in the reader's deductions (integers, so the sums stay exact).
BIG = 10**12
# How many counts to try giving up, per step outward from a count at risk, before taking the first.
TRIALS = 6


class Shown(Enum):
    SHOWN = "shown"
    SMALL = "small"  # under the threshold
    WITHHELD = "withheld"  # at or over it, hidden so a small one cannot be worked back


@dataclass(frozen=True)
class Sum:
    """``total`` is the sum of ``parts``."""

    total: Key
    parts: tuple[Key, ...]
    # The total then the parts: read in every step of the propagation, so made once.
    cells: tuple[Key, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", (self.total, *self.parts))


def suppress(
    values: Mapping[Key, int],
    sums: Sequence[Sum],
    *,
    threshold: int,
    order: Callable[[Key, int], Any] | None = None,
) -> dict[Key, Shown]:
    """Which counts to show. ``order`` ranks the counts a sum may give up, lowest first (by
    default the smallest), so the caller can keep the counts that matter most to a reader."""
    rank = order or (lambda _key, value: value)
    state = {
        key: Shown.SMALL if value < threshold else Shown.SHOWN for key, value in values.items()
    }
    sums = [s for s in sums if all(c in values for c in s.cells)]
    withheld: list[Key] = []
    while True:
        pinned = _pinned(sums, values, state, threshold)
        if not pinned:
            return state
        # The count withheld last first: protecting it in turn walks a sum up its hierarchy
        # (team, agency, partnership) rather than spreading sideways.
        latest = {key: i for i, key in enumerate(withheld)}
        target = max(pinned, key=lambda key: latest.get(key, -1))
        before = {k for k, v in state.items() if v is Shown.WITHHELD}
        if not _give_up_for(target, sums, values, state, threshold, rank):
            return state
        withheld += [k for k, v in state.items() if v is Shown.WITHHELD and k not in before]


def bounds(shown: Shown, value: int, threshold: int) -> tuple[int, int]:
    """What a reader knows of a count from how it is shown (BIG: no upper bound)."""
    if shown is Shown.SMALL:
        return 0, threshold - 1
    if shown is Shown.WITHHELD:
        return threshold, BIG
    return value, value


def propagate(
    sums: Sequence[Sum], values: Mapping[Key, int], state: Mapping[Key, Shown], threshold: int
) -> dict[Key, tuple[int, int]]:
    """What a reader can deduce of each count in a sum with a hidden count: its bounds from
    how it is shown, narrowed through every such sum (a total lies between its parts' sums; a
    part between the total less the others) until nothing moves. Any other count is known as
    it is shown (``bounds``)."""
    # Only sums with a hidden count can narrow anything; a sum is looked at again only when
    # one of its counts moved.
    live = [each for each in sums if any(state[c] is not Shown.SHOWN for c in each.cells)]
    span = {key: bounds(state[key], values[key], threshold) for each in live for key in each.cells}
    sums_of: dict[Key, list[int]] = {}
    for index, each in enumerate(live):
        for key in each.cells:
            sums_of.setdefault(key, []).append(index)
    waiting = deque(range(len(live)))
    queued = set(waiting)

    def moved(key: Key) -> None:
        for index in sums_of[key]:
            if index not in queued:
                queued.add(index)
                waiting.append(index)

    while waiting:
        index = waiting.popleft()
        queued.discard(index)
        each = live[index]
        parts = [span[p] for p in each.parts]
        low = sum(p_low for p_low, _ in parts)
        high = sum(p_high for _, p_high in parts)
        t_low, t_high = span[each.total]
        if low > t_low or high < t_high:
            t_low, t_high = max(t_low, low), min(t_high, high)
            span[each.total] = (t_low, t_high)
            moved(each.total)
        for part in each.parts:
            p_low, p_high = span[part]
            new_low = max(p_low, t_low - (high - p_high))
            new_high = min(p_high, t_high - (low - p_low))
            if new_low != p_low or new_high != p_high:
                span[part] = (new_low, new_high)
                moved(part)
                low += new_low - p_low
                high += new_high - p_high
    return span


def _pinned(
    sums: Sequence[Sum], values: Mapping[Key, int], state: Mapping[Key, Shown], threshold: int
) -> list[Key]:
    """Hidden counts a reader could work out. A zero hidden beside a small count is left out:
    worked out, it says what showing it would have said, about no one."""
    span = propagate(sums, values, state, threshold)
    found = [
        k
        for k, shown in state.items()
        if shown is not Shown.SHOWN
        and values[k]
        and _fixed(span.get(k) or bounds(shown, values[k], threshold))
    ]
    return found or [k for k in _pinned_by_all(sums, state) if values[k]]


def _fixed(span: tuple[int, int]) -> bool:
    low, high = span
    return high <= low


def _give_up_for(
    pinned: Key,
    sums: Sequence[Sum],
    values: Mapping[Key, int],
    state: dict[Key, Shown],
    threshold: int,
    rank: Callable[[Key, int], Any],
) -> bool:
    """Withhold one more count so ``pinned`` can no longer be worked out: outward from it (its
    own sums, then the sums of the hidden counts those reach), in the caller's order, the first
    that frees it, or else the first there is (the next round looks again)."""
    first: Key | None = None
    sums_of: dict[Key, list[Sum]] = {}
    for each in sums:
        for key in each.cells:
            sums_of.setdefault(key, []).append(each)
    for candidates in _outward(pinned, sums, state):
        chosen = sorted(candidates, key=lambda c: (rank(c, values[c]), repr(c)))
        for candidate in chosen[:TRIALS]:
            trial = {**state, candidate: Shown.WITHHELD}
            around = _joined(pinned, sums_of, trial)
            span = propagate(around, values, trial, threshold)
            if not _fixed(
                span.get(pinned) or bounds(trial[pinned], values[pinned], threshold)
            ) and (pinned not in _pinned_by_all(around, trial, pinned)):
                state[candidate] = Shown.WITHHELD
                return True
        first = first if first is not None or not chosen else chosen[0]
    if first is None:
        return False
    state[first] = Shown.WITHHELD
    return True


def _joined(pinned: Key, sums_of: Mapping[Key, list[Sum]], state: Mapping[Key, Shown]) -> list[Sum]:
    """The sums joined to ``pinned`` through hidden counts: the only ones that can narrow it
    (a sum whose counts are all shown says nothing new)."""
    reached, waiting, found, seen = {pinned}, [pinned], [], set()
    while waiting:
        for each in sums_of.get(waiting.pop(), []):
            if each in seen:
                continue
            seen.add(each)
            found.append(each)
            for key in each.cells:
                if state[key] is not Shown.SHOWN and key not in reached:
                    reached.add(key)
                    waiting.append(key)
    return found


def _outward(pinned: Key, sums: Sequence[Sum], state: Mapping[Key, Shown]) -> Iterator[set[Key]]:
    """The shown counts in ``pinned``'s sums, then in the sums of the hidden counts those
    reach, and so on: one set per step outward."""
    reached, frontier, seen = {pinned}, [pinned], set()
    while frontier:
        touching = [s for s in sums if s not in seen and any(c in s.cells for c in frontier)]
        seen.update(touching)
        yield {c for each in touching for c in each.cells if state[c] is Shown.SHOWN}
        frontier = [
            c
            for each in touching
            for c in each.cells
            if state[c] is not Shown.SHOWN and c not in reached
        ]
        reached.update(frontier)


def _pinned_by_all(
    sums: Sequence[Sum], state: Mapping[Key, Shown], around: Key | None = None
) -> list[Key]:
    """Hidden counts that the sums together determine: those every solution of the sums over
    the hidden counts leaves fixed (a zero in that column of every null-space vector). Worked
    per group of hidden counts that share sums (only ``around``'s group, if given)."""
    found: list[Key] = []
    for group, group_sums in _groups(sums, state, around):
        found += _determined(group, group_sums)
    return found


def _groups(
    sums: Sequence[Sum], state: Mapping[Key, Shown], around: Key | None
) -> list[tuple[list[Key], list[Sum]]]:
    parent: dict[Key, Key] = {}

    def root(key: Key) -> Key:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    touching = []
    for each in sums:
        hidden = [c for c in each.cells if state[c] is not Shown.SHOWN]
        if not hidden:
            continue
        touching.append((each, hidden))
        for key in hidden:
            parent.setdefault(key, key)
        for key in hidden[1:]:
            parent[root(key)] = root(hidden[0])
    groups: dict[Key, tuple[list[Key], list[Sum]]] = {}
    for key in parent:
        groups.setdefault(root(key), ([], []))[0].append(key)
    for each, hidden in touching:
        groups[root(hidden[0])][1].append(each)
    if around is not None:
        return [groups[root(around)]] if around in parent else []
    return list(groups.values())


def _determined(hidden: list[Key], sums: list[Sum]) -> list[Key]:
    column = {key: i for i, key in enumerate(hidden)}
    matrix = np.zeros((len(sums), len(hidden)))
    for row, each in enumerate(sums):
        for key, sign in [(each.total, 1.0), *[(p, -1.0) for p in each.parts]]:
            if key in column:
                matrix[row, column[key]] += sign
    # The null space of the sums is that of their Gram matrix: a smaller, symmetric problem.
    eigenvalues, vectors = np.linalg.eigh(matrix.T @ matrix)
    null = vectors[:, eigenvalues < 1e-8]
    return [key for key in hidden if np.all(np.abs(null[column[key], :]) < 1e-9)]
