"""Wrong, oversized and hostile files given to `reflect org load` and `reflect cases import`: each
is refused quickly with a clear message naming the line (exit 2) and nothing changes; a big
cases import leaves other writers room and can be stopped and run again."""

from __future__ import annotations

import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.admin import cases_import, organisation
from bot.admin.cases_import import CasesFileError, ImportInterrupted, import_cases
from bot.admin.organisation import (
    OrganisationFileError,
    UnreadableOrganisationFile,
    load_organisation,
)
from bot.cli import main
from storage.db import SessionFactory
from storage.models import Agency, Case, Person
from tests.conftest import run_reflect

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
CASES_HEADER = "case_ref,practitioner,opened_on\n"
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
    cap = (MEMORY_CAP, MEMORY_CAP)
    return run_reflect(
        env, *args, timeout=timeout, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, cap)
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


def case_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Case)).one()


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


# ------------------------------------------------------------------ reflect cases import


def test_a_200_kb_field_is_refused_clearly_and_nothing_is_imported(
    cli_env, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(
        CASES_HEADER + "CSC-1001,U0TESTPRAC,2026-01-01\n" + f"CSC-1002,{'U' * 200_000},2026-01-01\n"
    )
    result = reflect(cli_env, "cases", "import", str(path))
    assert result.returncode == 2, result.stderr
    assert "was not imported, and nothing has changed: line 3: a value longer than" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert case_count(engine) == 0


HOSTILE_CASES = {
    "latin-1": (
        CASES_HEADER.encode() + "CSC-1001,café@example.org,2026-01-01\n".encode("latin-1"),
        "line 2: not UTF-8 text",
    ),
    "utf-16": (
        (CASES_HEADER + "CSC-1001,U0TESTPRAC,2026-01-01\n").encode("utf-16"),
        "line 1: not UTF-8 text",
    ),
    "nul-byte": (
        CASES_HEADER.encode() + b"CSC-1001,U0TEST\x00PRAC,2026-01-01\n",
        "line 2: a control character (U+0000)",
    ),
    "semicolons": (
        b"case_ref;practitioner;opened_on\nCSC-1001;U0TESTPRAC;2026-01-01\n",
        "separated by semicolons: save it as CSV, comma separated",
    ),
    "tabs": (
        b"case_ref\tpractitioner\topened_on\nCSC-1001\tU0TESTPRAC\t2026-01-01\n",
        "separated by tabs",
    ),
    "empty": (b"", "the file is empty; its first line must name the columns"),
}


@pytest.mark.parametrize(("content", "expected"), HOSTILE_CASES.values(), ids=HOSTILE_CASES.keys())
def test_hostile_cases_files_are_refused_through_the_cli(
    cli_env, engine: Engine, tmp_path: Path, monkeypatch, capsys, content: bytes, expected: str
) -> None:
    path = tmp_path / "cases.csv"
    path.write_bytes(content)
    code, _, err = in_process(monkeypatch, capsys, cli_env, "cases", "import", str(path))
    assert code == 2, err
    assert f"{path} was not imported, and nothing has changed: " in err
    assert expected in err
    assert case_count(engine) == 0


def test_an_endless_cases_file_is_read_no_further_than_the_limit(cli_env, engine) -> None:
    result = reflect(cli_env, "cases", "import", "/dev/zero", timeout=30)
    assert result.returncode == 2, result.stderr
    assert "larger than 32 MB" in result.stderr
    assert case_count(engine) == 0


def test_values_longer_than_their_column_are_bad_rows(
    new_session: SessionFactory, clock, tmp_path: Path
) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(
        CASES_HEADER
        + "CSC-1001,U0TESTPRAC,2026-01-01\n"
        + f"CSC-{'1' * 5000},U0TESTPRAC,2026-01-01\n"
        + f"CSC-1003,{'a' * 1000}@example.org,2026-01-01\n"
        + f"CSC-1004,{'a' * 60}@example.org,2026-01-01\n"
    )
    result = import_cases(path, new_session, today=date(2026, 11, 26), now=clock)
    assert result.created == 1
    reasons = {row.line: row.reason for row in result.bad}
    assert reasons[3] == f"case_ref 'CSC-{'1' * 36}…' is not a case reference with a number"
    assert "practitioner is 1,012 characters long" in reasons[4]
    assert "is not in the organisation file" in reasons[5] and "at most 64" in reasons[5]


def test_more_rows_than_the_limit_are_refused(
    new_session: SessionFactory, clock, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(cases_import, "MAX_ROWS", 2)
    path = tmp_path / "cases.csv"
    path.write_text(CASES_HEADER + "".join(f"C-{n},U0TESTPRAC,2026-01-01\n" for n in range(3)))
    with pytest.raises(CasesFileError, match="more than 2 rows; split it"):
        import_cases(path, new_session, today=date(2026, 11, 26), now=clock)
    with new_session() as session:
        assert session.exec(select(Case)).all() == []


# ------------------------------------------------------------------ a big import


def many_cases(path: Path, rows: int) -> Path:
    """A cases file as a spreadsheet saves it: a byte-order mark and CRLF line endings."""
    lines = [CASES_HEADER.strip()] + [f"BIG-{n:06d},U0TESTPRAC,2026-01-01" for n in range(rows)]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    return path


def sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def start_import(env: dict[str, str], path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "cases", "import", str(path)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts, killed if the test fails before they finish."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_other_writers_get_in_during_a_big_import(
    cli_env, database_url: str, engine: Engine, tmp_path: Path, running
) -> None:
    database = sqlite_path(database_url)
    if database is None:
        pytest.skip("SQLite's single write lock; PostgreSQL locks rows")
    rows = 15_000
    importer = start_import(cli_env, many_cases(tmp_path / "cases.csv", rows))
    running.append(importer)
    other = sqlite3.connect(database, timeout=1.0, isolation_level=None)
    seen_part_way = 0
    while importer.poll() is None:
        # The app's kind of write: short, and given a second to get the lock.
        started = time.monotonic()
        other.execute("BEGIN IMMEDIATE")
        waited = time.monotonic() - started
        other.execute(
            "INSERT INTO handled_key (event_id, received_at) VALUES (?, ?)",
            (uuid.uuid4().hex, "2026-01-01 00:00:00.000000"),
        )
        imported = other.execute('SELECT count(*) FROM "case"').fetchone()[0]
        other.execute("COMMIT")
        assert waited < 1.0
        seen_part_way += 0 < imported < rows
        time.sleep(0.05)
    other.close()
    out, err = importer.communicate()
    assert importer.returncode == 0, err
    assert f"Cases imported: {rows} new, 0 updated." in out
    assert seen_part_way >= 5, "the other writer never got in while the import was writing"
    assert case_count(engine) == rows


def test_a_stopped_import_says_how_far_it_got_and_a_rerun_finishes_it(
    cli_env, engine: Engine, tmp_path: Path, running
) -> None:
    rows = 12_000
    path = many_cases(tmp_path / "cases.csv", rows)
    importer = start_import(cli_env, path)
    running.append(importer)
    # Reading and checking 12,000 rows comes before the first batch is written, and takes far
    # longer on a loaded machine: the bound is generous, and the test needs a batch written.
    deadline = time.monotonic() + 180
    while case_count(engine) == 0 and importer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert case_count(engine) > 0 and importer.poll() is None, "no batch written yet"
    importer.send_signal(signal.SIGINT)
    _, err = importer.communicate(timeout=30)
    assert importer.returncode == 130, err
    stopped = re.search(rf"(\d+) of {rows} cases are imported", err)
    assert stopped, err
    assert "Run the same command again to finish" in err and "Traceback" not in err
    done = int(stopped.group(1))
    assert 0 < done < rows and done % cases_import.BATCH_ROWS == 0
    assert case_count(engine) == done

    again = subprocess.run(
        [sys.executable, "-m", "bot", "cases", "import", str(path)],
        env=cli_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert f"Cases imported: {rows - done} new, {done} updated." in again.stdout
    assert case_count(engine) == rows


def test_a_database_failure_part_way_keeps_whole_batches_only(
    new_session: SessionFactory, clock, tmp_path: Path
) -> None:
    path = many_cases(tmp_path / "cases.csv", 7)
    calls = 0

    def failing_on_the_third_batch() -> Session:
        nonlocal calls
        calls += 1  # the first session reads; the next ones write a batch each
        if calls == 4:
            raise OperationalError("BEGIN", {}, Exception("the database went away"))
        return new_session()

    with pytest.raises(ImportInterrupted) as raised:
        import_cases(
            path, failing_on_the_third_batch, today=date(2026, 11, 26), now=clock, batch_rows=3
        )
    assert (raised.value.done.created, raised.value.total) == (6, 7)
    with new_session() as session:
        assert len(session.exec(select(Case)).all()) == 6
    result = import_cases(path, new_session, today=date(2026, 11, 26), now=clock, batch_rows=3)
    assert (result.created, result.updated) == (1, 6)


def test_an_import_stopped_by_the_database_is_explained(
    cli_env, tmp_path: Path, monkeypatch, capsys
) -> None:
    def stopped(*_args: object, **_kwargs: object) -> None:
        done = cases_import.ImportResult(created=2000, updated=1000)
        failure = OperationalError("COMMIT", {}, Exception("the database went away"))
        raise ImportInterrupted(done, 9000) from failure

    monkeypatch.setattr("bot.cli.admin.import_cases", stopped)
    path = tmp_path / "cases.csv"
    path.write_text(CASES_HEADER)
    code, _, err = in_process(monkeypatch, capsys, cli_env, "cases", "import", str(path))
    assert code == 2
    assert f"Stopped part-way through {path}: 3000 of 9000 cases are imported" in err
    assert "(2000 new, 1000 updated)" in err and "cases already imported are updated" in err
