"""Wrong, oversized and hostile files given to `reflect org load`: each is refused quickly with a
clear message naming the line (exit 2) and nothing changes."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.admin import organisation
from bot.admin.organisation import (
    OrganisationFileError,
    UnreadableOrganisationFile,
    load_organisation,
)
from bot.cli import main
from storage.db import SessionFactory
from storage.models import Agency, Person

REPO = Path(__file__).resolve().parents[2]
GOOD_ORGANISATION = """\
agencies:
  - id: csc
    name: Children's Social Care
    safeguarding_leads: [U0TESTLEAD]
people:
  - slack_id: U0TESTPRAC
    agency: csc
    role: practitioner
    email: prac@example.org
"""
# Address space for a `reflect` subprocess: ample for the command, far short of what an
# expanding file would take, so a regression fails the test instead of exhausting the machine.
MEMORY_CAP = 1024 * 1024 * 1024


def billion_laughs(levels: int = 10) -> str:
    """A few hundred bytes of YAML whose aliases expand to 9**levels strings when read."""
    lines = ["agencies:", "  - id: csc", "    name: CSC", "    safeguarding_leads:"]
    previous = None
    for level in range(levels):
        items = ['"lol"'] * 9 if previous is None else [f"*l{previous}"] * 9
        lines.append(f"      - &l{level} [{', '.join(items)}]")
        previous = level
    return "\n".join([*lines, "people: []", ""])


def reflect(
    env: dict[str, str], *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`reflect` in a subprocess with its memory capped."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP)),
    )


def in_process(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    *args: str,
) -> tuple[int, str, str]:
    for name in ("DATABASE_URL", "REFLECT_ENCRYPTION_KEY"):
        monkeypatch.setenv(name, env[name])
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def organisation_counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        agencies = session.exec(select(func.count()).select_from(Agency)).one()
        people = session.exec(select(func.count()).select_from(Person)).one()
    return agencies, people


@pytest.fixture
def loaded(
    cli_env: dict[str, str], new_session: SessionFactory, engine: Engine, tmp_path: Path
) -> dict[str, str]:
    """The CLI's environment with a good organisation already loaded."""
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_ORGANISATION)
    load_organisation(good, new_session)
    assert organisation_counts(engine) == (1, 1)
    return cli_env


# ------------------------------------------------------------------ reflect org load


