"""The report as HTML (one self-contained file with inline SVG charts), CSV (one tidy table) or
Markdown, and the short version for Slack. Every word comes from prompts/report/."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict

from bot.protection.invisible import without_bidi
from bot.render import markdown_text
from bot.report import charts
from bot.report.counts import (
    ALL,
    DISAGREEMENT_RULE,
    ESCALATED_AFTER,
    OUTCOMES,
    SCALE_CHANGES,
    Report,
    top,
)
from bot.report.counts import share as share_of
from bot.report.suppression import Key, Shown
from storage.report import NO_AGENCY, NO_TEAM

REPORT_PROMPTS = Path(__file__).resolve().parents[2] / "prompts" / "report"
FORMATS = ("html", "csv", "md")


class Words(BaseModel):
    """prompts/report/labels.yaml: every word of the report that is not in a template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fewer_than: str
    withheld: str
    partnership: str
    no_agency: str
    no_team: str
    team: str
    not_recorded: str
    measures: dict[str, str]
    categories: dict[str, str]
    charts: dict[str, str]
    median_minutes: str
    escalation_title: str
    csv_columns: dict[str, str]


@cache
def labels() -> Words:
    loaded = yaml.safe_load((REPORT_PROMPTS / "labels.yaml").read_text(encoding="utf-8"))
    return Words.model_validate(loaded, strict=True)


@cache
def _environment(form: str) -> Environment:
    """HTML escapes every value and Markdown makes every value inert text, in the templates a
    format includes as much as in its own: a name in the organisation file is shown, never run."""
    return Environment(
        loader=FileSystemLoader(str(REPORT_PROMPTS)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=form == "html",
        finalize=_inert_markdown if form == "md" else _shown,
        auto_reload=False,
    )


def _shown(value: object) -> object:
    if isinstance(value, Markup) or not isinstance(value, str):
        return value  # the charts' SVG, drawn here; numbers and dates
    return without_bidi(value)


def _inert_markdown(value: object) -> str:
    return "" if value is None else markdown_text(without_bidi(str(value)))


def render_template(name: str, **data: Any) -> str:
    form = "html" if name.endswith((".html", ".html.j2")) else "md" if ".md" in name else "text"
    return _environment(form).get_template(name).render(**data)


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]


