"""What every `reflect` subcommand starts from: its settings, the database, who is at the
terminal."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from bot import access
from bot.bootstrap import Database, open_database
from bot.cli.output import print_template
from bot.reflection.service import ReflectionService
from bot.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def open_db(settings: Settings) -> Database:
    database = open_database(settings)
    if database.key_file_created:
        print_template("key_created", stream=sys.stderr, path=database.key_file)
    return database


def service_for(settings: Settings, database: Database) -> ReflectionService:
    return ReflectionService(database.new_session, timezone=settings.timezone)


def administrator() -> str:
    """Who is at the terminal, for the audit trail."""
    try:
        return access.administrator(getpass.getuser())
    except (KeyError, OSError):
        return access.administrator("unknown")
