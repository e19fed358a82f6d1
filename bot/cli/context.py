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
from bot.requests import Requests
from bot.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def open_db(settings: Settings) -> Database:
    database = open_database(settings)
    if database.key_file_created:
        print_template("key_created", stream=sys.stderr, path=database.key_file)
    return database


def requests_for(settings: Settings, database: Database) -> Requests:
    """The request path for the terminal: replies are shown, not sent."""
    return Requests(database.new_session, timezone=settings.timezone, records=False)


def administrator() -> str:
    """Who is at the terminal, for the audit trail."""
    try:
        return access.administrator(getpass.getuser())
    except (KeyError, OSError):
        return access.administrator("unknown")
