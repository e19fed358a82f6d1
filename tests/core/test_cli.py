"""The `reflect` command end to end, in a subprocess with piped input."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.reflection.questions import default_question_set

REPO = Path(__file__).resolve().parents[2]
DEMO_ANSWERS = (REPO / "examples" / "demo-answers.txt").read_bytes()
REFLECT = Path(sys.executable).with_name("reflect")


def in_process(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    *args: str,
) -> tuple[int, str, str]:
    """Run `reflect` in this process (fast), for commands that read no standard input."""
    for name in ("DATABASE_URL", "REFLECT_ENCRYPTION_KEY"):
        monkeypatch.setenv(name, env[name])
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def reflect(env: dict[str, str], *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=60,
        cwd=REPO,
    )


def test_console_script_is_installed() -> None:
    assert REFLECT.exists(), "pip install -e . should install the reflect command"
    result = subprocess.run([str(REFLECT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "demo" in result.stdout


def test_demo_runs_a_whole_reflection_then_history_shows_it(cli_env) -> None:
    result = reflect(cli_env, "demo", "--case", "CSC-2001", stdin=DEMO_ANSWERS)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    # Saved, and said to be sent to nobody: the demo's practitioner is in no organisation.
    assert "Saved. Not sent to anyone (you're not set up in an organisation yet)." in out
    # Flags come grouped by when they matter, under one of three headings.
    assert re.search(r"^(Today|On the visit|For supervision)$", out, re.MULTILINE)
    assert "talk this case through with your safeguarding lead" in out
    assert "Traceback" not in out + result.stderr.decode()
    # Every line of the example answers the question it was written for: nothing is refused
    # but the one date left ambiguous on purpose, and what was written is listened to.
    assert "Sorry, I didn't follow that" not in out
    assert "Please type a number from 0 to 10" not in out
    assert "Would you like to add another action?" not in out
    assert "couldn't read that as a date" not in out
    assert out.count("That date could mean") == 1
    assert 'You wrote "' in out
    # The terminal shows words, never a chat platform's markup.
    assert not re.search(r"(^|\s)_\w|\w_($|\s)|`|<@|\*\w", out, re.MULTILINE)
    assert 'reflect history CSC-2001" shows them' in out

    history = reflect(cli_env, "history", "csc-2001")
    text = history.stdout.decode()
    assert history.returncode == 0
    assert "1 reflection on CSC-2001" in text
    assert "Read the chronology and talk to the school DSL" in text


def test_end_of_input_part_way_keeps_progress_and_resumes(cli_env) -> None:
    lines = DEMO_ANSWERS.splitlines(keepends=True)
    first = reflect(cli_env, "demo", "--case", "CSC-2002", stdin=b"".join(lines[:5]))
    assert first.returncode == 1
    assert "reflect demo --case CSC-2002" in first.stdout.decode()
    second = reflect(cli_env, "demo", "--case", "CSC-2002", stdin=b"".join(lines[5:]))
    out = second.stdout.decode()
    assert second.returncode == 0, second.stderr.decode()
    assert "Welcome back to CSC-2002" in out
    assert "Saved. Not sent to anyone" in out
    history = reflect(cli_env, "history", "CSC-2002").stdout.decode()
    assert "She gets herself up and to school" in history  # the first run's answer survived


def test_bytes_that_are_not_utf8_are_refused_and_nothing_is_lost(cli_env) -> None:
    result = reflect(cli_env, "demo", "--case", "CSC-2003", stdin=b"\xff\xfe bad\nskip\n")
    out = result.stdout.decode()
    assert "isn't UTF-8 text" in out
    assert "Skipped." in out
    assert result.returncode == 1


def test_ctrl_c_pauses_and_keeps_answers(cli_env) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--case", "CSC-2004"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env,
        cwd=REPO,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(b"No, nothing for today, typed before the interruption\n")
        process.stdin.flush()
        # The answer to the first question is in once the second is asked.
        second = default_question_set().questions["worry"].text.encode()
        deadline = time.monotonic() + 30
        seen = b""
        while second not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1)
            if not ready:
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        assert second in seen, seen.decode(errors="replace")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        out = seen + out
    finally:
        process.kill()
    assert process.returncode == 130
    assert b"Stopped. Everything you answered is saved" in out
    assert b"Traceback" not in err
    resumed = reflect(cli_env, "demo", "--case", "CSC-2004", stdin=b"pause\n")
    assert "Welcome back to CSC-2004" in resumed.stdout.decode()


def test_org_load_refuses_a_bad_file_with_line_and_field(
    cli_env, tmp_path: Path, monkeypatch, capsys
) -> None:
    bad = tmp_path / "org.yaml"
    bad.write_text(
        "agencies:\n  - id: csc\n    name: CSC\npeople:\n  - slack_id: U0TESTPRAC\n"
        "    agency: police\n    role: practitioner\n"
    )
    code, _, err = in_process(monkeypatch, capsys, cli_env, "org", "load", str(bad))
    assert code == 1
    assert "line 6: people[0].agency: unknown agency 'police'" in err
    assert "nothing has changed" in err


def test_org_load_and_cases_import(cli_env, tmp_path: Path, monkeypatch, capsys) -> None:
    org = tmp_path / "org.yaml"
    org.write_text((REPO / "examples" / "organisation.yaml").read_text())
    agencies = len(yaml.safe_load(org.read_text())["agencies"])
    code, out, err = in_process(monkeypatch, capsys, cli_env, "org", "load", str(org))
    assert code == 0, err
    assert f"Organisation loaded: {agencies} agencies" in out
    cases = tmp_path / "cases.csv"
    cases.write_text("case_ref,practitioner,opened_on\nCSC-3001,U0DEMOPRAC,2026-05-01\nbad,x,y\n")
    code, out, _ = in_process(monkeypatch, capsys, cli_env, "cases", "import", str(cases))
    assert code == 1
    assert "1 new, 0 updated, 1 row left out" in out
    assert "line 3:" in out


def test_db_upgrade_is_idempotent(cli_env, monkeypatch, capsys) -> None:
    for _ in range(2):
        code, out, _ = in_process(monkeypatch, capsys, cli_env, "db", "upgrade")
        assert code == 0
        assert "latest schema" in out


@pytest.mark.parametrize(
    "args", [["demo"], ["history"], ["db", "upgrade"], ["org", "load"], ["cases", "import"]]
)
def test_every_command_has_help(args: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0 and len(capsys.readouterr().out) > 100


def test_unreachable_database_is_a_clear_message(cli_env, monkeypatch, capsys) -> None:
    env = {**cli_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    code, _, err = in_process(monkeypatch, capsys, env, "history", "CSC-1")
    assert code == 2
    assert "Could not reach the database" in err
    assert "Traceback" not in err


def test_demo_on_a_fresh_sqlite_file_creates_a_private_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REFLECT_"))}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        input=b"pause\n",
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr.decode()
    key = tmp_path / "reflect.db.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert str(key) in result.stderr.decode()
