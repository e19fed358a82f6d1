"""The `reflect` command: its parser, and running the subcommand it names."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from bot.cli import admin, clock, conversation, protection, report, serve, set_aside
from bot.cli.output import print_template
from bot.settings import Settings, SettingsError
from bot.settings import problems as settings_problems
from bot.teams.package import add_teams_command
from storage import health
from storage.encryption import EncryptionKeyError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reflect",
        description="Reflect: structured reflection before a home visit, for child safeguarding "
        "practitioners. Configure with DATABASE_URL (default sqlite:///reflect.db).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    conversation.add_commands(commands)
    serve.add_commands(commands)
    admin.add_commands(commands)
    protection.add_commands(commands)
    set_aside.add_commands(commands)
    report.add_commands(commands)
    clock.add_commands(commands)
    add_teams_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings()
    except ValidationError as refused:
        print_template("settings_refused", stream=sys.stderr, problems=settings_problems(refused))
        return 2
    try:
        return int(args.handler(args, settings))
    except (SettingsError, EncryptionKeyError) as exc:
        print_template("error", stream=sys.stderr, message=str(exc))
        return 2
    except OperationalError as exc:
        # What is wrong, in an operator's terms; never the error's text (it can hold values).
        diagnosis = health.diagnose(exc, health.sqlite_file(settings.database_url))
        fault = diagnosis.fault if diagnosis else health.Fault.UNREACHABLE
        detail = diagnosis.detail if diagnosis else health.UNREACHABLE_DETAIL
        print_template("database_error", stream=sys.stderr, fault=fault, detail=detail)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `reflect history X | head`); stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
