"""`reflect demo` and `reflect history`: a reflection and a case's summaries in the terminal."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bot import casework
from bot.cli.context import administrator, open_db, requests_for
from bot.render import renderer
from bot.settings import Settings
from bot.terminal.conversation import DEMO_PRACTITIONER
from bot.terminal.demo import run_demo
from bot.terminal.dialect import TERMINAL
from bot.terminal.history import show_history


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser(
        "demo",
        help="run a whole reflection in the terminal",
        description="Run a whole reflection in the terminal. Answers are read line by line from "
        "standard input, so they can be piped; if input ends part-way, progress is kept and "
        "running the same command again resumes it.",
    )
    demo.add_argument("--case", default="DEMO-001", help="case reference (default DEMO-001)")
    demo.add_argument(
        "--user",
        default=DEMO_PRACTITIONER,
        help="reflect as this person from the organisation file, with their profession's "
        f"question set (default {DEMO_PRACTITIONER})",
    )
    demo.set_defaults(handler=cmd_demo)

    history = commands.add_parser(
        "history",
        help="print the stored summaries of a case, newest first",
        description="Print the stored summaries of a case, newest first.",
    )
    history.add_argument("case_ref", metavar="CASE-REF")
    history.set_defaults(handler=cmd_history)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    return run_demo(
        requests_for(settings, database),
        renderer(TERMINAL),
        case_ref=args.case,
        practitioner_id=args.user,
        database_url=settings.database_url,
        lines=sys.stdin.buffer,
        out=sys.stdout,
        notes=sys.stderr,
    )


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    database = open_db(settings)
    summaries = casework.administrator_history(
        database.new_session,
        actor=administrator(),
        case_ref=args.case_ref,
        now=datetime.now(UTC),
    )
    show_history(
        renderer(TERMINAL),
        case_ref=args.case_ref.strip().upper(),
        summaries=summaries,
        out=sys.stdout,
    )
    return 0
