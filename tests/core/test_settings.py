"""Settings: every variable read in one place, checked before any command does anything, and
listed once in README.md's configuration table."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings, problems, readme_table, variables
from storage.db import BATCH_LIMITS
from tests.conftest import REPO, run_reflect

# Bad values across every kind of setting, each with words its refusal must contain.
BAD = {
    "REFLECT_RETENTION_DAYS": ("abc", "a whole number of days, 1 or more"),
    "REFLECT_TIMEZONE": ("Mars/Olympus", "a time zone name"),
    "PORT": ("eighty", "a port number from 1 to 65535"),
    "REFLECT_DB_BATCH_LOCK_TIMEOUT_MS": ("0", "a whole number of milliseconds, 1 or more"),
    "REFLECT_LONG_OPEN_DAYS": ("9999", "a whole number of days, from 1 to 3650"),
    "REFLECT_WORKDAY_START": ("nine", "a time of day like 09:00"),
    "REFLECT_CLOCK_LOCK_RETRY_SECONDS": ("inf", "a number of seconds from 0.01 to 600"),
    "REFLECT_THREADS": ("lots", "a whole number of threads, 1 or more"),
    "SLACK_API_URL": ("slack.example.org", "a web address starting http:// or https://"),
}


def refusal_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "command",
    [
        ["clock"],
        ["clock", "--once"],
        ["serve"],
        ["retention", "purge"],
        ["history", "CSC-1"],
        ["keys", "generate"],
        ["db", "upgrade"],
    ],
)
def test_every_command_refuses_bad_settings_before_doing_anything(
    cli_env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    database = tmp_path / "never-made.db"
    env = {**cli_env, "DATABASE_URL": f"sqlite:///{database}"}
    env.update({variable: value for variable, (value, _must) in BAD.items()})
    done = run_reflect(env, *command, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = refusal_lines(done.stderr)
    assert len(lines) == len(BAD), done.stderr
    for variable, (value, must) in BAD.items():
        [line] = [line for line in lines if line.startswith(f"{variable}=")]
        assert f"{variable}={value!r} must be {must}; for example {variable}=" in line
    assert not database.exists()  # nothing was opened, let alone created


def test_the_clock_no_longer_starts_with_a_retention_period_it_cannot_read(
    cli_env: dict[str, str],
) -> None:
    done = run_reflect({**cli_env, "REFLECT_RETENTION_DAYS": "abc"}, "clock", timeout=30)
    assert done.returncode == 2
    assert done.stderr == (
        "REFLECT_RETENTION_DAYS='abc' must be a whole number of days, 1 or more; "
        "for example REFLECT_RETENTION_DAYS=365\n"
    )


def test_a_working_day_that_ends_before_it_starts_is_refused(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "REFLECT_WORKDAY_START": "18:00", "REFLECT_WORKDAY_END": "08:00"}
    done = run_reflect(env, "clock", "--once", timeout=30)
    assert done.returncode == 2
    assert refusal_lines(done.stderr) == [
        "REFLECT_WORKDAY_END='08:00' must be a time of day later than REFLECT_WORKDAY_START "
        "(18:00); for example REFLECT_WORKDAY_END=17:30"
    ]


def test_a_refusal_never_repeats_a_secret(cli_env: dict[str, str]) -> None:
    done = run_reflect(
        {**cli_env, "DATABASE_URL": "mysql://reflect:hunter2@records.internal/reflect"},
        "history",
        "CSC-1",
        timeout=30,
    )
    assert done.returncode == 2
    assert "hunter2" not in done.stderr and "records.internal" not in done.stderr
    assert done.stderr.startswith("DATABASE_URL=(not shown) must be a database URL")


def test_good_settings_still_start(cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "REFLECT_RETENTION_DAYS": "730",
        "REFLECT_TIMEZONE": "Europe/Dublin",
        "REFLECT_WORKDAY_START": "08:30",
        "REFLECT_LONG_OPEN_DAYS": "",  # empty counts as unset
        "PORT": "8080",
    }
    once = run_reflect(env, "clock", "--once", "--at", "2026-12-07T09:30")
    assert once.returncode == 0, once.stderr
    assert "Europe/Dublin" in once.stdout
    purged = run_reflect(env, "retention", "purge")
    assert purged.returncode == 0, purged.stderr


def test_values_are_read_from_their_variables_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://reflect@db.example.org/reflect")
    monkeypatch.setenv("REFLECT_ENCRYPTION_KEY", " new-key , old-key ")
    monkeypatch.setenv("REFLECT_WORKDAY_END", "17:30")
    monkeypatch.setenv("REFLECT_DB_BATCH_STATEMENT_TIMEOUT_MS", "600000")
    monkeypatch.setenv("REFLECT_RETENTION_AUDIT_DAYS", "3650")
    # A field's own name is not its variable.
    monkeypatch.setenv("TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("timezone", "Asia/Tokyo")
    monkeypatch.setenv("RETENTION_DAYS", "1")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://reflect@db.example.org/reflect"
    assert settings.encryption_keys == ("new-key", "old-key")
    assert settings.timezone == "Europe/London"
    assert settings.clock.workday_end == time(17, 30)
    assert settings.batch_limits == BATCH_LIMITS.__class__(
        **{**BATCH_LIMITS.__dict__, "statement_timeout_ms": 600_000}
    )
    assert settings.retention.audit_days == 3650 and settings.retention.completed_days == 365


def test_settings_given_in_code_are_checked_too() -> None:
    assert Settings(database_url="postgres://x@h/db").database_url.startswith("postgresql+psycopg")
    with pytest.raises(ValidationError) as refused:
        Settings(timezone="Nowhere/Special")
    assert [p.variable for p in problems(refused.value)] == ["REFLECT_TIMEZONE"]


# ------------------------------------------------------------------ README.md's table

README = REPO / "README.md"


def configuration_table() -> list[str]:
    """The lines of the table under README.md's "## Configuration" heading."""
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n#", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_readme_lists_every_setting_exactly_once() -> None:
    table = "\n".join(configuration_table())
    for variable, _default, _meaning in variables():
        assert len(re.findall(rf"`{variable}`", table)) == 1, f"{variable} in README's table"
    assert table == readme_table(), "README's table is stale: `python -m bot.settings` prints it"
