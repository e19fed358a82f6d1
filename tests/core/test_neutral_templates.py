"""Templates under prompts/messages, notices, clock and report are neutral: they write no
platform's markup themselves and render in every front end's dialect (bot/render.py), with
what a person typed never becoming a mention, a link or markup."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from jinja2 import ChainableUndefined

from bot.render import NEUTRAL_FOLDERS, PLAIN, PROMPTS_DIR, Dialect, Renderer
from bot.slack.dialect import SLACK
from bot.teams.dialect import TEAMS, mentioned_ids
from bot.terminal.dialect import TERMINAL
from tests.slack.summary_fixtures import NEW_SUMMARY, summary_like

DIALECTS: dict[str, Dialect] = {"slack": SLACK, "teams": TEAMS, "terminal": TERMINAL}
# The report's HTML and Markdown formats are files, not chat, and keep their own markup.
FILE_FORMATS = {"report/report.html.j2", "report/report.md.j2"}
SLACK_MARKUP = {
    "single-asterisk bold": re.compile(r"(?<![*\w])\*[^*\s][^*\n]*\*(?![*\w])"),
    "underscore italic": re.compile(r"(?<![\w{])_[^_\s][^_\n]*_(?![\w}])"),
    "a quote": re.compile(r"^\s*>", re.M),
}
# Written nowhere in a neutral template, not even in a string a tag passes to a dialect.
SLACK_ANYWHERE = {
    "a mention": re.compile(r"<@"),
    "a link": re.compile(r"<https?:"),
    "the slash command": re.compile(r"/reflect"),
    "code": re.compile(r"`"),
    "a front end's name": re.compile(r"\bmode ==|\bslack\b", re.I),
}
TEAMS_PERSON = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
SLACK_PERSON = "U0TESTSUPV"
HOSTILE = "<!channel> <@U0TESTLEAD> **loud** [click](https://evil.example) &amp;"


def neutral_templates() -> list[str]:
    names = sorted(
        str(path.relative_to(PROMPTS_DIR))
        for folder in NEUTRAL_FOLDERS
        for path in (PROMPTS_DIR / folder).glob("*.j2")
    )
    return [name for name in names if name not in FILE_FORMATS]


def test_there_are_neutral_templates_to_check() -> None:
    assert len(neutral_templates()) > 60


@pytest.mark.parametrize("template", neutral_templates())
def test_a_neutral_template_writes_no_slack_markup(template: str) -> None:
    source = (PROMPTS_DIR / template).read_text(encoding="utf-8")
    # Jinja's own tags are code, not text: only the text between them is read.
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", source, flags=re.S)
    found = [what for what, markup in SLACK_MARKUP.items() if markup.search(text)]
    code = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    found += [what for what, markup in SLACK_ANYWHERE.items() if markup.search(code)]
    assert not found, f"{template} writes {', '.join(found)}"


def test_question_text_writes_no_slack_markup() -> None:
    text = (PROMPTS_DIR / "questions.yaml").read_text(encoding="utf-8")
    texts = re.findall(r"^\s*(?:text|hint|prompt|follow_up): (.*)$", text, re.M)
    assert len(texts) > 20
    for line in texts:
        assert not SLACK_MARKUP["single-asterisk bold"].search(line), line
        for what in ("a mention", "a link", "the slash command"):
            assert not SLACK_ANYWHERE[what].search(line), (what, line)


class Sample(ChainableUndefined):
    """Whatever a template asks for that the sample data below does not give: a word."""

    def __str__(self) -> str:
        return "sample"


def sample_data() -> dict[str, Any]:
    when = date(2026, 12, 4)
    return {
        "case_ref": "CSC-1234",
        "practitioner_id": TEAMS_PERSON,
        "supervisor_id": SLACK_PERSON,
        "lead_ids": [TEAMS_PERSON, SLACK_PERSON],
        "summary": summary_like(NEW_SUMMARY),
        "audience": "supervisor",
        "label": HOSTILE,
        "what": HOSTILE,
        "decision": f"{HOSTILE}\nsecond line",
        "note": f"{HOSTILE}\nsecond line",
        "text": HOSTILE,
        "theme_title": HOSTILE,
        "procedure_url": "https://example.org/procedure?a=1&b=2",
        "week_of": when,
        **dict.fromkeys(("length", "limit", "total", "count", "threshold"), 1200),
        "candidates": [when, date(2026, 4, 12)],
        **{
            name: when
            for name in (
                "due_on",
                "opened_on",
                "closed_on",
                "last_on",
                "today",
                "on",
                "completed_at",
                "acknowledged_at",
                "promised_at",
                "confirmed_at",
            )
        },
        "concerns": [{"title": HOSTILE, "quote": HOSTILE, "rule": "x"}],
    }


def render_all(dialect: Dialect) -> dict[str, str]:
    render = Renderer(dialect)
    render.env.undefined = Sample
    return {name: render.render(name, **sample_data()) for name in neutral_templates()}


@pytest.mark.parametrize("name", DIALECTS)
def test_every_neutral_template_renders_in_every_dialect(name: str) -> None:
    shown = render_all(DIALECTS[name])
    # A notice that something was screened says nothing unless told what was.
    assert [template for template, text in shown.items() if not text] == ["notices/screened.j2"]
    assert "CSC-1234" in shown["messages/paused.j2"]
    assert (
        DIALECTS[name].start_command in shown["notices/close_refused.j2"]
        or "sample" in (shown["notices/close_refused.j2"])
    )


def test_slack_writes_its_markup_and_escapes_what_was_typed() -> None:
    shown = render_all(SLACK)
    assert shown["messages/welcome.j2"].count("*skip*") == 1
    assert f"<@{SLACK_PERSON}>" in shown["notices/acknowledged_practitioner.j2"]
    assert "<https://example.org/procedure?a=1&amp;b=2|" in shown["messages/immediate_risk.j2"]
    assert "`/reflect list`" in shown["notices/message_set_aside.j2"]
    assert "_&lt;!channel&gt;" in shown["messages/moved_on.j2"]
    # A Teams person cannot be mentioned in Slack: their ID is shown as text.
    assert TEAMS_PERSON in shown["messages/today_alert.j2"]
    for text in shown.values():
        assert "<!channel>" not in text and "<@U0TESTLEAD>" not in text


def test_teams_writes_markdown_and_escapes_what_was_typed() -> None:
    shown = render_all(TEAMS)
    assert "**skip**" in shown["messages/welcome.j2"]
    assert (
        "[your local safeguarding procedure](https://example.org/procedure?a=1&b=2)"
        in (shown["messages/immediate_risk.j2"])
    )
    assert "**reflect list**" in shown["notices/message_set_aside.j2"]
    assert "type reflect CSC-1234" in shown["messages/paused.j2"]
    assert "\\*\\*loud\\*\\* \\[click\\]" in shown["messages/moved_on.j2"]
    for text in shown.values():
        assert "/reflect" not in text
        assert not re.search(r"(?<!\\)<[@!]", text)
        assert set(mentioned_ids(text)) <= {TEAMS_PERSON}
    assert mentioned_ids(shown["messages/today_alert.j2"]) == [TEAMS_PERSON]


def test_the_terminal_writes_no_markup() -> None:
    shown = render_all(TERMINAL)
    assert "Type skip, back or pause" in shown["messages/welcome.j2"]
    assert "run reflect demo --case CSC-1234" in shown["messages/paused.j2"]
    for text in shown.values():
        assert not SLACK_MARKUP["single-asterisk bold"].search(text.replace(HOSTILE, ""))
        assert "**" not in text.replace(HOSTILE, "")


def test_plain_text_is_a_dialect_of_its_own() -> None:
    assert Renderer(PLAIN).render("notices/close_refused.j2", found=False, case_ref="X") == (
        "I don't know a case X. Check the reference with reflect list."
    )


def test_a_stored_time_still_renders() -> None:
    shown = Renderer(SLACK).render(
        "clock/digest.j2",
        week_of=datetime(2026, 11, 30, tzinfo=UTC),
        awaiting=[],
        awaiting_total=0,
        long_open=[],
        long_open_total=0,
        long_open_days=90,
        quiet_days=30,
        overdue=[],
        overdue_total=0,
        flagged=[],
        flagged_total=0,
    )
    assert shown.startswith("*Your Reflect week, from Monday 30 November 2026*")
