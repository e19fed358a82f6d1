"""No hidden count can be worked back from the rest of a report.

Hypothesis makes reports from random counts (up to three agencies of up to three teams, months,
outcomes, themes, flags, drift, disagreements followed by an escalation, the scale); an attacker
who knows every shown count, every sum that ties them together and the rules (a "fewer than"
count is 0 to threshold-1, a withheld one at least the threshold) then tries two ways to pin a
hidden count down: linear algebra over the sums (is the count's unit vector in the row space of
the sums over the hidden counts?) and bounds propagated through every sum until nothing moves.
Neither may succeed for any count above zero (a hidden zero worked out as zero is about no one),
and the true values must fit what the attacker deduced.
"""

from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.report.counts import (
    ALL,
    DISAGREEMENT_RULE,
    ESCALATED_AFTER,
    Labels,
    Report,
    Rows,
    build,
    share,
)
from bot.report.period import Period
from bot.report.suppression import Shown

AGENCIES = ("csc", "health", "police")
THEMES = ("risks", "history")
RULES = ("child_not_seen_alone", "drift_scale", DISAGREEMENT_RULE)
MONTHS = ("2026-09", "2026-10")
BIG = 10**6

small = st.integers(min_value=0, max_value=14)


@st.composite
def rows(draw: st.DrawFn) -> tuple[Rows, int]:
    agencies = AGENCIES[: draw(st.integers(1, 3))]
    outcomes, by_month, repeats, themes, rules, scales, changes, abandoned = ([] for _ in range(8))
    drift, escalated = [], []
    for agency in agencies:
        completed_total = 0
        for team in ("U0TEAMA", "U0TEAMB", "U0TEAMC")[: draw(st.integers(1, 3))]:
            for outcome in ("completed", "abandoned", "in_progress"):
                n = draw(small)
                outcomes.append((agency, team, outcome, n))
                if outcome == "completed":
                    completed_total += n
        started = sum(n for a, _, _, n in outcomes if a == agency)
        abandoned_n = sum(n for a, _, o, n in outcomes if a == agency and o == "abandoned")
        first_part = draw(st.integers(0, abandoned_n))
        abandoned += [(agency, "scale", first_part), (agency, "", abandoned_n - first_part)]
        month_started = draw(st.integers(0, started))
        month_completed = draw(st.integers(0, min(completed_total, month_started)))
        by_month += [
            (agency, MONTHS[0], month_started, month_completed),
            (agency, MONTHS[1], started - month_started, completed_total - month_completed),
        ]
        repeat_n = draw(st.integers(0, completed_total))
        repeats += [(agency, False, 20, completed_total - repeat_n), (agency, True, 15, repeat_n)]
        themes += [(agency, t, draw(st.integers(0, completed_total))) for t in THEMES]
        fired = {r: draw(st.integers(0, completed_total)) for r in RULES}
        rules += [(agency, r, n) for r, n in fired.items()]
        drift.append((agency, draw(st.integers(fired["drift_scale"], completed_total))))
        escalated.append((agency, draw(st.integers(0, fired[DISAGREEMENT_RULE]))))
        scale_n = draw(st.integers(0, completed_total))
        low = draw(st.integers(0, scale_n))
        scales += [(agency, 3, low), (agency, 8, scale_n - low)]
        changes += [(agency, c, draw(st.integers(0, 6))) for c in ("rose", "same", "fell")]
    found = Rows(
        outcomes=outcomes,
        abandoned_at=abandoned,
        by_month=by_month,
        repeats=repeats,
        themes_skipped=themes,
        rules_fired=rules,
        drift=drift,
        disagreement_escalated=escalated,
        scales=scales,
        scale_changes=changes,
    )
    return found, draw(st.integers(3, 6))


def make(found: Rows, threshold: int, agencies: tuple[str, ...]) -> Report:
    return build(
        found,
        period=Period(date(2026, 9, 1), date(2026, 10, 31)),
        labels=Labels(
            agencies={a: a.title() for a in agencies},
            themes={t: t for t in THEMES},
            rules={r: r for r in RULES},
            questions={"scale": "How safe"},
        ),
        threshold=threshold,
    )


