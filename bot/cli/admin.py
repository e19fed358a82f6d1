"""`reflect db`, `reflect org` and `reflect cases`: the database, the organisation and the
open cases."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.admin.cases_import import BATCH_ROWS, CasesFileError, ImportInterrupted, import_cases
from bot.admin.organisation import (
    OrganisationFileError,
    UnreadableOrganisationFile,
    load_organisation,
)
from bot.bootstrap import open_database
from bot.cli.context import open_db, requests_for
from bot.cli.output import print_template
from bot.settings import Settings
from storage import db

log = logging.getLogger("reflect")


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    database = commands.add_parser("db", help="database administration")
    db_commands = database.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply Alembic migrations up to the latest schema",
        description="Apply Alembic migrations up to the latest schema (the release step).",
    )
    upgrade.set_defaults(handler=cmd_db_upgrade)

    org = commands.add_parser("org", help="the organisation: agencies, leads, people")
    org_commands = org.add_subparsers(dest="org_command", metavar="ACTION", required=True)
    load = org_commands.add_parser(
        "load",
        help="replace the organisation from a YAML file",
        description="Replace the organisation (agencies, safeguarding leads, people and "
        "supervisors) from a YAML file, in one transaction. A file with any problem is refused "
        "with the line and field at fault, and nothing changes.",
    )
    load.add_argument("file", type=Path, metavar="FILE.yaml")
    load.set_defaults(handler=cmd_org_load)

    cases = commands.add_parser("cases", help="the list of open cases")
    case_commands = cases.add_subparsers(dest="cases_command", metavar="ACTION", required=True)
    imp = case_commands.add_parser(
        "import",
        help="add or update cases from a CSV file",
        description="Add or update cases from a CSV file with the columns "
        "case_ref,practitioner,opened_on (and optionally closed_on). practitioner is a Slack "
        "user ID or an e-mail address; dates are ISO (2026-09-01). Bad rows are reported by "
        "line; good rows are imported.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.set_defaults(handler=cmd_cases_import)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    database = open_database(settings, migrate=False)
    db.upgrade(database.engine)
    print_template("db_upgraded", revision=db.current_revision(database.engine))
    return 0


def cmd_org_load(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 2 if the file cannot be read as an organisation file, 1 if entries are wrong."""
    database = open_db(settings)
    try:
        result = load_organisation(args.file, database.new_session)
    except UnreadableOrganisationFile as exc:
        print_template("org_unreadable", stream=sys.stderr, path=args.file, problems=exc.problems)
        return 2
    except OrganisationFileError as exc:
        print_template("org_refused", stream=sys.stderr, path=args.file, problems=exc.problems)
        return 1
    print_template("org_loaded", agencies=result.agencies, people=result.people, leads=result.leads)
    return 0


def cmd_cases_import(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 2 if the file cannot be imported at all or the database failed part-way, 1 if
    rows were left out, 130 if stopped with Ctrl-C (part-way: what was written stays)."""
    database = open_db(settings)
    service = requests_for(settings, database).service
    try:
        result = import_cases(
            args.file, database.new_session, today=service.today(), now=service.now
        )
    except CasesFileError as exc:
        print_template("cases_refused", stream=sys.stderr, path=args.file, reason=str(exc))
        return 2
    except ImportInterrupted as stop:
        print_template(
            "cases_interrupted",
            stream=sys.stderr,
            path=args.file,
            result=stop.done,
            total=stop.total,
            batch=BATCH_ROWS,
        )
        if isinstance(stop.__cause__, KeyboardInterrupt):
            return 130
        log.warning("cases import stopped by a database error: %s", stop.__cause__)
        return 2
    print_template("cases_imported", created=result.created, updated=result.updated, bad=result.bad)
    return 1 if result.bad else 0