def test_billion_laughs_is_refused_at_once(loaded, engine: Engine, tmp_path: Path) -> None:
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(billion_laughs())
    assert bomb.stat().st_size < 1000
    started = time.monotonic()
    result = reflect(loaded, "org", "load", str(bomb), timeout=20)
    assert time.monotonic() - started < 10
    assert result.returncode == 2, result.stderr
    assert "line 5: agencies[0].safeguarding_leads[0]: anchors (&name) are not allowed" in (
        result.stderr
    )
    assert "nothing has changed" in result.stderr and "Traceback" not in result.stderr
    assert organisation_counts(engine) == (1, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "agencies:\n  - ? [a, b]\n    : x\npeople: []\n",
            "line 2: agencies[0]: a key must be a word, not a list or mapping",
        ),
        (
            "agencies:\n  - {? {id: csc} : x}\npeople: []\n",
            "line 2: agencies[0]: a key must be a word, not a list or mapping",
        ),
        (
            "agencies:\n" + "  " * 0 + "  - " + "{a: " * 5000 + "1" + "}" * 5000 + "\npeople: []\n",
            "line 2: agencies[0].a.a.a.a.a.a.a.a: nested more than 10 levels deep",
        ),
        (
            "agencies:\n  - id: csc\n    name: " + "A" * 5_000_000 + "\npeople: []\n",
            "the file is larger than 4 MB, the most allowed",
        ),
    ],
    ids=["list-as-key", "mapping-as-key", "nested-5000-deep", "5MB-agency-name"],
)
def test_the_reported_organisation_files_are_refused_clearly(
    loaded, engine: Engine, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(text)
    result = reflect(loaded, "org", "load", str(path))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "was not loaded, and nothing has changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert organisation_counts(engine) == (1, 1)


def test_an_endless_file_is_read_no_further_than_the_limit(loaded, engine: Engine) -> None:
    result = reflect(loaded, "org", "load", "/dev/zero", timeout=20)
    assert result.returncode == 2, result.stderr
    assert "larger than 4 MB" in result.stderr
    assert organisation_counts(engine) == (1, 1)


GOOD_LINES = GOOD_ORGANISATION.encode()
HOSTILE_ORGANISATIONS = {
    "nested-lists": (
        b"agencies: " + b"[" * 5000 + b"]" * 5000 + b"\npeople: []\n",
        "line 1:",
    ),
    "latin-1": (
        GOOD_LINES.replace(b"Children's", b"Children\xe9s"),
        "line 3: not UTF-8 text; save the file as UTF-8",
    ),
    "nul-byte": (
        GOOD_LINES.replace(b"csc\n", b"c\x00sc\n", 1),
        "line 2: a control character (U+0000)",
    ),
    "a-list": (b"- agencies\n- people\n", "found a list"),
    "one-value": (b"organisation\n", "found one value"),
    "empty": (b"", "found nothing"),
    "two-documents": (
        GOOD_LINES + b"---\n" + GOOD_LINES,
        "line 10: a second YAML document starts here",
    ),
    "python-object": (
        b"agencies: !!python/object/apply:os.system ['touch /tmp/x']\npeople: []\n",
        "line 1: agencies: tags such as !!python/object/apply:os.system are not allowed",
    ),
    "local-tag": (b"agencies: !custom []\npeople: []\n", "tags such as !custom"),
    "alias-in-people": (
        b"agencies: &a []\npeople: *a\n",
        "line 1: agencies: anchors (&name) are not allowed",
    ),
    "huge-integer": (
        b"agencies:\n  - id: " + b"9" * 5000 + b"\n    name: x\npeople: []\n",
        "line 2: agencies[0].id: a value 5,000 characters long; none may be longer than 1,000",
    ),
    "impossible-date": (
        b"agencies:\n  - id: 2026-13-45\n    name: x\npeople: []\n",
        "line 2: agencies[0].id: '2026-13-45' is not a real date",
    ),
    "long-unknown-key": (
        b"agencies:\n  - id: csc\n    name: x\n    " + b"k" * 1010 + b": 1\npeople: []\n",
        "line 4: agencies[0]: a value 1,010 characters long",
    ),
}


@pytest.mark.parametrize(
    ("content", "expected"), HOSTILE_ORGANISATIONS.values(), ids=HOSTILE_ORGANISATIONS.keys()
)
def test_hostile_organisation_files_are_refused_through_the_cli(
    loaded, engine: Engine, tmp_path: Path, monkeypatch, capsys, content: bytes, expected: str
) -> None:
    path = tmp_path / "org.yaml"
    path.write_bytes(content)
    code, _, err = in_process(monkeypatch, capsys, loaded, "org", "load", str(path))
    assert code == 2, err
    assert expected in err and "nothing has changed" in err
    assert organisation_counts(engine) == (1, 1)


@pytest.mark.parametrize(
    ("old", "longest", "too_long", "reason"),
    [
        (
            "Children's Social Care",
            "N" * 200,
            "N" * 201,
            "line 3: agencies[0].name: at most 200 characters (this is 201)",
        ),
        (
            "prac@example.org",
            "p" * 308 + "@example.org",
            "p" * 309 + "@example.org",
            "line 9: people[0].email: at most 320 characters (this is 321)",
        ),
    ],
    ids=["agency-name", "email"],
)
def test_values_longer_than_their_column_are_refused_by_line(
    new_session: SessionFactory, tmp_path: Path, old: str, longest: str, too_long: str, reason: str
) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(GOOD_ORGANISATION.replace(old, too_long))
    with pytest.raises(OrganisationFileError) as raised:
        load_organisation(path, new_session)
    assert not isinstance(raised.value, UnreadableOrganisationFile)
    assert str(raised.value) == reason
    path.write_text(GOOD_ORGANISATION.replace(old, longest))
    assert load_organisation(path, new_session).people == 1


def test_a_refused_value_is_not_repeated_back_at_length(
    new_session: SessionFactory, tmp_path: Path
) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(GOOD_ORGANISATION.replace("[U0TESTLEAD]", f"[{'x' * 900}]"))
    with pytest.raises(OrganisationFileError) as raised:
        load_organisation(path, new_session)
    assert f"'{'x' * 40}…' is not a Slack user ID" in str(raised.value)
    assert len(str(raised.value)) < 200


def test_more_people_than_the_limit_are_refused(
    new_session: SessionFactory, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(organisation, "MAX_PEOPLE", 2)
    people = "".join(
        f"  - slack_id: U0PERSON{n}\n    agency: csc\n    role: practitioner\n" for n in range(3)
    )
    path = tmp_path / "org.yaml"
    path.write_text(GOOD_ORGANISATION.split("people:")[0] + "people:\n" + people)
    with pytest.raises(UnreadableOrganisationFile, match="people: 3 entries; an organisation"):
        load_organisation(path, new_session)


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(
    new_session: SessionFactory, tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(GOOD_ORGANISATION)
    monkeypatch.setattr(organisation, "MAX_FILE_BYTES", len(GOOD_ORGANISATION) - 1)
    monkeypatch.setattr(organisation, "parse_organisation", pytest.fail)
    with pytest.raises(UnreadableOrganisationFile, match="larger than"):
        load_organisation(path, new_session)