def determined_linearly(report: Report) -> list[object]:
    hidden = [k for k, s in report.shown.items() if s is not Shown.SHOWN]
    column = {k: i for i, k in enumerate(hidden)}
    rows_ = []
    for each in report.sums:
        row = np.zeros(len(hidden))
        for key, sign in [(each.total, 1.0), *[(p, -1.0) for p in each.parts]]:
            if key in column:
                row[column[key]] += sign
        if row.any():
            rows_.append(row)
    if not hidden:
        return []
    if not rows_:
        return []
    matrix = np.array(rows_)
    # A unit vector is in the row space exactly when it is orthogonal to the null space: one
    # decomposition answers for every hidden count (the last rows of vt span the null space).
    _, singular, vt = np.linalg.svd(matrix)
    rank = int((singular > singular.max() * max(matrix.shape) * np.finfo(float).eps).sum())
    null = vt[rank:]
    return [key for key in hidden if np.linalg.norm(null[:, column[key]]) < 1e-9]


def known(state: Shown, value: int, threshold: int) -> tuple[int, int]:
    """What the report says of a count."""
    if state is Shown.SMALL:
        return 0, threshold - 1
    if state is Shown.WITHHELD:
        return threshold, BIG
    return value, value


def propagated_bounds(report: Report) -> dict[object, tuple[int, int]]:
    span = {
        key: known(state, report.values[key], report.threshold)
        for key, state in report.shown.items()
    }
    for _ in range(50):
        moved = False
        for each in report.sums:
            parts = list(each.parts)
            lo_t, hi_t = span[each.total]
            new_total = (
                max(lo_t, sum(span[p][0] for p in parts)),
                min(hi_t, sum(span[p][1] for p in parts)),
            )
            if new_total != span[each.total]:
                span[each.total], moved = new_total, True
            for part in parts:
                others_lo = sum(span[p][0] for p in parts if p != part)
                others_hi = sum(span[p][1] for p in parts if p != part)
                lo, hi = span[part]
                new = (
                    max(lo, span[each.total][0] - others_hi),
                    min(hi, span[each.total][1] - others_lo),
                )
                if new != span[part]:
                    span[part], moved = new, True
        if not moved:
            break
    return span


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows())
def test_no_hidden_count_can_be_worked_back(case: tuple[Rows, int]) -> None:
    found, threshold = case
    agencies = tuple(sorted({a for a, *_ in found.outcomes}))
    report = make(found, threshold, agencies)
    hidden = [k for k, s in report.shown.items() if s is not Shown.SHOWN]
    for key in hidden:
        value = report.values[key]
        if report.shown[key] is Shown.SMALL:
            assert value < threshold
        else:
            assert value >= threshold
    assert [k for k in determined_linearly(report) if report.values[k]] == []
    span = propagated_bounds(report)
    for key in hidden:
        lo, hi = span[key]
        assert lo <= report.values[key] <= hi, key  # the attacker's reasoning is sound
        # A hidden zero may be worked out as zero: it is about no one (see suppression.py).
        assert hi > lo or report.values[key] == 0, f"{key} pinned to {lo}"
    for key, state in report.shown.items():
        if state is Shown.SHOWN and 0 < report.values[key] < threshold:
            raise AssertionError(f"{key} shows a small number")
    # Percentages only ever from two shown counts.
    for unit in report.units:
        for theme in THEMES:
            key = ("themes_skipped", unit, ALL, ALL, theme)
            of = ("reflections", unit, ALL, ALL, "completed")
            if report.shown[key] is not Shown.SHOWN or report.shown[of] is not Shown.SHOWN:
                assert share(report, key, of) is None
        key = ("disagreement", unit, ALL, ALL, ESCALATED_AFTER)
        of = ("rules_fired", unit, ALL, ALL, DISAGREEMENT_RULE)
        if report.shown[key] is not Shown.SHOWN or report.shown[of] is not Shown.SHOWN:
            assert share(report, key, of) is None


def test_one_small_part_takes_another_with_it() -> None:
    """The plainest case, worked by hand: 2 abandoned of 30 started."""
    found = Rows(
        outcomes=[
            ("csc", "U0TEAMA", "completed", 28),
            ("csc", "U0TEAMA", "abandoned", 2),
            ("csc", "U0TEAMA", "in_progress", 6),
        ],
        by_month=[("csc", "2026-09", 36, 28), ("csc", "2026-10", 0, 0)],
        repeats=[("csc", False, 20, 28)],
    )
    report = make(found, 5, ("csc",))
    team = ("reflections", "csc", "U0TEAMA", ALL)
    assert report.state((*team, "abandoned")) is Shown.SMALL
    # 36 started, 28 completed, 6 in progress: the 2 abandoned would be plain, so one goes.
    assert report.state((*team, "started")) is Shown.WITHHELD
    assert report.value((*team, "completed")) == 28
    assert report.value((*team, "in_progress")) == 6
