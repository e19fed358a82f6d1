"""Below the front ends nothing imports a platform's libraries or a front end: Slack and Teams
are packages beside each other (bot/slack/, bot/teams/), and these packages need no change for
either."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONT_END_FREE = (
    "bot/requests",
    "bot/clock",
    "bot/reflection",
    "bot/messaging",
    "bot/casework",
    "bot/report",
    "bot/admin",
    "storage",
)
FRONT_END_LIBRARIES = ("slack_sdk", "slack_bolt", "microsoft_teams", "microsoft_agents")
FRONT_ENDS = ("bot.slack", "bot.teams", "bot.terminal", "bot.serving")


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every module a Python source imports, wherever the import is (a function body too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def slack_imports(source: str) -> list[tuple[int, str]]:
    return [
        (line, module)
        for line, module in imported_modules(source)
        if module.split(".")[0] in FRONT_END_LIBRARIES
        or any(module == front or module.startswith(f"{front}.") for front in FRONT_ENDS)
    ]


@pytest.mark.parametrize("package", FRONT_END_FREE)
def test_nothing_below_the_front_ends_imports_slack(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no Python files: the list above is out of date"
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in slack_imports(path.read_text(encoding="utf-8"))
    ]
    assert offending == []


def test_the_walk_finds_slack_imports_wherever_they_are() -> None:
    source = (
        "import slack_sdk\n"
        "from slack_bolt import App\n"
        "def late():\n"
        "    from slack_sdk.web import WebClient\n"
        "    import json, slack_sdk.errors\n"
        "from bot.slack_words import x\n"
    )
    assert slack_imports(source) == [
        (1, "slack_sdk"),
        (2, "slack_bolt"),
        (4, "slack_sdk.web"),
        (5, "slack_sdk.errors"),
    ]


def slack_template_names(source: str) -> list[tuple[int, str]]:
    """String constants (f-strings' text too) that name a template under prompts/slack/."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("slack/")
    ]


@pytest.mark.parametrize("package", (*FRONT_END_FREE, "bot/terminal"))
def test_what_is_recorded_below_the_front_ends_names_no_slack_template(package: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line} names {name!r}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in slack_template_names(path.read_text(encoding="utf-8"))
    ]
    assert offending == []


def test_the_walk_finds_slack_template_names() -> None:
    source = 'a = "slack/help"\nb = f"slack/{name}"\nc = "notices/slack/x"\n'
    assert slack_template_names(source) == [(1, "slack/help"), (2, "slack/")]
