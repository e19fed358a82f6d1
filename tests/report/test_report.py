"""The report over a real database (SQLite, or PostgreSQL with REFLECT_TEST_DATABASE_URL): what it
counts, what it hides, that no case reference or answer text reaches any format, and that the
HTML is one file with its charts inline and nothing fetched from the network."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from bot.report import formats
from bot.report.counts import ALL
from bot.report.period import Period
from bot.report.service import UnknownAgency, make_report
from bot.report.suppression import Shown
from storage.db import SessionFactory
from tests.report import seed

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)


@pytest.fixture
def seeded(new_session: SessionFactory) -> SessionFactory:
    seed.organisation(new_session)
    seed.reflections(new_session, agency="csc", count=12, start=OCTOBER)
    seed.reflections(new_session, agency="csc", count=9, start=NOVEMBER, themes="risks")
    seed.reflections(new_session, agency="police", count=7, start=NOVEMBER, rules=None)
    seed.reflections(
        new_session, agency="police", count=2, start=NOVEMBER, status="cancelled", ref_prefix="P2"
    )
    seed.secret_case(new_session, NOVEMBER)
    return new_session


def report_for(new_session: SessionFactory, first: date, last: date, agency: str | None = None):
    return make_report(
        new_session,
        period=Period(first, last),
        zone=LONDON,
        now=NOW,
        threshold=5,
        agency_id=agency,
    )


def test_counts_come_from_the_plain_columns_grouped_per_agency(seeded: SessionFactory) -> None:
    report = report_for(seeded, date(2026, 10, 1), date(2026, 11, 30))
    assert report.value(("reflections", "csc", ALL, ALL, "completed")) == 22
    assert report.value(("reflections", "police", ALL, ALL, "completed")) == 7
    assert report.value(("reflections", ALL, ALL, ALL, "completed")) == 29
    assert report.value(("themes_skipped", "csc", ALL, ALL, "risks")) == 22
    assert report.value(("themes_skipped", "csc", ALL, ALL, "history")) == 13
    assert report.value(("rules_fired", "csc", ALL, ALL, "child_not_seen_alone")) == 22
    assert report.value(("by_month", "csc", ALL, "2026-10", "completed")) == 12
    # Two abandoned reflections: a small number, hidden, and so is what would give it away.
    assert report.state(("reflections", "police", ALL, ALL, "abandoned")) is Shown.SMALL
    assert report.state(("reflections", "police", ALL, ALL, "in_progress")) is Shown.SMALL
    # 9 started, 7 completed, abandoned and in progress both "fewer than 5": 0 to 2 each.
    assert report.value(("reflections", "police", ALL, ALL, "started")) == 9
    assert report.medians[("csc", "first")] == 21.5  # 22 reflections of 20 to 24 minutes


def test_one_agency_and_an_unknown_one(seeded: SessionFactory) -> None:
    report = report_for(seeded, date(2026, 11, 1), date(2026, 11, 30), agency="csc")
    assert list(report.labels.agencies) == ["csc"]
    assert report.value(("reflections", "csc", ALL, ALL, "completed")) == 10
    assert not any(key[1] == "police" for key in report.values)
    with pytest.raises(UnknownAgency):
        report_for(seeded, date(2026, 11, 1), date(2026, 11, 30), agency="nope")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.addresses: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            linked = name in {"src", "href", "xlink:href", "action", "data"}
            if linked and value and not value.startswith("#"):
                self.addresses.append(value)


def test_no_case_reference_or_answer_text_in_any_format(seeded: SessionFactory) -> None:
    report = report_for(seeded, date(2026, 10, 1), date(2026, 11, 30))
    for form in formats.FORMATS:
        text = formats.render(report, form)
        assert seed.SECRET_REF not in text and "QZXOTHER" not in text
        assert "Marigold" not in text and "stairgate" not in text
        assert not re.search(r"\b(CSC|POLICE)-\d", text)
        assert "12" in text  # the scan read a real report, not an empty one
    short = formats.short(report)
    assert seed.SECRET_REF not in repr(short) and "Marigold" not in repr(short)


def test_html_has_its_charts_inline_and_nothing_from_the_network(seeded: SessionFactory) -> None:
    report = report_for(seeded, date(2026, 10, 1), date(2026, 11, 30))
    page = formats.html(report)
    parser = _Links()
    parser.feed(page)
    assert page.count("<svg") == 3  # per theme, per flag, month by month
    assert all(t not in parser.tags for t in ("script", "link", "img", "iframe", "object"))
    assert parser.addresses == []
    assert not re.search(r"url\(\s*['\"]?https?:", page)
    assert not re.search(r"@import|@font-face", page)
    # One month: no month-by-month chart, the other two still drawn.
    one_month = formats.html(report_for(seeded, date(2026, 11, 1), date(2026, 11, 30)))
    assert one_month.count("<svg") == 2


def test_csv_is_one_long_table_with_hidden_cells_said_in_words(seeded: SessionFactory) -> None:
    report = report_for(seeded, date(2026, 11, 1), date(2026, 11, 30))
    lines = formats.csv_table(report).splitlines()
    assert lines[0] == "period,agency,team,measure,category,value"
    assert all(line.count(",") >= 5 for line in lines[1:])
    assert any(line.endswith(",fewer than 5") for line in lines)
    assert "2026-11-01/2026-11-30,Children's Social Care,,Reflections,completed,10" in lines


def test_the_suppression_line_says_what_was_hidden(seeded: SessionFactory) -> None:
    report = report_for(seeded, date(2026, 11, 1), date(2026, 11, 30))
    text = formats.markdown(report)
    hidden = report.hidden
    assert (
        f'{hidden[Shown.SMALL]} counts under 5 (zero included) are shown as "fewer than 5"' in text
    )