class View:
    """The report as words: names for units, cells as text, the tables in reading order."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.words = labels()

    def count(self, key: Key) -> str:
        state = self.report.shown.get(key, Shown.SMALL)
        if state is Shown.SMALL:
            return self.words.fewer_than.format(n=self.report.threshold)
        if state is Shown.WITHHELD:
            return self.words.withheld
        return str(self.report.values[key])

    def with_share(self, key: Key, of: Key) -> str:
        percent = share_of(self.report, key, of)
        return self.count(key) + ("" if percent is None else f" ({percent}%)")

    def unit(self, agency: str) -> str:
        if agency == ALL:
            return self.words.partnership
        if agency == NO_AGENCY:
            return self.words.no_agency
        return self.report.labels.agencies.get(agency, agency)

    def team(self, team: str) -> str:
        return self.words.no_team if team == NO_TEAM else self.words.team.format(supervisor=team)

    def category(self, category: str) -> str:
        return self.words.categories.get(category, category)

    def measure(self, measure: str) -> str:
        return self.words.measures[measure]

    def _by_unit(
        self, measure: str, categories: list[tuple[str, str]], of: str | None = None
    ) -> Table:
        units = self.report.units
        rows = []
        for category, name in categories:
            cells = []
            for unit in units:
                key = (measure, unit, ALL, ALL, category)
                cells.append(
                    self.with_share(key, ("reflections", unit, ALL, ALL, of))
                    if of
                    else self.count(key)
                )
            rows.append((name, cells))
        return Table(self.measure(measure), [self.unit(u) for u in units], rows)

    def _dropping_hidden(self, table: Table, keys: list[list[Key]]) -> Table:
        """Rows hidden in every column say nothing; they are left out to keep the table short."""
        kept = [
            row
            for row, row_keys in zip(table.rows, keys, strict=True)
            if any(
                self.report.shown.get(k) is Shown.SHOWN and self.report.values[k] for k in row_keys
            )
        ]
        return Table(table.title, table.columns, kept)

    def tables(self) -> list[Table]:
        report = self.report
        units = report.units
        found = [
            self._by_unit("reflections", [(c, self.category(c)) for c in ("started", *OUTCOMES)])
        ]
        for agency in report.labels.agencies:
            if report.teams.get(agency):
                found.append(
                    Table(
                        f"{self.measure('reflections')}: {self.unit(agency)}",
                        [self.category(c) for c in ("started", *OUTCOMES)],
                        [
                            (
                                self.team(team),
                                [
                                    self.count(("reflections", agency, team, ALL, c))
                                    for c in ("started", *OUTCOMES)
                                ],
                            )
                            for team in report.teams[agency]
                        ],
                    )
                )
        questions = sorted({k[4] for k in report.cells("abandoned_at")})
        if questions:
            found.append(
                self._by_unit(
                    "abandoned_at",
                    [
                        (q, report.labels.questions.get(q, self.words.not_recorded))
                        for q in questions
                    ],
                )
            )
        repeats = self._by_unit(
            "repeats",
            [("first", self.category("first")), ("repeat", self.category("repeat"))],
            of="completed",
        )
        for kind in ("first", "repeat"):
            repeats.rows.append(
                (
                    self.words.median_minutes.format(kind=self.category(kind)),
                    [_minutes(report.medians.get((u, kind))) for u in units],
                )
            )
        found.append(repeats)
        for measure, names in (
            ("themes_skipped", report.labels.themes),
            ("rules_fired", report.labels.rules),
        ):
            table = self._by_unit(measure, list(names.items()), of="completed")
            keys = [[(measure, u, ALL, ALL, item) for u in units] for item in names]
            found.append(self._dropping_hidden(table, keys) if measure == "rules_fired" else table)
        escalation = Table(
            self.words.escalation_title,
            [self.unit(u) for u in units],
            [
                (
                    report.labels.rules.get(DISAGREEMENT_RULE, DISAGREEMENT_RULE),
                    [self.count(("rules_fired", u, ALL, ALL, DISAGREEMENT_RULE)) for u in units],
                ),
                (
                    self.measure("disagreement"),
                    [
                        self.with_share(
                            ("disagreement", u, ALL, ALL, ESCALATED_AFTER),
                            ("rules_fired", u, ALL, ALL, DISAGREEMENT_RULE),
                        )
                        for u in units
                    ],
                ),
                (
                    self.measure("drift"),
                    [
                        self.with_share(
                            ("drift", u, ALL, ALL, "any"), ("reflections", u, ALL, ALL, "completed")
                        )
                        for u in units
                    ],
                ),
            ],
        )
        found.append(escalation)
        found.append(
            self._by_unit(
                "scale",
                [(str(s), str(s)) for s in range(11)] + [("answered", self.category("answered"))],
            )
        )
        found.append(
            self._by_unit(
                "scale_change",
                [(c, self.category(c)) for c in (*SCALE_CHANGES, "compared")],
            )
        )
        for category in ("started", "completed"):
            if report.months:
                found.append(
                    Table(
                        f"{self.measure('by_month')}: {self.category(category)}",
                        [self.unit(u) for u in units],
                        [
                            (
                                month,
                                [self.count(("by_month", u, ALL, month, category)) for u in units],
                            )
                            for month in report.months
                        ],
                    )
                )
        return found

    def chart_svgs(self) -> list[dict[str, str]]:
        report, words = self.report, self.words.charts
        unit = report.units[-1]
        drawn = []
        for measure, names, title, axis, as_share in (
            ("themes_skipped", report.labels.themes, words["themes"], words["themes_axis"], True),
            ("rules_fired", report.labels.rules, words["rules"], words["rules_axis"], False),
        ):
            items, hidden = [], []
            for item, name in names.items():
                key = (measure, unit, ALL, ALL, item)
                value = (
                    share_of(report, key, ("reflections", unit, ALL, ALL, "completed"))
                    if as_share
                    else report.value(key)
                )
                if value is None:
                    hidden.append(name)
                elif value:
                    items.append((name, value))
            items.sort(key=lambda item: -item[1])
            drawn.append(
                {
                    "title": title,
                    "svg": charts.bars(title, axis, items, "%" if as_share else ""),
                    "hidden": words["hidden"].format(names="; ".join(hidden)) if hidden else "",
                }
            )
        if report.months:
            series = {
                self.category(c): [
                    report.value(("by_month", unit, ALL, m, c)) for m in report.months
                ]
                for c in ("started", "completed")
            }
            drawn.append(
                {
                    "title": words["months"],
                    "svg": charts.lines(
                        words["months"], words["months_axis"], report.months, series
                    ),
                    "hidden": "",
                }
            )
        return drawn

    def data(self) -> dict[str, Any]:
        report = self.report
        hidden = report.hidden
        return {
            "first": report.period.first,
            "last": report.period.last,
            "threshold": report.threshold,
            "scope": self.unit(report.agency_id) if report.agency_id else self.words.partnership,
            "small": hidden[Shown.SMALL],
            "withheld": hidden[Shown.WITHHELD],
            "tables": self.tables(),
        }


def _minutes(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def html(report: Report) -> str:
    view = View(report)
    return render_template("report.html.j2", charts=view.chart_svgs(), **view.data())


def markdown(report: Report) -> str:
    return render_template("report.md.j2", **View(report).data())


CSV_COLUMNS = ("period", "agency", "team", "measure", "category", "value")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula; numbers stay numbers."""
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_table(report: Report) -> str:
    """Long format: one row per count; hidden counts say so in the value column."""
    view = View(report)
    whole = f"{report.period.first.isoformat()}/{report.period.last.isoformat()}"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: a CR in a name is quoted too
    writer.writerow([csv_cell(view.words.csv_columns[c]) for c in CSV_COLUMNS])
    for key in sorted(report.values):
        measure, agency, team, month, category = key
        row = [
            whole if month == ALL else month,
            view.unit(agency),
            "" if team == ALL else view.team(team),
            view.measure(measure),
            _category_name(report, measure, category, view),
            view.count(key),
        ]
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()


