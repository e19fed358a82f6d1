"""The report's counts: the query rows laid out as cells tied together by sums, then suppressed.

A cell's key is (measure, agency, team, month, category); ``ALL`` in a place means "every one"
(the partnership, the agency as a whole, the whole period). Building is a pure function of the
query rows, so the suppression can be tested on any counts without a database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.report.period import Period
from bot.report.suppression import Key, Shown, Sum, suppress

ALL = "*"
OUTCOMES = ("completed", "abandoned", "in_progress")
SCALE_CHANGES = ("rose", "same", "fell")
DRIFT_PREFIX = "drift_"
DISAGREEMENT_RULE = "disagreement_not_escalated"
# Of those flags, the ones followed by a recorded escalation action on the same case.
ESCALATED_AFTER = "escalated_after"


@dataclass(frozen=True)
class Rows:
    """What storage/report.py found (see its functions for each shape)."""

    outcomes: Sequence[tuple[str, str, str, int]] = ()
    abandoned_at: Sequence[tuple[str, str, int]] = ()
    by_month: Sequence[tuple[str, str, int, int]] = ()
    repeats: Sequence[tuple[str, bool, int | None, int]] = ()
    themes_skipped: Sequence[tuple[str, str, int]] = ()
    rules_fired: Sequence[tuple[str, str, int]] = ()
    drift: Sequence[tuple[str, int]] = ()
    disagreement_escalated: Sequence[tuple[str, int]] = ()
    scales: Sequence[tuple[str, int, int]] = ()
    scale_changes: Sequence[tuple[str, str, int]] = ()


@dataclass(frozen=True)
class Labels:
    agencies: dict[str, str]  # id -> name, every agency the report covers
    themes: dict[str, str]  # id -> title, in the question set's order
    rules: dict[str, str]  # id -> title, flags only
    questions: dict[str, str]  # id -> short label


@dataclass
class Report:
    period: Period
    threshold: int
    labels: Labels
    agency_id: str | None
    values: dict[Key, int]
    shown: dict[Key, Shown]
    sums: list[Sum]
    months: list[str]
    teams: dict[str, list[str]]  # agency -> team ids (supervisors' IDs; "" no supervisor)
    medians: dict[tuple[str, str], float | None] = field(default_factory=dict)

    def value(self, key: Key) -> int | None:
        """The count if it may be shown, else None."""
        return self.values[key] if self.shown.get(key) is Shown.SHOWN else None

    def state(self, key: Key) -> Shown:
        return self.shown[key]

    @property
    def units(self) -> list[str]:
        """The agencies reported on, then the partnership (ALL) when there are several."""
        agencies = list(self.labels.agencies)
        return agencies if len(agencies) == 1 else [*agencies, ALL]

    @property
    def hidden(self) -> dict[Shown, int]:
        found = {Shown.SMALL: 0, Shown.WITHHELD: 0}
        for state in self.shown.values():
            if state is not Shown.SHOWN:
                found[state] += 1
        return found

    def cells(self, measure: str) -> Iterable[Key]:
        return (key for key in self.values if key[0] == measure)


def build(
    rows: Rows,
    *,
    period: Period,
    labels: Labels,
    threshold: int,
    agency_id: str | None = None,
) -> Report:
    agencies = list(labels.agencies)
    known = set(agencies)
    values: dict[Key, int] = {}
    sums: list[Sum] = []

    def put(measure: str, agency: str, team: str, month: str, category: str, n: int) -> None:
        if agency in known:
            key = (measure, agency, team, month, category)
            values[key] = values.get(key, 0) + n

    def over_agencies(measure: str, team: str, month: str, category: str) -> None:
        parts = tuple((measure, a, team, month, category) for a in agencies)
        for part in parts:
            values.setdefault(part, 0)
        values[(measure, ALL, team, month, category)] = sum(values[p] for p in parts)
        sums.append(Sum((measure, ALL, team, month, category), parts))

    # Reflections started and how they ended, per team, agency and the partnership.
    teams: dict[str, set[str]] = defaultdict(set)
    for agency, team, outcome, n in rows.outcomes:
        if agency in known:
            teams[agency].add(team)
            put("reflections", agency, team, ALL, outcome, n)
    for agency in agencies:
        for team in sorted(teams[agency]):
            _outcome_sum(values, sums, agency, team)
        for category in ("started", *OUTCOMES):
            parts = tuple(("reflections", agency, t, ALL, category) for t in sorted(teams[agency]))
            values[("reflections", agency, ALL, ALL, category)] = sum(values[p] for p in parts)
            if parts:
                sums.append(Sum(("reflections", agency, ALL, ALL, category), parts))
        sums.append(_outcome_total(agency, ALL))
    for category in ("started", *OUTCOMES):
        over_agencies("reflections", ALL, ALL, category)
    sums.append(_outcome_total(ALL, ALL))

    # Where abandoned reflections stopped.
    questions = sorted({q for a, q, _ in rows.abandoned_at if a in known})
    for agency, question, n in rows.abandoned_at:
        put("abandoned_at", agency, ALL, ALL, question, n)
    for agency in agencies:
        parts = tuple(("abandoned_at", agency, ALL, ALL, q) for q in questions)
        for part in parts:
            values.setdefault(part, 0)
        if parts:
            sums.append(Sum(("reflections", agency, ALL, ALL, "abandoned"), parts))
    for question in questions:
        over_agencies("abandoned_at", ALL, ALL, question)

    # Month by month, when the period spans several.
    months = [label for label, _, _ in period.months()]
    if len(months) > 1:
        for agency, month, started, completed in rows.by_month:
            put("by_month", agency, ALL, month, "started", started)
            put("by_month", agency, ALL, month, "completed", completed)
        for agency in agencies:
            for category in ("started", "completed"):
                parts = tuple(("by_month", agency, ALL, m, category) for m in months)
                for part in parts:
                    values.setdefault(part, 0)
                sums.append(Sum(("reflections", agency, ALL, ALL, category), parts))
        for month in months:
            for category in ("started", "completed"):
                over_agencies("by_month", ALL, month, category)

    # First reflections and repeats; the minutes' medians come from the same histogram.
    minutes: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for agency, repeat, length, n in rows.repeats:
        kind = "repeat" if repeat else "first"
        put("repeats", agency, ALL, ALL, kind, n)
        if agency in known and length is not None:
            minutes[(agency, kind)][length] += n
            minutes[(ALL, kind)][length] += n
    for agency in agencies:
        for kind in ("first", "repeat"):
            values.setdefault(("repeats", agency, ALL, ALL, kind), 0)
        sums.append(
            Sum(
                ("reflections", agency, ALL, ALL, "completed"),
                (("repeats", agency, ALL, ALL, "first"), ("repeats", agency, ALL, ALL, "repeat")),
            )
        )
    for kind in ("first", "repeat"):
        over_agencies("repeats", ALL, ALL, kind)

    # Themes skipped, flags raised, drift: shares of the completed reflections; disagreement
    # flags followed by an escalation: a share of those flags.
    for measure, ids, found in (
        ("themes_skipped", labels.themes, rows.themes_skipped),
        ("rules_fired", labels.rules, rows.rules_fired),
    ):
        for agency, item, n in found:
            if item in ids:
                put(measure, agency, ALL, ALL, item, n)
        for item in ids:
            over_agencies(measure, ALL, ALL, item)
    for measure, category, per_agency in (
        ("drift", "any", rows.drift),
        ("disagreement", ESCALATED_AFTER, rows.disagreement_escalated),
    ):
        for agency, n in per_agency:
            put(measure, agency, ALL, ALL, category, n)
        over_agencies(measure, ALL, ALL, category)

    # The 0-10 scale, and how it moved from one reflection on a case to the next.
    for agency, scale, n in rows.scales:
        put("scale", agency, ALL, ALL, str(scale), n)
    for agency, change, n in rows.scale_changes:
        put("scale_change", agency, ALL, ALL, change, n)
    for measure, categories, total in (
        ("scale", tuple(str(s) for s in range(11)), "answered"),
        ("scale_change", SCALE_CHANGES, "compared"),
    ):
        for agency in agencies:
            parts = tuple((measure, agency, ALL, ALL, c) for c in categories)
            for part in parts:
                values.setdefault(part, 0)
            values[(measure, agency, ALL, ALL, total)] = sum(values[p] for p in parts)
            sums.append(Sum((measure, agency, ALL, ALL, total), parts))
        for category in (*categories, total):
            over_agencies(measure, ALL, ALL, category)

    # The same sums for the partnership as a whole: implied by the others, but stated, so a
    # count they expose is caught by the plainest check.
    for each in list(sums):
        places = {key[1] for key in each.cells}
        if len(places) == 1 and agencies and places == {agencies[0]}:
            whole = Sum(_as_all(each.total), tuple(_as_all(p) for p in each.parts))
            if all(key in values for key in whole.cells) and whole not in sums:
                sums.append(whole)
    shown = suppress(values, sums, threshold=threshold, order=_give_up_first)
    report = Report(
        period=period,
        threshold=threshold,
        labels=labels,
        agency_id=agency_id,
        values=values,
        shown=shown,
        sums=sums,
        months=months if len(months) > 1 else [],
        teams={a: sorted(teams[a]) for a in agencies},
    )
    for (agency, kind), histogram in minutes.items():
        count = ("repeats", agency, ALL, ALL, kind)
        # A median of fewer reflections than the threshold could single one out.
        report.medians[(agency, kind)] = (
            median(histogram) if report.value(count) is not None else None
        )
    return report


# When a count must be withheld to protect a small one: started before how reflections ended,
# those before the rest; the partnership's total before an agency's; then the smallest.
_GIVE_UP = {"started": 0, "in_progress": 1, "abandoned": 1, "answered": 1, "compared": 1}


def _give_up_first(key: Key, value: int) -> tuple[int, int, int]:
    return (_GIVE_UP.get(key[4], 2), 0 if key[1] == ALL else 1, value)


def _as_all(key: Key) -> Key:
    return (key[0], ALL, key[2], key[3], key[4])


def _outcome_sum(values: dict[Key, int], sums: list[Sum], agency: str, team: str) -> None:
    parts = tuple(("reflections", agency, team, ALL, o) for o in OUTCOMES)
    for part in parts:
        values.setdefault(part, 0)
    values[("reflections", agency, team, ALL, "started")] = sum(values[p] for p in parts)
    sums.append(Sum(("reflections", agency, team, ALL, "started"), parts))


def _outcome_total(agency: str, team: str) -> Sum:
    return Sum(
        ("reflections", agency, team, ALL, "started"),
        tuple(("reflections", agency, team, ALL, o) for o in OUTCOMES),
    )


def median(histogram: dict[int, int]) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    ordered = sorted(histogram.items())

    def nth(index: int) -> int:
        seen = 0
        for value, count in ordered:
            seen += count
            if index < seen:
                return value
        return ordered[-1][0]

    middle = total // 2
    if total % 2:
        return float(nth(middle))
    return (nth(middle - 1) + nth(middle)) / 2


def share(report: Report, key: Key, of: Key) -> int | None:
    """A whole-number percentage, only when both counts are shown."""
    part, whole = report.value(key), report.value(of)
    if part is None or not whole:
        return None
    return round(100 * part / whole)


def top(report: Report, measure: str, unit: str, n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` largest shown counts of ``measure`` for ``unit`` (hidden ones are never ranked:
    their place in the order would say something about them)."""
    found = [
        (key[4], value)
        for key in report.cells(measure)
        if key[1] == unit and (value := report.value(key)) is not None and value > 0
    ]
    return sorted(found, key=lambda item: (-item[1], item[0]))[:n]