def _category_name(report: Report, measure: str, category: str, view: View) -> str:
    if measure == "themes_skipped":
        return report.labels.themes.get(category, category)
    if measure == "rules_fired":
        return report.labels.rules.get(category, category)
    if measure == "abandoned_at":
        return report.labels.questions.get(category, view.words.not_recorded)
    return view.category(category)


def render(report: Report, form: str) -> str:
    return {"html": html, "csv": csv_table, "md": markdown}[form](report)


@dataclass(frozen=True)
class Short:
    """The short version: what Slack shows and the clock sends each month."""

    scope: str
    first: Any
    last: Any
    threshold: int
    completed: str
    themes: list[tuple[str, int]]
    flags: list[tuple[str, int]]
    small: int
    withheld: int


def short(report: Report) -> Short:
    view = View(report)
    unit = report.units[-1]
    hidden = report.hidden
    return Short(
        scope=view.unit(report.agency_id) if report.agency_id else view.words.partnership,
        first=report.period.first,
        last=report.period.last,
        threshold=report.threshold,
        completed=view.count(("reflections", unit, ALL, ALL, "completed")),
        themes=[(report.labels.themes[t], n) for t, n in top(report, "themes_skipped", unit)],
        flags=[(report.labels.rules[r], n) for r, n in top(report, "rules_fired", unit)],
        small=hidden[Shown.SMALL],
        withheld=hidden[Shown.WITHHELD],
    )
